#!/usr/bin/env bash
# Builds a release wasm with its function names kept and optimized like the real build, for
# `twiggy top|paths|dominators /tmp/clickscript-names/clickscript_bg.wasm`. The argument names the
# crate: `tools/wasm-names.sh clickscript-triggers` for the triggers extension.
set -euo pipefail
cd "$(dirname "$0")/.."
crate=${1:-clickscript}
passes=$(sed -n 's/^wasm_opt *= *"\(.*\)"$/\1/p' wasm-pack.toml | sed 's/--strip-debug//')
tools/wasm-cargo.sh "$crate"
out=/tmp/clickscript-names
wasm-bindgen --keep-debug --target web --out-dir "$out" --out-name clickscript "target/wasm32-unknown-unknown/wasm/${crate//-/_}.wasm"
# shellcheck disable=SC2086
node_modules/.bin/wasm-opt $passes -g "$out/clickscript_bg.wasm" -o "$out/clickscript_bg.wasm"
echo "$out/clickscript_bg.wasm"
