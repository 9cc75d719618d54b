//! The triggers that watch the page over time: scroll depth, engaged time, elements seen, fields
//! completed and single-page-app routes. Each kind is installed only when the campaign binds
//! it, with one listener (or observer, or timer) for all its bindings; page-load, click and
//! submit bindings are evaluated by the tracker's delegated listeners.

use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::callbacks::{every, listen, On};
use super::console::error;
use super::globals::{get, set};
use super::page;
use super::tracker::{drain, with};
use crate::core::event::{Fields, Scalar};
use crate::core::limits::{truncate, MAX_TEXT_LEN};
use crate::core::trigger::{url_matches, Binding, Trigger};

/// What the page has reached so far.
struct Progress {
    /// Indices of the scroll and engaged bindings already fired on this page.
    done: Vec<usize>,
    /// Visible and focused time, ms.
    engaged_ms: u64,
    /// The URL of the last route seen.
    route: String,
}

static PROGRESS: super::PageLocal<RefCell<Progress>> =
    super::PageLocal::new(RefCell::new(Progress {
        done: Vec::new(),
        engaged_ms: 0,
        route: String::new(),
    }));

fn fire(event: &str, data: Fields<Scalar>) {
    if with(|t| t.fire_with(event, data)).unwrap_or(false) {
        drain();
    }
}

fn text(v: &JsValue, key: &str) -> Option<String> {
    get(v, key).as_string()
}

/// Fires each binding not fired yet on this page whose threshold `reached` covers.
fn fire_thresholds(bindings: &[Binding], reached: impl Fn(&Trigger) -> bool) {
    let due: Vec<String> = PROGRESS.with(|p| {
        let mut p = p.borrow_mut();
        let mut due = Vec::new();
        for (i, b) in bindings.iter().enumerate() {
            if !p.done.contains(&i) && reached(&b.trigger) {
                p.done.push(i);
                due.push(b.event.clone());
            }
        }
        due
    });
    for event in due {
        fire(&event, Fields::default());
    }
}

/// Installs what the campaign's bindings need; page-lifetime, so listeners are `forget()`-ed.
pub fn install(bindings: Rc<Vec<Binding>>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(document) = window.document() else {
        return;
    };
    let has = |f: fn(&Trigger) -> bool| bindings.iter().any(|b| f(&b.trigger));

    if has(|t| matches!(t, Trigger::Scroll { .. })) {
        let list = bindings.clone();
        let check = move || {
            let Some(w) = web_sys::window() else { return };
            let Some(root) = w.document().and_then(|d| d.document_element()) else {
                return;
            };
            let seen = w.scroll_y().unwrap_or(0.0)
                + w.inner_height()
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
            let total = root.scroll_height().max(1) as f64;
            let percent = (seen / total * 100.0) as u32;
            fire_thresholds(
                &list,
                |t| matches!(t, Trigger::Scroll { percent: p } if *p <= percent),
            );
        };
        check();
        // A scroll event cannot be cancelled, so this listener never holds scrolling up (what
        // `passive` guarantees for touch and wheel listeners).
        listen(On::Window, "scroll", false, move |_| check());
    }

    if has(|t| matches!(t, Trigger::Engaged { .. })) {
        let list = bindings.clone();
        // One tick a second; only time the page is visible and focused counts.
        every(1_000, move || {
            let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
                return;
            };
            if doc.visibility_state() != web_sys::VisibilityState::Visible
                || !doc.has_focus().unwrap_or(false)
            {
                return;
            }
            let seconds = PROGRESS.with(|p| {
                let mut p = p.borrow_mut();
                p.engaged_ms += 1_000;
                p.engaged_ms / 1_000
            }) as u32;
            fire_thresholds(
                &list,
                |t| matches!(t, Trigger::Engaged { seconds: s } if *s <= seconds),
            );
        });
    }

    if has(|t| matches!(t, Trigger::Seen { .. })) {
        watch_seen(&document, bindings.clone());
    }

    if has(|t| matches!(t, Trigger::FieldCompleted { .. })) {
        let completed = bindings.clone();
        listen(On::Document, "focusout", true, move |e| {
            let Some(field) = e.target().dyn_into::<web_sys::Element>().ok() else {
                return;
            };
            for b in completed.iter() {
                let Trigger::FieldCompleted { selector } = &b.trigger else {
                    continue;
                };
                if field.matches(selector).unwrap_or(false) {
                    if let Some(data) = completed_field(&field) {
                        fire(&b.event, data);
                    }
                }
            }
        });
    }

    if has(|t| matches!(t, Trigger::Route { .. })) {
        watch_routes(&window, bindings);
    }
}

