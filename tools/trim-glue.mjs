// Trims wasm-bindgen's JS glue to what the loader uses, before it is minified: the loader hands
// `default` fetch's promise of the wasm, which the collector serves as `application/wasm`, so
// the glue's other ways in (`initSync`, a URL or bytes, deprecated arguments, a fallback for a
// wrong MIME type with its long warning) and its `encodeInto` polyfill (every browser with
// WebAssembly reference types has encodeInto) are dead code a page downloaded: 0.6 KB gzip.
// It also guards the import through which gloo-net calls the page's fetch (it has no catch).
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
// gloo-net calls the page's global `fetch` through an import that does not catch: a page whose
// fetch throws, or returns something other than a promise of a Response, would throw through the
// wasm into the page (and gloo-net panics on a value that is not a Response). The import is made
// to always return a promise of a Response, rejected otherwise, which reads as a network error
// (the batch then goes once by beacon, and fetch is retried).
const fetchImport = /(__wbg_fetch_[0-9a-f]+: function\(arg0\) \{\n\s*)const ret = fetch\(arg0\);\n/g;
const fetches = (js.match(fetchImport) || []).length;
if (js.includes('__wbg_fetch_') && fetches !== 1) fail('the fetch import is not the one this script knows');
// wasm-bindgen calls the global `Number` in imports without a catch (serde-wasm-bindgen's
// values carried into a batch go through one, with the tracker borrowed): the one the glue
// loaded with is called instead, so a page that replaces `Number` later cannot throw through the
// wasm.
const numberCall = /(?<![\w$.])Number\(/g;
if (numberCall.test(js)) js = 'const __wbg_Number = Number;\n' + js.replace(numberCall, '__wbg_Number(');
// The Response class as the glue loaded (a page may replace window.Response later).
if (fetches) js = 'const __wbg_Response = Response;\n' + js;
js = js.replace(fetchImport, `$1let ret;
            try { ret = Promise.resolve(fetch(arg0)).then((r) => r instanceof __wbg_Response ? r : Promise.reject(new TypeError('fetch gave no Response'))); }
            catch (e) { ret = Promise.reject(e); }
`);
writeFileSync(glue, js);
