//! The `#[wasm_bindgen]` surface behind `window.PT`. The loader wraps every call in try/catch as
//! well, but nothing here throws: errors are logged in debug mode and the call carries on.

use crate::prelude::*;

use wasm_bindgen::prelude::*;

use crate::core::trigger::Binding;
#[cfg(feature = "triggers")]
use crate::core::trigger::Trigger;
use crate::web::callbacks::{listen, On};
use crate::web::console::{error, set_debug};
use crate::web::globals::{Document, Element};
use crate::web::tracker::with;
use crate::web::tracker::{self, Tracker};

#[wasm_bindgen(typescript_custom_section)]
const TS: &str = r#"
/** Free data of an event; `revenue` is the event's revenue. Values are strings, numbers or booleans. */
export type EventProps = { revenue?: number; [field: string]: string | number | boolean | undefined };
/** What `PT.click` registers, as the platform's click script takes it. */
export interface ClickOptions {
  pid?: string | number; cid?: string; source_id?: string | number;
  subids?: Record<string, string | number> | Array<string | number>;
  transaction_id?: string; parameters?: Record<string, string | number>;
}
"#;

/// Starts the clickscript on this page with the campaign's configuration (a plain object) and
/// the visitor's time zone when the loader looked it up. Returns whether it started; a second
/// call (a second copy of the tag) does nothing.
#[wasm_bindgen]
pub fn start(config: JsValue, debug: bool, time_zone: JsValue) -> bool {
    set_debug(debug);
    if let Some(tz) = time_zone.as_string().filter(|tz| !tz.is_empty()) {
        crate::web::page::set_time_zone(tz);
    }
    if tracker::started() {
        return false;
    }
    // The collector validates every configuration it serves (core::config::Config::validate);
    // here the fields are read with their types checked, and a wrong one is named. Validating
    // again in the browser cost 1.4 KB gzip of the first download.
    let cfg = match crate::web::config::read(&config) {
        Ok(c) => c,
        Err(e) => {
            error("invalid configuration, not started", &e.0.into());
            return false;
        }
    };
    let bindings = bindings(&config, &cfg);
    Tracker::start(cfg, bindings);
    install_page_listeners();
    with(|t| t.fire_page_load());
    #[cfg(feature = "triggers")]
    if let Some(bindings) = with(|t| t.bindings()) {
        crate::web::triggers::install(bindings);
    }
    tracker::drain();
    true
}

/// The campaign's bindings this browser can run; the bad ones are named in debug mode.
#[cfg(feature = "triggers")]
fn bindings(config: &JsValue, cfg: &crate::core::config::Config) -> Vec<Binding> {
    let (bindings, problems) = crate::web::config::read_bindings(config, cfg);
    for p in &problems {
        error("binding left out", &p.0.as_str().into());
    }
    usable_in_this_browser(bindings)
}

/// The package without triggers (served to campaigns that bind none) runs no bindings.
#[cfg(not(feature = "triggers"))]
fn bindings(config: &JsValue, _: &crate::core::config::Config) -> Vec<Binding> {
    let list = crate::web::globals::get(config, "bindings");
    if crate::web::globals::get(&list, "length")
        .as_f64()
        .unwrap_or(0.0)
        > 0.0
    {
        error("bindings left out: this package has no triggers", &list);
    }
    Vec::new()
}

/// `PT.event(eventId, props?)`: fires a configured event. `url` and `ts` carry the context of a
/// call queued before load. Returns whether the event was accepted for delivery.
#[wasm_bindgen]
pub fn event(event_id: JsValue, props: JsValue, url: Option<String>, ts: Option<f64>) -> bool {
    let Some(id) = event_id.as_string() else {
        error("PT.event: the event ID must be a string", &event_id);
        return false;
    };
    let fired = with(|t| t.fire(&id, &props, url, ts)).unwrap_or(false);
    if fired {
        tracker::drain();
    }
    fired
}

/// `PT.click({pid, cid, subids, source_id, transaction_id, parameters})`: registers a click and
/// returns the transaction ID, which the loader's promise for the call resolves to.
#[wasm_bindgen]
pub fn click(opts: JsValue, url: Option<String>, ts: Option<f64>) -> Option<String> {
    let txn = with(|t| {
        t.click(&opts, url, ts);
        t.transaction_id().to_owned()
    });
    tracker::drain();
    txn
}

/// `PT.flush()`: resolves `true` when the outbox is empty, `false` when an attempt failed.
#[wasm_bindgen]
pub fn flush() -> js_sys::Promise {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let resolve: crate::web::globals::Resolve = resolve.clone().unchecked_into();
        if with(|t| t.wait_for_flush(resolve.clone())).is_none() {
            resolve.call(&JsValue::NULL, false);
        }
    });
    tracker::drain();
    promise
}

/// `PT.transactionId()`.
#[wasm_bindgen(js_name = transactionId)]
pub fn transaction_id() -> Option<String> {
    with(|t| t.transaction_id().to_owned())
}

/// Keeps the bindings whose selectors this browser accepts; names the others in debug mode.
#[cfg(feature = "triggers")]
fn usable_in_this_browser(bindings: Vec<Binding>) -> Vec<Binding> {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return bindings;
    };
    bindings
        .into_iter()
        .filter(|b| {
            let selector = match &b.trigger {
                Trigger::Click { selector }
                | Trigger::Submit { selector, .. }
                | Trigger::FieldCompleted { selector }
                | Trigger::Seen { selector } => selector,
                _ => return true,
            };
            // querySelector throws a SyntaxError for a selector the browser cannot parse.
            let ok = document.query_selector(selector).is_ok();
            if !ok {
                error(
                    "binding left out: the browser refuses its selector",
                    &selector.as_str().into(),
                );
            }
            ok
        })
        .collect()
}

/// Page-lifetime listeners: they live as long as the page, so they are `forget()`-ed.
fn install_page_listeners() {
    listen(On::Window, "pagehide", false, |_| {
        with(|t| t.on_hide(true));
    });
    listen(On::Document, "visibilitychange", false, |_| {
        if Document::visibility_state() == "hidden" {
            with(|t| t.on_hide(false));
        }
    });
    // Another tab of this origin went away: adopt what it could not deliver.
    listen(On::Window, "storage", false, |e| {
        let gone = e.key().is_some_and(|k| k.starts_with("pt_hb_"))
            && e.new_value().as_deref() == Some("0");
        if gone {
            with(|t| t.adopt_orphans());
            tracker::drain();
        }
    });
    // Marketers' `data-pt-event` tags: one capture-phase listener per DOM event type on the
    // document, walking up to the tagged element, instead of a listener per element.
    for (kind, selector) in [
        ("click", "[data-pt-event]:not(form)"),
        ("submit", "form[data-pt-event]"),
    ] {
        listen(On::Document, kind, true, move |e| {
            let Ok(target) = e.target().dyn_into::<Element>() else {
                return;
            };
            let tagged = target.closest(selector);
            if let Some(id) = tagged.and_then(|el| el.get_attribute("data-pt-event")) {
                event(id.into(), JsValue::UNDEFINED, None, None);
            }
            #[cfg(feature = "triggers")]
            if kind == "click" {
                with(|t| t.on_click(target.unchecked_ref()));
            } else {
                with(|t| t.on_submit(target.unchecked_ref()));
            }
            tracker::drain();
        });
    }
    // pageshow after the back/forward cache: the page is alive again.
    listen(On::Window, "pageshow", false, |_| {
        with(|t| t.revive());
        tracker::drain();
    });
}
