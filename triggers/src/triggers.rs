//! The campaign's triggers, in the triggers extension (`pkg/triggers`): page loads, clicks and
//! form submits, and what watches the page over time (scroll depth, engaged time, elements seen,
//! fields completed, single-page-app routes). Each kind is installed only when the campaign binds
//! it, with one listener (or observer, or timer) for all its bindings. A binding that fires hands
//! its event and data to the clickscript's `fire` (the clickscript is another wasm module, with
//! the lead, the outbox and delivery).

use core::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use clickscript_core::consent::Consent;
use clickscript_core::event::{Fields, Scalar};
use clickscript_core::limits::{truncate, MAX_TEXT_LEN};
use clickscript_core::trigger::{url_matches, Binding, Trigger};
use clickscript_web::callbacks::{listen, target_element, Interval, On};
use clickscript_web::console::error;
use clickscript_web::console::info;
use clickscript_web::globals::{get, set, Document, Window};
use clickscript_web::page;

use crate::forms;

/// What the page has reached so far.
struct Progress {
    /// Indices of the scroll and engaged bindings already fired on this page.
    done: Vec<usize>,
    /// Visible and focused time, ms.
    engaged_ms: u64,
    /// The URL of the last route seen.
    route: String,
}

thread_local! {
    static PROGRESS: RefCell<Progress> = const {
        RefCell::new(Progress {
            done: Vec::new(),
            engaged_ms: 0,
            route: String::new(),
        })
    };
    /// The clickscript's `fire(eventId, data)`.
    static CLICKSCRIPT: std::cell::OnceCell<js_sys::Function> = const { std::cell::OnceCell::new() };
}

/// Hands a firing to the clickscript, the data as an object of strings.
pub(crate) fn fire(event: &str, data: Fields<Scalar>) {
    fire_form(event, data, None);
}

/// A plain object of `fields` (strings, numbers, booleans).
fn object_of(fields: &Fields<Scalar>) -> js_sys::Object {
    let object = js_sys::Object::new();
    for (k, v) in fields.iter() {
        let v = match v {
            Scalar::Text(t) => JsValue::from_str(t),
            Scalar::Number(n) => JsValue::from_f64(*n),
            Scalar::Bool(b) => JsValue::from_bool(*b),
        };
        set(&object, k, &v);
    }
    object
}

/// Hands a form's firing to the clickscript (the data as an object of strings: the clickscript
/// reads text only), with the form's consent evidence if it has any.
pub(crate) fn fire_form(event: &str, data: Fields<Scalar>, consent: Option<&Consent>) {
    let object = object_of(&data);
    CLICKSCRIPT.with(|f| {
        if let Some(f) = f.get() {
            // The clickscript's exports do not throw; a trap in it is its own to report.
            let consent = consent.map_or(JsValue::NULL, |c| object_of(&c.to_fields()).into());
            let _ = f.call3(&JsValue::NULL, &JsValue::from_str(event), &object, &consent);
        }
    });
}

/// Runs `f` on the page's progress (`None` if it is in use: it never is, the page has one thread
/// and `f` calls out to nothing; `try_borrow_mut` keeps the borrow panic's formatting out).
fn progress<R>(f: impl FnOnce(&mut Progress) -> R) -> Option<R> {
    PROGRESS.with(|p| p.try_borrow_mut().ok().map(|mut p| f(&mut p)))
}

fn text(v: &JsValue, key: &str) -> Option<String> {
    get(v, key).as_string()
}

/// Fires each binding not fired yet on this page whose threshold `reached` covers.
fn fire_thresholds(bindings: &[Binding], reached: impl Fn(&Trigger) -> bool) {
    let due: Vec<String> = progress(|p| {
        let mut due = Vec::new();
        for (i, b) in bindings.iter().enumerate() {
            if !p.done.contains(&i) && reached(&b.trigger) {
                p.done.push(i);
                due.push(b.event.clone());
            }
        }
        due
    })
    .unwrap_or_default();
    for event in due {
        fire(&event, Fields::default());
    }
}

