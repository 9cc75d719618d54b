#!/usr/bin/env bash
# Builds the clickscript's wasm package with the settings in wasm-pack.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
setting() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" wasm-pack.toml; }
target=$(setting target)
out_dir=$(setting out_dir)
passes=$(setting wasm_opt)
profile=${1:---release}
wasm-pack --quiet build "$profile" --target "$target" --out-dir "$out_dir" --out-name clickscript --no-pack
if [ "$profile" = --release ]; then
  # shellcheck disable=SC2086
  node_modules/.bin/wasm-opt $passes "$out_dir/clickscript_bg.wasm" -o "$out_dir/clickscript_bg.wasm"
fi
ls -l "$out_dir"/clickscript_bg.wasm "$out_dir"/clickscript.js | awk '{print $5, $9}'
