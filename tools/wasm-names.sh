#!/usr/bin/env bash
# Builds the release wasm with its function names kept and optimized like the real build, for
# `twiggy top|paths|dominators /tmp/clickscript-names/clickscript_bg.wasm`. Arguments go to cargo:
# `tools/wasm-names.sh --features triggers` builds the triggers extension.
set -euo pipefail
cd "$(dirname "$0")/.."
passes=$(sed -n 's/^wasm_opt *= *"\(.*\)"$/\1/p' wasm-pack.toml | sed 's/--strip-debug//')
cargo build --quiet --release --target wasm32-unknown-unknown "$@"
out=/tmp/clickscript-names
wasm-bindgen --keep-debug --target web --out-dir "$out" target/wasm32-unknown-unknown/release/clickscript.wasm
# shellcheck disable=SC2086
node_modules/.bin/wasm-opt $passes -g "$out/clickscript_bg.wasm" -o "$out/clickscript_bg.wasm"
echo "$out/clickscript_bg.wasm"
