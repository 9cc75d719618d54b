//! Clickscript: creates the lead (a transaction), captures its events and delivers each to the
//! collector exactly once. This crate is the wasm module behind `window.PT`.
//!
//! The rules live in `clickscript-core` (plain Rust, tested natively, shared with the collector),
//! the Web APIs behind `clickscript-web`'s thin adapters; here are the tracker, which carries out
//! what the core's delivery decides, and the `#[wasm_bindgen]` surface (`api`). The campaign's
//! triggers are a separate wasm module (`clickscript-triggers`) loaded after the first event.
#![deny(missing_docs)]

pub mod api;
pub mod tracker;
