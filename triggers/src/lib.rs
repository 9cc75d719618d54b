//! The triggers extension (`pkg/triggers`): the campaign's bindings (page load, click, submit,
//! scroll, engaged, seen, field completed, routes) and the forms' lead capture (the fields of a
//! form tagged `data-pt-event` or bound to a submit) in a wasm module of its own. The loader starts
//! it after the clickscript has started and sent the first event, so that no page waits for its
//! code before its first event. It hands each firing to the clickscript's `fire`: the two are
//! separate wasm modules, and the lead, the outbox and delivery stay in the clickscript.
#![deny(missing_docs)]

mod consent;
mod engagement;
mod forms;
mod offers;
mod triggers;

use wasm_bindgen::prelude::*;

use clickscript_web::console::{error, set_debug};
use clickscript_web::globals::{set, Window};

/// Starts the campaign's triggers with its configuration (the one the clickscript started with)
/// and the clickscript's `fire(eventId, data)`. Returns whether they started; the bindings the
/// browser cannot run are left out and named in debug mode. Sets `PT.triggers` once installed.
#[wasm_bindgen]
pub fn start(config: JsValue, debug: bool, fire: js_sys::Function) -> bool {
    set_debug(debug);
    let cfg = match clickscript_web::config::read(&config) {
        Ok(c) => c,
        Err(e) => {
            error("invalid configuration, triggers not started", &e.0.into());
            return false;
        }
    };
    let (bindings, problems) = clickscript_web::config::read_bindings(&config, &cfg);
    for p in &problems {
        error("binding left out", &p.0.as_str().into());
    }
    match clickscript_web::config::read_capture(&config) {
        Ok(rules) => forms::set_rules(rules),
        // Without the campaign's own exclusions no form may send anything: the secrets rules
        // alone would let an excluded field through.
        Err(e) => {
            error("invalid capture rules, forms send no fields", &e.0.into());
            forms::set_rules_unreadable();
        }
    }
    let bindings = crate::triggers::usable_in_this_browser(bindings);
    // Base Call Sold on tel: links, unless a binding this browser runs fires it.
    let call_sold = &cfg.system.call_sold;
    let default_call = !bindings.iter().any(|b| b.event == *call_sold);
    let started = crate::triggers::install(fire, bindings);
    if started {
        match clickscript_web::config::read_offers(&config) {
            Ok(rules) => offers::install(rules, default_call.then(|| call_sold.clone())),
            Err(e) => error(
                "invalid offer rules, offer links left as they are",
                &e.0.into(),
            ),
        }
        set(&Window::pt(), "triggers", &JsValue::TRUE);
    }
    started
}

/// `PT.ready()`'s wait in the extension: calls `done` once the certificate fields on the page
/// (TrustedForm's, Jornaya's) are filled, or after the certificate wait (3 s). The loader resolves
/// `PT.ready()`'s promise with the transaction ID then.
#[wasm_bindgen]
pub fn ready(done: js_sys::Function) {
    forms::when_certified(done);
}
