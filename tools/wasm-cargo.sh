#!/usr/bin/env bash
# Builds one wasm crate with the workspace's `wasm` profile and std rebuilt for size:
#   tools/wasm-cargo.sh CRATE   (prints nothing; the wasm is target/wasm32-unknown-unknown/wasm/)
# std is rebuilt (-Z build-std, which needs the pinned toolchain's rust-src) so that a panic is an
# immediate trap: no panic hook, payload or message formatting, and no file/line strings.
# Measured on the first download: 49,766 -> 45,686 B gzip (-4.1 KB); the triggers extension
# 21,724 -> 18,861 B. The wasm's behaviour on a panic is unchanged (a trap, which the loader
# catches as before).
# RUSTC_BOOTSTRAP lets the pinned stable compiler take these unstable flags. The RUSTFLAGS reach
# the wasm target only; RUSTC_BOOTSTRAP reaches build scripts too (proc-macro2's then turns on its
# unstable span API), which the pinned toolchain builds; a toolchain change must build this anew.
# A RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS of the environment would silently replace the target's
# flags (and the size test would fail for no visible reason): they are cleared here.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
  cargo build --quiet --profile wasm --target wasm32-unknown-unknown -p "$1" \
  -Z build-std=std,panic_abort
