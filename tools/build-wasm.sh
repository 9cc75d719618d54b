#!/usr/bin/env bash
# Builds the clickscript's wasm packages with the settings in wasm-pack.toml: the clickscript in
# out_dir, and the triggers extension in out_dir/triggers (for campaigns that bind triggers).
set -euo pipefail
cd "$(dirname "$0")/.."
setting() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" wasm-pack.toml; }
target=$(setting target)
out_dir=$(setting out_dir)
passes=$(setting wasm_opt)
profile=${1:---release}
terser=node_modules/.bin/terser

# package DIR [cargo features...]: wasm-pack, then wasm-opt, trimmed and minified glue, short names.
package() {
  local dir=$1
  shift
  wasm-pack --quiet build "$profile" --target "$target" --out-dir "$dir" --out-name clickscript --no-pack -- "$@"
  if [ "$profile" = --release ]; then
    # shellcheck disable=SC2086
    node_modules/.bin/wasm-opt $passes "$dir/clickscript_bg.wasm" -o "$dir/clickscript_bg.wasm"
  fi
  node tools/trim-glue.mjs "$dir"
  # wasm-bindgen's JS glue is readable, not small: minified it is 2 KB gzip lighter.
  "$terser" "$dir/clickscript.js" --module -c passes=2 -m -o "$dir/clickscript.js"
  if [ "$profile" = --release ]; then
    # shellcheck disable=SC2046
    node tools/short-names.mjs "$dir" $(grep -o -- '--enable-[a-z-]*' <<<"$passes")
  fi
}
package "$out_dir"
package "$out_dir/triggers" --features triggers

# The loader and the fallback, minified; the loader's configuration placeholder is kept (and
# reduce_vars/evaluate are off so that terser cannot fold the placeholder's null into the code).
"$terser" www/clickscript.js -c reduce_vars=false,evaluate=false,passes=2 -m --comments '/PT_CONFIG/' -o "$out_dir/loader.js"
"$terser" www/fallback.js -c passes=2 -m -o "$out_dir/fallback.js"
cp www/clickscript.d.ts "$out_dir/pt.d.ts"  # the types of window.PT ship with the package
grep -qF '/*PT_CONFIG*/null' "$out_dir/loader.js" || { echo "loader.js lost its configuration placeholder" >&2; exit 1; }
node tools/precompress.mjs "$out_dir"  # the collector serves these .gz/.br as they are
ls -l "$out_dir"/loader.js "$out_dir"/clickscript.js "$out_dir"/clickscript_bg.wasm "$out_dir"/triggers/clickscript.js "$out_dir"/triggers/clickscript_bg.wasm "$out_dir"/fallback.js | awk '{print $5, $9}'
