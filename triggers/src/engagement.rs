//! Form engagement, for the campaign's `form_started`, `form_completed` and `form_abandoned`
//! bindings: a form's first interaction, the time from it to the submit, and a form started and
//! left unsubmitted when the page is hidden or left (which fields were filled: names only).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;

use clickscript_core::decimal;
use clickscript_core::event::{Fields, Scalar};
use clickscript_core::limits::{truncate, MAX_FIELDS, MAX_TEXT_LEN};
use clickscript_core::trigger::{Binding, Trigger};
use clickscript_web::callbacks::{listen, target_element, On};
use clickscript_web::globals::{get, Document};

/// A form the visitor started.
struct Started {
    form: web_sys::Element,
    at: u64,
    submitted: bool,
    abandoned: bool,
    /// Names of the fields left filled.
    filled: Vec<String>,
}

thread_local! {
    static STARTED: RefCell<Vec<Started>> = const { RefCell::new(Vec::new()) };
}

fn name_of(el: &web_sys::Element) -> String {
    ["name", "id", "data-pt-name"]
        .iter()
        .filter_map(|a| el.get_attribute(a))
        .find(|n| !n.is_empty())
        .unwrap_or_default()
}

/// The bindings of `kind` whose selector matches `form`.
fn matching<'a>(
    bindings: &'a [Binding],
    form: &'a web_sys::Element,
    kind: fn(&Trigger) -> Option<&String>,
) -> impl Iterator<Item = &'a Binding> {
    bindings.iter().filter(move |b| {
        kind(&b.trigger).is_some_and(|selector| form.matches(selector).unwrap_or(false))
    })
}

fn started_selector(t: &Trigger) -> Option<&String> {
    match t {
        Trigger::FormStarted { selector } => Some(selector),
        _ => None,
    }
}

fn completed_selector(t: &Trigger) -> Option<&String> {
    match t {
        Trigger::FormCompleted { selector } => Some(selector),
        _ => None,
    }
}

fn abandoned_selector(t: &Trigger) -> Option<&String> {
    match t {
        Trigger::FormAbandoned { selector } => Some(selector),
        _ => None,
    }
}

fn data(form: &web_sys::Element, more: Option<(&str, String)>) -> Fields<Scalar> {
    let mut data = Fields::default();
    data.insert(
        "form".to_owned(),
        Scalar::Text(truncate(&name_of(form), MAX_TEXT_LEN).to_owned()),
    );
    if let Some((k, v)) = more {
        data.insert(
            k.to_owned(),
            Scalar::Text(truncate(&v, MAX_TEXT_LEN).to_owned()),
        );
    }
    data
}

/// The form selector of any of the three form engagement triggers.
fn engagement_selector(t: &Trigger) -> Option<&String> {
    started_selector(t)
        .or(completed_selector(t))
        .or(abandoned_selector(t))
}

/// Whether any of the campaign's bindings is a form engagement one.
pub fn bound(bindings: &[Binding]) -> bool {
    bindings
        .iter()
        .any(|b| engagement_selector(&b.trigger).is_some())
}

/// Installs the listeners (page-lifetime).
pub fn install(bindings: Rc<Vec<Binding>>) {
    // The first interaction: a field of a form focused or typed in.
    for kind in ["focusin", "input"] {
        let list = bindings.clone();
        listen(On::Document, kind, true, move |e| {
            let Some(form) = target_element(e).and_then(|t| t.closest("form").ok().flatten())
            else {
                return;
            };
            let tracked = |b: &Binding| {
                engagement_selector(&b.trigger).is_some_and(|s| form.matches(s).unwrap_or(false))
            };
            if !list.iter().any(tracked) {
                return;
            }
            let new = STARTED.with(|s| {
                let Ok(mut s) = s.try_borrow_mut() else {
                    return false;
                };
                if s.iter()
                    .any(|f| JsValue::from(&f.form) == JsValue::from(&form))
                {
                    return false;
                }
                s.push(Started {
                    form: form.clone(),
                    at: clickscript_web::now(),
                    submitted: false,
                    abandoned: false,
                    filled: Vec::new(),
                });
                true
            });
            if new {
                for b in matching(&list, &form, started_selector) {
                    crate::triggers::fire(&b.event, data(&form, None));
                }
            }
        })
        .forget();
    }
    // The fields left filled (names only).
    listen(On::Document, "focusout", true, |e| {
        let Some(field) = target_element(e) else {
            return;
        };
        // Filled as a form submits it: a value, and for a box a checked one; no buttons.
        let kind = get(&field, "type").as_string().unwrap_or_default();
        let button = matches!(kind.as_str(), "submit" | "button" | "reset" | "image");
        let unchecked =
            matches!(kind.as_str(), "checkbox" | "radio") && !get(&field, "checked").is_truthy();
        let filled = !button
            && !unchecked
            && get(&field, "value")
                .as_string()
                .is_some_and(|v| !v.trim_ascii().is_empty());
        let name = name_of(&field);
        let Some(form) = field.closest("form").ok().flatten() else {
            return;
        };
        STARTED.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return;
            };
            let Some(f) = s
                .iter_mut()
                .find(|f| JsValue::from(&f.form) == JsValue::from(&form))
            else {
                return;
            };
            f.filled.retain(|n| *n != name);
            if filled && !name.is_empty() && f.filled.len() < MAX_FIELDS {
                f.filled.push(name);
            }
        });
    })
    .forget();
    // Hidden or left with a started form unsubmitted: abandoned, once per form.
    let list = bindings.clone();
    listen(On::Window, "pagehide", false, move |_| abandon(&list)).forget();
    listen(On::Document, "visibilitychange", false, move |_| {
        if Document::visibility_state() == "hidden" {
            abandon(&bindings);
        }
    })
    .forget();
}

/// A form was submitted: `form_completed` with the time from its first interaction, once.
pub fn submitted(bindings: &[Binding], form: &web_sys::Element) {
    let started = STARTED.with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        let f = s
            .iter_mut()
            .find(|f| JsValue::from(&f.form) == JsValue::from(form) && !f.submitted)?;
        f.submitted = true;
        Some(f.at)
    });
    let Some(at) = started else {
        return;
    };
    let ms = clickscript_web::now().saturating_sub(at);
    for b in matching(bindings, form, completed_selector) {
        let more = Some(("time_to_complete_ms", decimal::string(ms)));
        crate::triggers::fire(&b.event, data(form, more));
    }
}

fn abandon(bindings: &[Binding]) {
    let left: Vec<(web_sys::Element, String)> = STARTED
        .with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let mut left = Vec::new();
            for f in s.iter_mut().filter(|f| !f.submitted && !f.abandoned) {
                f.abandoned = true;
                left.push((f.form.clone(), f.filled.join(",")));
            }
            Some(left)
        })
        .unwrap_or_default();
    for (form, filled) in left {
        for b in matching(bindings, &form, abandoned_selector) {
            let more = Some(("fields_completed", filled.clone()));
            crate::triggers::fire(&b.event, data(&form, more));
        }
    }
}
