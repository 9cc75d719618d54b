// Gives the wasm's imports and exports one- or two-letter names, in the wasm and in its JS glue.
// wasm-bindgen names each import `__wbg_{name}_{16 hex digits}`: about 110 of them, written
// twice (wasm and glue), are some 3 KB gzip of random text that a page downloads for nothing.
//
// Usage: node tools/short-names.mjs PKG_DIR WASM_OPT_FEATURE_FLAGS...
// binaryen's `--minify-imports-and-exports-and-modules` renames them in the wasm and prints the
// mapping; this script then renames the same names in the glue and checks that none is left.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [pkg, ...features] = process.argv.slice(2);
const wasm = join(pkg, 'clickscript_bg.wasm');
const glue = join(pkg, 'clickscript.js');
const out = execFileSync(
  'node_modules/.bin/wasm-opt',
  [...features, '--minify-imports-and-exports-and-modules', wasm, '-o', wasm],
  { encoding: 'utf8' },
);
const map = JSON.parse(out.slice(out.indexOf('{')));
const module = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasm)))[0].module;

let js = readFileSync(glue, 'utf8');
const fail = (why) => {
  console.error(`short-names: ${why}`);
  process.exit(1);
};
const replace = (pattern, to, what) => {
  const before = js;
  js = js.replace(pattern, to);
  if (js === before) fail(`${what} not found in the glue`);
};
const escape = (s) => s.replace(/[$.]/g, '\\$&');
const modules = new Set(map.imports.map(([m]) => m));
for (const m of modules) replace(new RegExp(`(["'])${escape(m)}\\1`, 'g'), `"${module}"`, `module ${m}`);
for (const [, from, to] of map.imports) {
  // Each import is a key of the imports object: `name:function(` or `name:` a value.
  replace(new RegExp(`(?<![\\w$])${escape(from)}(?=:)`, 'g'), to, `import ${from}`);
}
// Exports the glue does not use (wasm-bindgen's abort hooks) are only renamed in the wasm.
for (const [from, to] of map.exports) {
  js = js.replace(new RegExp(`(?<=\\.)${escape(from)}(?![\\w$])`, 'g'), to);
}
for (const [, from] of map.imports) if (js.includes(from)) fail(`import ${from} is still in the glue`);
for (const [from] of map.exports) {
  if (new RegExp(`\\.${escape(from)}(?![\\w$])`).test(js)) fail(`export ${from} is still in the glue`);
}
writeFileSync(glue, js);
