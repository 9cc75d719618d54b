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
