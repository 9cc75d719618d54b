//! Consent evidence read from the page: the text marked `data-pt-consent` that belongs to a
//! submitted form, its checkbox, what the page showed of it and when it was on screen and
//! checked. The core's rules ([`clickscript_core::consent`]) judge it; the form's event carries it.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use clickscript_core::consent::{background, on_screen, Consent, Rgba, Sighting};
use clickscript_web::callbacks::{listen, target_element, On};
use clickscript_web::globals::{get, Document, Location, Window};

/// The consent texts a marketer marks.
const CONSENT: &str = "[data-pt-consent]";
/// Most checkboxes whose checked time is kept.
const MAX_BOXES: usize = 64;

thread_local! {
    static WATCH: RefCell<Watch> = RefCell::new(Watch::default());
}

#[derive(Default)]
struct Watch {
    /// Watches consent texts for the first time each is on screen.
    observer: Option<web_sys::IntersectionObserver>,
    /// The consent texts observed, each once.
    observed: Vec<web_sys::Element>,
    /// When each consent text was first on screen.
    seen: Vec<(web_sys::Element, u64)>,
    /// When each checkbox checked now was last checked.
    checked: Vec<(web_sys::Element, u64)>,
}

fn watch<R>(f: impl FnOnce(&mut Watch) -> R) -> Option<R> {
    WATCH.with(|w| w.try_borrow_mut().ok().map(|mut w| f(&mut w)))
}

fn elements(list: Result<web_sys::NodeList, JsValue>) -> Vec<web_sys::Element> {
    let Ok(list) = list else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

fn mark_seen(el: &web_sys::Element, at: u64) {
    watch(|w| {
        if !w.seen.iter().any(|(e, _)| e == el) {
            w.seen.push((el.clone(), at));
        }
    });
}

/// Starts watching the page's consent texts (those of forms rendered later once the visitor
/// turns to their form) and its checkboxes. Page-lifetime: listeners and observer stay.
/// Notes the consent texts these observer entries show on screen. The observer's intersection
/// accounts for what clips the text (a parent's overflow, the viewport on both axes), which a
/// look at the text's own box does not.
fn note(entries: js_sys::Array) {
    for entry in entries.iter() {
        let entry: web_sys::IntersectionObserverEntry = entry.unchecked_into();
        let viewport = entry
            .root_bounds()
            .map_or_else(Window::inner_height, |r| r.height());
        if entry.is_intersecting()
            && on_screen(
                entry.intersection_ratio(),
                entry.intersection_rect().height(),
                viewport,
            )
        {
            mark_seen(&entry.target(), clickscript_web::now());
        }
    }
}

pub fn install() {
    let callback = Closure::<dyn FnMut(js_sys::Array)>::new(note);
    let options = web_sys::IntersectionObserverInit::new();
    let thresholds: js_sys::Array = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|t| JsValue::from_f64(*t))
        .collect();
    options.set_threshold(&thresholds);
    if let Ok(observer) =
        web_sys::IntersectionObserver::new_with_options(callback.as_ref().unchecked_ref(), &options)
    {
        callback.forget();
        watch(|w| w.observer = Some(observer));
    }
    observe(elements(Document::query_selector_all(CONSENT)));
    // A form rendered after load: its consent text is watched once the visitor turns to it.
    listen(On::Document, "focusin", true, |e| {
        if let Some(form) = target_element(e).and_then(|t| t.closest("form").ok().flatten()) {
            observe(consent_of(&form).into_iter().collect());
        }
    })
    .forget();
    listen(On::Document, "change", true, |e| {
        let Some(el) = target_element(e) else {
            return;
        };
        if !el.matches("input[type=checkbox]").unwrap_or(false) {
            return;
        }
        let checked = get(&el, "checked").is_truthy();
        watch(|w| {
            w.checked.retain(|(b, _)| *b != el);
            if checked && w.checked.len() < MAX_BOXES {
                w.checked.push((el, clickscript_web::now()));
            }
        });
    })
    .forget();
}

fn observe(found: Vec<web_sys::Element>) {
    watch(|w| {
        for el in found {
            if w.observed.contains(&el) {
                continue;
            }
            if let Some(o) = &w.observer {
                o.observe(&el);
            }
            w.observed.push(el);
        }
    });
}

