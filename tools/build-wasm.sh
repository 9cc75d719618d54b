#!/usr/bin/env bash
# Builds the wasm packages with the settings in wasm-pack.toml: the clickscript (crate
# `clickscript`) in out_dir, and the triggers extension (crate `clickscript-triggers`) in
# out_dir/triggers, for campaigns that bind triggers. Each is what `wasm-pack build` does (cargo,
# then wasm-bindgen) with the workspace's `wasm` profile (size, abort), which wasm-pack cannot
# select, then wasm-opt, the trimmed and minified glue and short import names.
#   tools/build-wasm.sh [--dev]   (--dev: the dev profile, no wasm-opt, for debugging)
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(package ...) stops the build too
cd "$(dirname "$0")/.."
setting() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" wasm-pack.toml; }
target=$(setting target)
out_dir=$(setting out_dir)
passes=$(setting wasm_opt)
profile=wasm
[ "${1:-}" = --dev ] && profile=dev
terser=node_modules/.bin/terser

# package DIR CRATE: builds the package and prints its content-hashed name.
package() {
  local dir=$1 crate=$2
  {
    if [ "$profile" = wasm ]; then tools/wasm-cargo.sh "$crate"
    else cargo build --quiet --target wasm32-unknown-unknown -p "$crate"; fi
    local built=target/wasm32-unknown-unknown/$([ "$profile" = dev ] && echo debug || echo "$profile")/${crate//-/_}.wasm
    mkdir -p "$dir" && rm -f "$dir"/clickscript*
    wasm-bindgen --target "$target" --no-typescript --out-dir "$dir" --out-name clickscript "$built"
    if [ "$profile" = wasm ]; then
      # shellcheck disable=SC2086
      node_modules/.bin/wasm-opt $passes "$dir/clickscript_bg.wasm" -o "$dir/clickscript_bg.wasm"
    fi
    node tools/trim-glue.mjs "$dir"
    # wasm-bindgen's JS glue is readable, not small: minified it is 2 KB gzip lighter.
    "$terser" "$dir/clickscript.js" --module -c passes=2 -m -o "$dir/clickscript.js"
    if [ "$profile" = wasm ]; then
      # shellcheck disable=SC2046
      node tools/short-names.mjs "$dir" $(grep -o -- '--enable-[a-z-]*' <<<"$passes")
    fi
  } >&2
  # Content-hashed names: a page never pairs a new glue with an old wasm during a deploy, and the
  # collector serves them immutable.
  local hash
  hash=$(cat "$dir/clickscript.js" "$dir/clickscript_bg.wasm" | sha256sum | cut -c1-12)
  mv "$dir/clickscript.js" "$dir/clickscript-$hash.js"
  mv "$dir/clickscript_bg.wasm" "$dir/clickscript-${hash}_bg.wasm"
  echo "clickscript-$hash"
}
pkg=$(package "$out_dir" clickscript)
ext=$(package "$out_dir/triggers" clickscript-triggers)
# The collector names the current packages in the configuration it serves.
printf '{"pkg":"/pkg/%s","ext":"/pkg/triggers/%s"}\n' "$pkg" "$ext" > "$out_dir/packages.json"

# The loader and the fallback, minified; the loader's configuration placeholder is kept (and
# reduce_vars/evaluate are off so that terser cannot fold the placeholder's null into the code).
"$terser" www/clickscript.js -c reduce_vars=false,evaluate=false,passes=2 -m --comments '/PT_CONFIG/' -o "$out_dir/loader.js"
"$terser" www/fallback.js -c passes=2 -m -o "$out_dir/fallback.js"
cp www/clickscript.d.ts "$out_dir/pt.d.ts"  # the types of window.PT ship with the package
grep -qF '/*PT_CONFIG*/null' "$out_dir/loader.js" || { echo "loader.js lost its configuration placeholder" >&2; exit 1; }
node tools/precompress.mjs "$out_dir"  # the collector serves these .gz/.br as they are
ls -l "$out_dir"/loader.js "$out_dir/$pkg".js "$out_dir/${pkg}"_bg.wasm "$out_dir/triggers/$ext".js "$out_dir/triggers/${ext}"_bg.wasm "$out_dir"/fallback.js | awk '{print $5, $9}'
