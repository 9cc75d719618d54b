//! The pure core of Clickscript: configuration, event model, wire format, identity rules,
//! attribution, the outbox with its retry policy and the trigger model. No I/O and no web-sys, so
//! all of it is tested natively with `cargo test`. The clickscript, the triggers extension and
//! the collector all build on these types, so they cannot disagree on a field.
#![deny(missing_docs)]

pub mod attribution;
pub mod capture;
pub mod config;
pub mod consent;
pub mod decimal;
pub mod delivery;
pub mod event;
pub mod frame;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod offer;
pub mod outbox;
pub mod props;
pub mod text;
pub mod trigger;
pub mod wire;
