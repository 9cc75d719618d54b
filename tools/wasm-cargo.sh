#!/usr/bin/env bash
# Builds one wasm crate with the workspace's `wasm` profile and std rebuilt for size:
#   tools/wasm-cargo.sh CRATE   (prints nothing; the wasm is target/wasm32-unknown-unknown/wasm/)
# std is rebuilt (-Z build-std, which needs the pinned toolchain's rust-src) so that a panic is an
# immediate trap: no panic hook, payload or message formatting, and no file/line strings.
# Measured on the clickscript: 47,352 -> 44,120 B gzip (-3.2 KB), triggers 21,241 -> 18,457 B.
# The wasm's behaviour on a panic is unchanged (a trap, which the loader catches as before).
# RUSTC_BOOTSTRAP lets the pinned stable compiler take these unstable flags; the flags reach the
# wasm target only (build scripts and proc macros build without them).
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
  cargo build --quiet --profile wasm --target wasm32-unknown-unknown -p "$1" \
  -Z build-std=std,panic_abort