/// Installs what the campaign's bindings need and fires the page-load ones; `fire` is the
/// clickscript's. Page-lifetime, so listeners are `forget()`-ed. Returns whether it installed
/// them (not for a second time).
pub fn install(fire_in_clickscript: js_sys::Function, bindings: Vec<Binding>) -> bool {
    if CLICKSCRIPT.with(|f| f.set(fire_in_clickscript)).is_err() {
        return false;
    }
    let bindings = Rc::new(bindings);
    let has = |f: fn(&Trigger) -> bool| bindings.iter().any(|b| f(&b.trigger));

    fire_page_load(&bindings);
    // Clicks and submits: one capture-phase listener each on the document for all bindings.
    if has(|t| matches!(t, Trigger::Click { .. })) {
        let list = bindings.clone();
        listen(On::Document, "click", true, move |e| {
            if let Some(target) = target_element(e) {
                on_click(&list, &target);
            }
        })
        .forget();
    }
    forms::release_when_the_page_goes();
    crate::consent::install();
    // Submits: forms a marketer tagged `data-pt-event` as well as the bound ones, so always.
    let list = bindings.clone();
    listen(On::Document, "submit", true, move |e| {
        if let Some(form) = target_element(e) {
            on_submit(&list, &form);
            crate::engagement::submitted(&list, &form);
        }
    })
    .forget();
    if crate::engagement::bound(&bindings) {
        crate::engagement::install(bindings.clone());
    }

    if has(|t| matches!(t, Trigger::Scroll { .. })) {
        let list = bindings.clone();
        let check = move || {
            let seen = Window::scroll_y() + Window::inner_height();
            let total = get(&Document::root(), "scrollHeight")
                .as_f64()
                .unwrap_or(0.0)
                .max(1.0);
            let percent = (seen / total * 100.0) as u32;
            fire_thresholds(
                &list,
                |t| matches!(t, Trigger::Scroll { percent: p } if *p <= percent),
            );
        };
        check();
        // A scroll event cannot be cancelled, so this listener never holds scrolling up (what
        // `passive` guarantees for touch and wheel listeners).
        listen(On::Window, "scroll", false, move |_| check()).forget();
    }

    if has(|t| matches!(t, Trigger::Engaged { .. })) {
        let list = bindings.clone();
        // One tick a second; only time the page is visible and focused counts.
        Interval::new(1_000, move || {
            if Document::visibility_state() != "visible" || !Document::has_focus() {
                return;
            }
            let seconds = progress(|p| {
                p.engaged_ms += 1_000;
                p.engaged_ms / 1_000
            })
            .unwrap_or(0) as u32;
            fire_thresholds(
                &list,
                |t| matches!(t, Trigger::Engaged { seconds: s } if *s <= seconds),
            );
        })
        .forget();
    }

    if has(|t| matches!(t, Trigger::Seen { .. })) {
        watch_seen(bindings.clone());
    }

    if has(|t| matches!(t, Trigger::FieldCompleted { .. })) {
        let completed = bindings.clone();
        listen(On::Document, "focusout", true, move |e| {
            let Some(field) = target_element(e) else {
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
        })
        .forget();
    }

    if has(|t| matches!(t, Trigger::Route { .. })) {
        watch_routes(bindings);
    }
    true
}

/// Every `page_load` binding whose URL pattern matches this page.
fn fire_page_load(bindings: &[Binding]) {
    let href = page::href();
    for b in bindings {
        if let Trigger::PageLoad { url } = &b.trigger {
            if url.as_deref().is_none_or(|u| url_matches(u, &href)) {
                fire(&b.event, Fields::default());
            }
        }
    }
}

/// A click on `target`: every `click` binding whose selector matches it or an ancestor, with
/// the element's `id` and `href` as data.
fn on_click(bindings: &[Binding], target: &web_sys::Element) {
    for b in bindings {
        let Trigger::Click { selector } = &b.trigger else {
            continue;
        };
        let Some(el) = target.closest(selector).ok().flatten() else {
            continue;
        };
        let mut data = Fields::default();
        for attr in ["id", "href"] {
            if let Some(v) = el.get_attribute(attr) {
                data.insert(
                    attr.to_owned(),
                    Scalar::Text(truncate(&v, MAX_TEXT_LEN).to_owned()),
                );
            }
        }
        fire(&b.event, data);
    }
}

/// A form submitted: the event its `data-pt-event` names, and every `submit` binding whose
/// selector matches the form and whose conditions all hold, each once, with the form's fields
/// that may leave the page as data. A copy of a submission (a double click, a framework that
/// submits twice) fires nothing.
fn on_submit(bindings: &[Binding], form: &web_sys::Element) {
    let mut events: Vec<String> = Vec::new();
    if form.matches("form[data-pt-event]").unwrap_or(false) {
        events.extend(form.get_attribute("data-pt-event"));
    }
    let mut captured = None;
    for b in bindings {
        let Trigger::Submit {
            selector,
            conditions,
        } = &b.trigger
        else {
            continue;
        };
        if !form.matches(selector).unwrap_or(false) {
            continue;
        }
        let values = &captured.get_or_insert_with(|| forms::fields(form)).fields;
        let text = |name: &str| match values.get(name) {
            Some(Scalar::Text(t)) => Some(t.as_str()),
            _ => None,
        };
        if conditions.iter().all(|c| {
            c.holds_with(text(&c.field), |s| {
                Some(clickscript_web::globals::number(s))
            })
        }) {
            events.push(b.event.clone());
        } else {
            info(
                "form conditions not met, not sent",
                &b.event.as_str().into(),
            );
        }
    }
    if events.is_empty() {
        return;
    }
    let captured = captured.unwrap_or_else(|| forms::fields(form));
    let consent = crate::consent::evidence(form, clickscript_web::now());
    for (i, event) in events.iter().enumerate() {
        if events[..i].contains(event) {
            continue;
        }
        if forms::first_submission(event, &captured) {
            forms::send(event.clone(), captured.fields.clone(), consent.clone());
        } else {
            info(
                "the same submission again, not sent",
                &event.as_str().into(),
            );
        }
    }
}

/// Keeps the bindings whose selectors this browser accepts; names the others in debug mode.
pub fn usable_in_this_browser(bindings: Vec<Binding>) -> Vec<Binding> {
    bindings
        .into_iter()
        .filter(|b| {
            let selector = match &b.trigger {
                Trigger::Click { selector }
                | Trigger::Submit { selector, .. }
                | Trigger::FieldCompleted { selector }
                | Trigger::FormStarted { selector }
                | Trigger::FormCompleted { selector }
                | Trigger::FormAbandoned { selector }
                | Trigger::Seen { selector } => selector,
                _ => return true,
            };
            // querySelectorAll throws a SyntaxError for a selector the browser cannot parse.
            let ok = Document::query_selector_all(selector).is_ok();
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

/// A field left with a valid, non-empty value: its name, and its value unless the capture rules
/// hold it back (a password, a card number, `data-pt-ignore`, ...).
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
    if let Some(v) = forms::field_value(field) {
        data.insert("value".to_owned(), Scalar::Text(v));
    }
    Some(data)
}

/// Element-seen bindings: one IntersectionObserver at half visibility; each element counts once.
fn watch_seen(seen: Rc<Vec<Binding>>) {
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
                            data.insert(
                                "id".to_owned(),
                                Scalar::Text(truncate(&id, MAX_TEXT_LEN).to_owned()),
                            );
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
        if let Ok(found) = Document::query_selector_all(selector) {
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
fn watch_routes(routes: Rc<Vec<Binding>>) {
    progress(|p| p.route = page::href());
    let on_change = Rc::new(move || {
        let href = page::href();
        let changed = progress(|p| {
            let changed = p.route != href;
            p.route = href.clone();
            changed
        })
        .unwrap_or(false);
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
    let history = Window::history();
    if !history.is_object() {
        return;
    }
    // Patched once per page, whichever copy of the clickscript comes first.
    if get(&history, "__ptRoutes").is_truthy() {
        return;
    }
    set(&history, "__ptRoutes", &JsValue::TRUE);
    for name in ["pushState", "replaceState"] {
        let Ok(original) = get(&history, name).dyn_into::<js_sys::Function>() else {
            continue;
        };
        let target = history.clone();
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
        listen(On::Window, kind, false, move |_| notify()).forget();
    }
}
