//! The `#[wasm_bindgen]` surface of the triggers extension (`pkg/triggers`, cargo feature
//! `triggers`). The loader starts it for campaigns that bind triggers, after the clickscript has
//! started and sent the first event, so that no page waits for the triggers' code (19 KB gzip
//! with its own runtime) before its first event. It runs the bindings and hands each firing to
//! the clickscript's `fire`: the two are separate wasm modules, and the lead, the outbox and
//! delivery stay in the clickscript.

use wasm_bindgen::prelude::*;

use crate::web::console::{error, set_debug};
use crate::web::globals::{set, Window};

/// Starts the campaign's triggers with its configuration (the one the clickscript started with)
/// and the clickscript's `fire(eventId, data)`. Returns whether they started; the bindings the
/// browser cannot run are left out and named in debug mode. Sets `PT.triggers` once installed.
#[wasm_bindgen]
pub fn start(config: JsValue, debug: bool, fire: js_sys::Function) -> bool {
    set_debug(debug);
    let cfg = match crate::web::config::read(&config) {
        Ok(c) => c,
        Err(e) => {
            error("invalid configuration, triggers not started", &e.0.into());
            return false;
        }
    };
    let (bindings, problems) = crate::web::config::read_bindings(&config, &cfg);
    for p in &problems {
        error("binding left out", &p.0.as_str().into());
    }
    let bindings = crate::web::triggers::usable_in_this_browser(bindings);
    let started = crate::web::triggers::install(fire, bindings);
    if started {
        set(&Window::pt(), "triggers", &JsValue::TRUE);
    }
    started
}
