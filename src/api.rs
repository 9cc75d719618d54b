//! The `#[wasm_bindgen]` surface behind `window.PT`. The loader wraps every call in try/catch as
//! well, but nothing here throws: errors are logged in debug mode and the call carries on.

use wasm_bindgen::prelude::*;

use crate::tracker::{self, with, Tracker};
use clickscript_core::consent::Consent;
use clickscript_web::callbacks::{listen, target_element, On};
use clickscript_web::console::{error, set_debug};
use clickscript_web::globals::{get, Document};

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
    // (`*` shares with no frame: only origins listed one by one.)
    let ask_parent =
        cfg.allowed_origins.iter().any(|o| o != "*") && crate::tracker::frames::in_frame();
    Tracker::start(cfg, base_on_load);
    install_page_listeners();
    // In a frame, the parent may hand over its lead first (the page-load events wait for it).
    with(|t| {
        if ask_parent {
            t.ask_parent()
        } else {
            t.fire_page_load()
        }
    });
    true
}

/// The triggers extension fires a bound event with the data its trigger provides (an object of
/// strings) and, for a form with consent text, the consent evidence (a flat object). Returns
/// whether the event was accepted for delivery.
#[wasm_bindgen]
pub fn fire(event_id: String, data: JsValue, consent: JsValue) -> bool {
    let data = clickscript_web::props::props(&data).texts();
    let consent = Consent::from_props(&clickscript_web::props::props(&consent).fields);
    with(|t| t.fire_with(&event_id, data, consent)).unwrap_or(false)
}

/// `PT.event(eventId, props?)`: fires a configured event. `url` and `ts` carry the context of a
/// call queued before load. Returns whether the event was accepted for delivery.
#[wasm_bindgen]
pub fn event(event_id: JsValue, props: JsValue, url: Option<String>, ts: Option<f64>) -> bool {
    let Some(id) = event_id.as_string() else {
        error("PT.event: the event ID must be a string", &event_id);
        return false;
    };
    // Every value is read and judged by the core, which names what it refuses.
    let props = clickscript_web::props::props(&props);
    with(|t| t.fire(&id, &props, url, ts)).unwrap_or(false)
}

/// `PT.click({pid, cid, subids, source_id, transaction_id, parameters})`: registers a click and
/// returns the transaction ID, which the loader's promise for the call resolves to.
#[wasm_bindgen]
pub fn click(opts: JsValue, url: Option<String>, ts: Option<f64>) -> JsValue {
    // Read before the tracker is borrowed: nothing the page passes runs inside it.
    let opts = clickscript_web::props::click_options(&opts).unwrap_or_else(|| {
        if !opts.is_undefined() {
            error("PT.click: the options must be an object, ignored", &opts);
        }
        Default::default()
    });
    let txn = with(|t| {
        t.click(opts, url, ts);
        JsValue::from_str(t.transaction_id())
    });
    txn.unwrap_or(JsValue::NULL)
}

/// `PT.flush()`: resolves `true` when the outbox is empty, `false` when an attempt failed.
#[wasm_bindgen]
pub fn flush() -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _reject| {
        if with(|t| t.flush(resolve.clone())).is_none() {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::FALSE);
        }
    })
}

/// `PT.urlParameter(name)`: a query parameter of the page, decoded, from the same parsing as the
/// captured attribution (for a repeated parameter the first non-empty value); null when absent.
#[wasm_bindgen(js_name = urlParameter)]
pub fn url_parameter(name: String) -> JsValue {
    clickscript_core::attribution::query_param(&clickscript_web::page::query(), &name)
        .map_or(JsValue::NULL, JsValue::from)
}

/// `PT.optOut()`: stops all capture for the visitor on this site (kept across visits) and drops
/// what is queued.
#[wasm_bindgen(js_name = optOut)]
pub fn opt_out() {
    with(|t| t.opt_out());
}

/// `PT.optIn()`: capture resumes.
#[wasm_bindgen(js_name = optIn)]
pub fn opt_in() {
    with(|t| t.opt_in());
}

/// `PT.transactionId()`.
#[wasm_bindgen(js_name = transactionId)]
pub fn transaction_id() -> JsValue {
    // A JS string (or null) rather than `Option<String>`: no copy through wasm memory.
    with(|t| t.shared_transaction_id().map(JsValue::from_str))
        .flatten()
        .unwrap_or(JsValue::NULL)
}

/// The clickscript's listeners: they live as long as the page, so each is `forget()`-ed. One
/// handler serves them all (each distinct closure costs its own code in the wasm and its glue).
fn install_page_listeners() {
    for (target, kind, capture) in [
        (On::Window, "pagehide", false),
        (On::Document, "visibilitychange", false),
        (On::Window, "pageshow", false),
        (On::Window, "online", false),
        (On::Window, "storage", false),
        // A frame asking for the lead, or the parent answering.
        (On::Window, "message", false),
        // Marketers' `data-pt-event` tags: one capture-phase listener per DOM event type on the
        // document, walking up to the tagged element, instead of a listener per element.
        (On::Document, "click", true),
        (On::Document, "submit", true),
    ] {
        listen(target, kind, capture, on_page_event).forget();
    }
}

fn on_page_event(e: &web_sys::Event) {
    match e.type_().as_str() {
        "pagehide" => {
            with(|t| {
                t.stop_asking();
                t.on_hide(true)
            });
        }
        "visibilitychange" => {
            with(|t| match Document::visibility_state().as_str() {
                "hidden" => {
                    t.stop_asking();
                    t.on_hide(false)
                }
                _ => t.on_show(false),
            });
        }
        "message" => {
            with(|t| t.on_message(e));
        }
        // pageshow after the back/forward cache: the page is alive again.
        "pageshow" => {
            with(|t| t.on_show(true));
        }
        // Back online after the browser was offline: the backlog goes now, not after its backoff.
        "online" => {
            with(|t| t.on_online());
        }
        // Another tab of this origin went away: adopt what it could not deliver.
        "storage" => {
            let key = get(e, "key").as_string().unwrap_or_default();
            let written = get(e, "newValue").as_string();
            with(|t| t.on_storage(&key, written.as_deref()));
        }
        kind => {
            let selector = match kind {
                // The triggers extension reads tagged forms' fields once it runs (it sets
                // PT.triggers); a form submitted before it started fires without them.
                "submit"
                    if get(&clickscript_web::globals::Window::pt(), "triggers").is_truthy() =>
                {
                    return
                }
                "submit" => "form[data-pt-event]",
                _ => "[data-pt-event]:not(form)",
            };
            let tagged = target_element(e).and_then(|el| el.closest(selector).ok().flatten());
            if let Some(id) = tagged.and_then(|el| el.get_attribute("data-pt-event")) {
                event(id.into(), JsValue::UNDEFINED, None, None);
            }
        }
    }
}
