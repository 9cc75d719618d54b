//! Clickscript: creates the lead (a transaction), captures its events and delivers each to the
//! collector exactly once.
//!
//! `core` is plain Rust, shared with the collector and tested natively; `web` holds the thin
//! browser adapters and `api` the `#[wasm_bindgen]` surface (`PT.*`), both built for wasm32 only.
//! `extension` is the surface of the triggers extension, built from the same crate.
//!
//! The browser build is `no_std` (`alloc` only), with a panic handler that aborts: std's panic
//! machinery formats every panic message, which kept some 5 KB gzip of formatting code in the
//! wasm. So the wasm depends only on crates that build without std (wasm-bindgen, js-sys,
//! web-sys, serde without std, uuid, lol_alloc); natively it is ordinary std.
#![cfg_attr(all(target_arch = "wasm32", not(test)), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod core;

/// What std's prelude would bring, for the `no_std` browser build.
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
}

// Two wasm builds of this crate: the clickscript (`pkg/`), and with the `triggers` feature the
// triggers extension (`pkg/triggers/`), each with its own `#[wasm_bindgen]` surface.
#[cfg(all(target_arch = "wasm32", not(feature = "triggers")))]
mod api;
#[cfg(all(target_arch = "wasm32", feature = "triggers"))]
mod extension;
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

/// The browser build's panic handler: none of the clickscript's code paths panics by design, so
/// a panic is a bug; it is named in debug mode (without the message: formatting it is what this
/// handler saves), the call traps, the loader's `try` catches it, and the page carries on.
/// Without the `panic-handler` feature (the wasm test suites, which link std) std's is used.
#[cfg(all(target_arch = "wasm32", not(test), feature = "panic-handler"))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    web::console::error(
        "internal error (a bug in the clickscript): the call was abandoned",
        &wasm_bindgen::JsValue::UNDEFINED,
    );
    ::core::arch::wasm32::unreachable()
}
