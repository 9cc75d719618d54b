//! Clickscript: creates the lead (a transaction), captures its events and delivers each to the
//! collector exactly once.
//!
//! `core` is plain Rust, shared with the collector and tested natively; `web` holds the thin
//! browser adapters and `api` the `#[wasm_bindgen]` surface (`PT.*`), both built for wasm32 only.
#![deny(missing_docs)]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// A sorted, coalescing free list instead of std's dlmalloc: 3.3 KB gzip less wasm. The
/// clickscript allocates little (small strings, one outbox) and on one thread, so a free list's
/// O(blocks) search costs nothing measurable here (see tools/bench-triggers.mjs).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without threads: the page's one thread is the only caller.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