/// The consent text of `form`: the one inside it; else the one that names the form's id
/// (`data-pt-consent="quote"`); else the page's only one outside any form.
fn consent_of(form: &web_sys::Element) -> Option<web_sys::Element> {
    if let Ok(Some(inside)) = form.query_selector(CONSENT) {
        return Some(inside);
    }
    let all = elements(Document::query_selector_all(CONSENT));
    if let Some(id) = form.get_attribute("id").filter(|i| !i.is_empty()) {
        if let Some(named) = all
            .iter()
            .find(|e| e.get_attribute("data-pt-consent").as_deref() == Some(id.as_str()))
        {
            return Some(named.clone());
        }
    }
    let mut outside = all
        .into_iter()
        .filter(|e| e.closest("form").ok().flatten().is_none());
    match (outside.next(), outside.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// The checkbox that belongs to `consent`: inside it; the control of the label it is in (or
/// is); or a checkbox of `form` labelled (`<label>`, `aria-labelledby`) or described
/// (`aria-describedby`) by it.
fn checkbox_of(consent: &web_sys::Element, form: &web_sys::Element) -> Option<web_sys::Element> {
    let is_box = |el: &web_sys::Element| el.matches("input[type=checkbox]").unwrap_or(false);
    if let Ok(Some(inside)) = consent.query_selector("input[type=checkbox]") {
        return Some(inside);
    }
    if let Some(label) = consent.closest("label").ok().flatten() {
        if let Ok(control) = get(&label, "control").dyn_into::<web_sys::Element>() {
            if is_box(&control) {
                return Some(control);
            }
        }
    }
    let id = consent.get_attribute("id").filter(|i| !i.is_empty());
    let node: &web_sys::Node = consent.as_ref();
    elements(form.query_selector_all("input[type=checkbox]"))
        .into_iter()
        .find(|b| {
            let labels = get(b, "labels");
            let n = get(&labels, "length").as_f64().unwrap_or(0.0) as u32;
            let labelled = (0..n).any(|i| {
                js_sys::Reflect::get_u32(&labels, i)
                    .ok()
                    .and_then(|l| l.dyn_into::<web_sys::Node>().ok())
                    .is_some_and(|l| node.contains(Some(&l)) || l.contains(Some(node)))
            });
            let named = id.as_deref().is_some_and(|id| {
                ["aria-labelledby", "aria-describedby"].iter().any(|a| {
                    b.get_attribute(a)
                        .is_some_and(|v| v.split_ascii_whitespace().any(|t| t == id))
                })
            });
            labelled || named
        })
}

/// A computed style's number, read by JavaScript's `Number` (see [`Rgba::parse_with`]).
fn number(v: &str) -> Option<f64> {
    Some(clickscript_web::globals::number(v.trim())).filter(|n| n.is_finite())
}

fn px(v: &str) -> f64 {
    let v = v.trim();
    number(v.strip_suffix("px").unwrap_or(v)).unwrap_or(0.0)
}

/// What the page shows of `el` now, and when it was first on screen.
fn sighting(el: &web_sys::Element) -> Sighting {
    let Some(window) = web_sys::window() else {
        return Sighting::default();
    };
    // Each element's computed style is taken once (a live object; each property read from it).
    let style_of = |e: &web_sys::Element| window.get_computed_style(e).ok().flatten();
    let prop = |s: &Option<web_sys::CssStyleDeclaration>, name: &str| {
        s.as_ref()
            .and_then(|s| s.get_property_value(name).ok())
            .unwrap_or_default()
    };
    let rect = el.get_bounding_client_rect();
    let rendered = el.get_client_rects().length() > 0;
    // What the observer saw and has not reported yet (the text came into view just now).
    if let Some(records) = watch(|w| w.observer.as_ref().map(|o| o.take_records())).flatten() {
        note(records);
    }
    let mut opacity = 1.0;
    let mut layers = Vec::new();
    let mut at = Some(el.clone());
    while let Some(e) = at {
        let style = style_of(&e);
        opacity *= number(&prop(&style, "opacity")).unwrap_or(1.0);
        if let Some(layer) = Rgba::parse_with(&prop(&style, "background-color"), number) {
            layers.push(layer);
        }
        at = e.parent_element();
    }
    let own = style_of(el);
    let visibility = prop(&own, "visibility");
    Sighting {
        rendered,
        visibility_hidden: visibility == "hidden" || visibility == "collapse",
        opacity,
        width: rect.width(),
        height: rect.height(),
        seen_at: watch(|w| w.seen.iter().find(|(e, _)| e == el).map(|(_, t)| *t)).flatten(),
        font_size: px(&prop(&own, "font-size")),
        color: Rgba::parse_with(&prop(&own, "color"), number),
        background: Some(background(&layers)),
    }
}

/// The consent evidence of `form` submitted at `now`, if it has consent text.
pub fn evidence(form: &web_sys::Element, now: u64) -> Option<Consent> {
    let consent = consent_of(form)?;
    let checkbox = checkbox_of(&consent, form).map(|b| {
        let checked = get(&b, "checked").is_truthy();
        let at = watch(|w| w.checked.iter().find(|(e, _)| *e == b).map(|(_, t)| *t)).flatten();
        (checked, at)
    });
    // As rendered (`innerText`); text the page does not render has none, so its source text
    // goes instead, its white space collapsed.
    let mut text = get(&consent, "innerText").as_string().unwrap_or_default();
    if text.trim().is_empty() {
        let source = consent.text_content().unwrap_or_default();
        text.clear();
        for word in source.split_ascii_whitespace() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
    }
    Some(Consent::new(
        &text,
        checkbox,
        &sighting(&consent),
        now,
        &Location::href(),
    ))
}