/// A field left with a valid, non-empty value: its name, and its value unless it is a password
/// or marked `data-pt-ignore`.
fn completed_field(field: &web_sys::Element) -> Option<Fields<Scalar>> {
    let value = text(field, "value")?;
    if value.trim().is_empty() {
        return None;
    }
    let valid = get(field, "checkValidity")
        .dyn_into::<js_sys::Function>()
        .ok()
        .and_then(|f| f.call0(field).ok())
        .is_none_or(|v| v.is_truthy());
    if !valid {
        return None;
    }
    let mut data = Fields::default();
    let name = text(field, "name").unwrap_or_default();
    data.insert(
        "field".to_owned(),
        Scalar::Text(truncate(&name, MAX_TEXT_LEN).to_owned()),
    );
    let secret =
        text(field, "type").as_deref() == Some("password") || field.has_attribute("data-pt-ignore");
    if !secret {
        data.insert(
            "value".to_owned(),
            Scalar::Text(truncate(&value, MAX_TEXT_LEN).to_owned()),
        );
    }
    Some(data)
}

/// Element-seen bindings: one IntersectionObserver at half visibility; each element counts once.
fn watch_seen(document: &web_sys::Document, seen: Rc<Vec<Binding>>) {
    let list = seen.clone();
    let callback = Closure::<dyn FnMut(js_sys::Array, web_sys::IntersectionObserver)>::new(
        move |entries: js_sys::Array, observer: web_sys::IntersectionObserver| {
            for entry in entries.iter() {
                let entry: web_sys::IntersectionObserverEntry = entry.unchecked_into();
                if !entry.is_intersecting() || entry.intersection_ratio() < 0.5 {
                    continue;
                }
                let el = entry.target();
                observer.unobserve(&el);
                for b in list.iter() {
                    let Trigger::Seen { selector } = &b.trigger else {
                        continue;
                    };
                    if el.matches(selector).unwrap_or(false) {
                        let mut data = Fields::default();
                        if let Some(id) = el.get_attribute("id") {
                            data.insert("id".to_owned(), Scalar::Text(id));
                        }
                        fire(&b.event, data);
                    }
                }
            }
        },
    );
    let options = web_sys::IntersectionObserverInit::new();
    options.set_threshold_f64(0.5);
    let Ok(observer) = web_sys::IntersectionObserver::new_with_options(
        callback.as_ref().unchecked_ref(),
        &options,
    ) else {
        error(
            "IntersectionObserver unavailable: seen bindings left out",
            &JsValue::UNDEFINED,
        );
        return;
    };
    callback.forget();
    for b in seen.iter() {
        let Trigger::Seen { selector } = &b.trigger else {
            continue;
        };
        if let Ok(found) = document.query_selector_all(selector) {
            for i in 0..found.length() {
                if let Some(el) = found
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                {
                    observer.observe(&el);
                }
            }
        }
    }
}

/// Route bindings: history.pushState and replaceState are wrapped (once per page), popstate and
/// hashchange listened to; every change of URL that matches a binding's pattern fires it.
fn watch_routes(window: &web_sys::Window, routes: Rc<Vec<Binding>>) {
    PROGRESS.with(|p| p.borrow_mut().route = page::href());
    let on_change = Rc::new(move || {
        let href = page::href();
        let changed = PROGRESS.with(|p| {
            let mut p = p.borrow_mut();
            let changed = p.route != href;
            p.route = href.clone();
            changed
        });
        if !changed {
            return;
        }
        for b in routes.iter() {
            if let Trigger::Route { url } = &b.trigger {
                if url_matches(url, &href) {
                    fire(&b.event, Fields::default());
                }
            }
        }
    });
    let Ok(history) = window.history() else {
        return;
    };
    // Patched once per page, whichever copy of the clickscript comes first.
    if get(&history, "__ptRoutes").is_truthy() {
        return;
    }
    set(&history, "__ptRoutes", &JsValue::TRUE);
    for name in ["pushState", "replaceState"] {
        let Ok(original) = get(&history, name).dyn_into::<js_sys::Function>() else {
            continue;
        };
        let target: JsValue = history.clone().into();
        let notify = on_change.clone();
        let wrapper = Closure::<dyn FnMut(JsValue, JsValue, JsValue) -> JsValue>::new(
            move |state, title, url| {
                match original.call3(&target, &state, &title, &url) {
                    Ok(v) => {
                        notify();
                        v
                    }
                    // The page's own error (a cross-origin URL, say) is the page's: rethrown as is.
                    Err(e) => wasm_bindgen::throw_val(e),
                }
            },
        );
        set(&history, name, wrapper.as_ref());
        wrapper.forget();
    }
    for kind in ["popstate", "hashchange"] {
        let notify = on_change.clone();
        listen(On::Window, kind, false, move |_| notify());
    }
}
