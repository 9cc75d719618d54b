// Trims wasm-bindgen's JS glue to what the loader uses, before it is minified: the loader hands
// `default` fetch's promise of the wasm, which the collector serves as `application/wasm`, so
// the glue's other ways in (`initSync`, a URL or bytes, deprecated arguments, a fallback for a
// wrong MIME type with its long warning) and its `encodeInto` polyfill (every browser with
// WebAssembly reference types has encodeInto) are dead code a page downloaded: 0.6 KB gzip.
// Written for the wasm-bindgen version Cargo.toml pins; it fails loudly if the glue changed.
//
// Usage: node tools/trim-glue.mjs PKG_DIR
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const glue = join(process.argv[2], 'clickscript.js');
let js = readFileSync(glue, 'utf8');
const fail = (why) => {
  console.error(`trim-glue: ${why}`);
  process.exit(1);
};
const start = js.indexOf('async function __wbg_load(');
if (start < 0 || !js.endsWith('export { initSync, __wbg_init as default };\n')) {
  fail('the initialization code is not the one this script knows');
}
js = js.slice(0, start) + `async function __wbg_init(response) {
    const { instance, module } = await WebAssembly.instantiateStreaming(response, __wbg_get_imports());
    return __wbg_finalize_init(instance, module);
}
export { __wbg_init as default };
`;
const polyfill = /\nif \(!\('encodeInto' in cachedTextEncoder\)\) \{\n[\s\S]*?\n\}\n/;
if (!polyfill.test(js)) fail('the encodeInto polyfill is not the one this script knows');
js = js.replace(polyfill, '\n');
writeFileSync(glue, js);
