//! The `#[wasm_bindgen]` surface behind `window.PT`. The loader wraps every call in try/catch as
//! well, but nothing here throws: errors are logged in debug mode and the call carries on.

use wasm_bindgen::prelude::*;

use crate::tracker::with;
use crate::tracker::{self, Tracker};
use clickscript_web::callbacks::{listen, On};
use clickscript_web::console::{error, set_debug};
use clickscript_web::globals::{Document, Element};

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
        clickscript_web::page::set_time_zone(tz);
    }
    if tracker::started() {
        return false;
    }
    // The collector validates every configuration it serves (core::config::Config::validate);
    // here the fields are read with their types checked, and a wrong one is named. Validating
    // again in the browser cost 1.4 KB gzip of the first download.
    let cfg = match clickscript_web::config::read(&config) {
        Ok(c) => c,
        Err(e) => {
            error("invalid configuration, not started", &e.0.into());
            return false;
        }
    };
    // The collector serves `base_on_load: false` (and `click_with_base: false`) when one of the
    // campaign's bindings fires the Base Event (or Base Click Sold) on another trigger.
    let base_on_load = clickscript_web::globals::get(&config, "base_on_load")
        .as_bool()
        .unwrap_or(true);
    Tracker::start(cfg, base_on_load);
    install_page_listeners();
    with(|t| t.fire_page_load());
    tracker::drain();
    true
}

/// The triggers extension fires a bound event with the data its trigger provides (an object of
/// strings). Returns whether the event was accepted for delivery.
#[wasm_bindgen]
pub fn fire(event_id: String, data: JsValue) -> bool {
    let fired = with(|t| t.fire_with(&event_id, tracker::trigger_data(&data))).unwrap_or(false);
    if fired {
        tracker::drain();
    }
    fired
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
pub fn click(opts: JsValue, url: Option<String>, ts: Option<f64>) -> JsValue {
    let txn = with(|t| {
        t.click(&opts, url, ts);
        JsValue::from_str(t.transaction_id())
    });
    tracker::drain();
    txn.unwrap_or(JsValue::NULL)
}

/// `PT.flush()`: resolves `true` when the outbox is empty, `false` when an attempt failed.
#[wasm_bindgen]
pub fn flush() -> js_sys::Promise {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let resolve: clickscript_web::globals::Resolve = resolve.clone().unchecked_into();
        if with(|t| t.wait_for_flush(resolve.clone())).is_none() {
            resolve.call(&JsValue::NULL, false);
        }
    });
    tracker::drain();
    promise
}

/// `PT.transactionId()`.
#[wasm_bindgen(js_name = transactionId)]
pub fn transaction_id() -> JsValue {
    // A JS string (or null) rather than `Option<String>`: no copy through wasm memory.
    with(|t| JsValue::from_str(t.transaction_id())).unwrap_or(JsValue::NULL)
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
        });
    }
    // pageshow after the back/forward cache: the page is alive again.
    listen(On::Window, "pageshow", false, |_| {
        with(|t| t.revive());
        tracker::drain();
    });
}
