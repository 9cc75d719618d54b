//! The pure core: configuration, event model, wire format, identity rules, attribution and the
//! outbox with its retry policy. No web-sys here, so all of it is tested with `cargo test`.

pub mod attribution;
pub mod config;
pub mod decimal;
pub mod event;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod outbox;
pub mod text;
pub mod trigger;
pub mod wire;
