//! Reads the served configuration from the plain object the loader hands over.
//!
//! Hand-written over `Reflect` rather than serde's `Deserialize`: the derive pulls serde's error
//! formatting (floats included) into the wasm, about 25 KB gzip of a 30 KB budget. The collector
//! has already validated the configuration with the derive; here a wrong field is still named.

use crate::core::decimal;
use crate::core::text;
use crate::prelude::*;

use wasm_bindgen::{JsCast, JsValue};

use crate::core::config::{Amount, Config, EventDef, Scope, SystemEvents, DEFAULT_COOKIE_DAYS};
use crate::core::event::Category;
use crate::core::trigger::{Binding, Condition, Test, Trigger};

/// A field of the configuration that is missing or of the wrong type.
pub struct FieldError(pub String);

fn field(obj: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

fn path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        text::concat(&[parent, ".", name])
    }
}

fn text(obj: &JsValue, parent: &str, name: &str) -> Result<String, FieldError> {
    field(obj, name)
        .as_string()
        .ok_or_else(|| FieldError(path(parent, name) + ": must be a string"))
}

fn text_or(obj: &JsValue, parent: &str, name: &str, default: &str) -> Result<String, FieldError> {
    if absent(&field(obj, name)) {
        Ok(default.to_owned())
    } else {
        text(obj, parent, name)
    }
}

fn flag(obj: &JsValue, parent: &str, name: &str, default: bool) -> Result<bool, FieldError> {
    let v = field(obj, name);
    if absent(&v) {
        return Ok(default);
    }
    v.as_bool()
        .ok_or_else(|| FieldError(path(parent, name) + ": must be true or false"))
}

fn number(obj: &JsValue, parent: &str, name: &str) -> Result<Option<f64>, FieldError> {
    let v = field(obj, name);
    if absent(&v) {
        return Ok(None);
    }
    v.as_f64()
        .map(Some)
        .ok_or_else(|| FieldError(path(parent, name) + ": must be a number"))
}

fn amount(obj: &JsValue, parent: &str, name: &str) -> Result<Option<Amount>, FieldError> {
    let v = field(obj, name);
    if absent(&v) {
        return Ok(None);
    }
    if let Some(n) = v.as_f64() {
        return Ok(Some(Amount::Fixed(n)));
    }
    let at = path(parent, name);
    if let Some(f) = field(&v, "field").as_string() {
        return Ok(Some(Amount::Field { field: f }));
    }
    match field(&v, "prop").as_string() {
        Some(p) => Ok(Some(Amount::Prop { prop: p })),
        None => Err(FieldError(at + ": must be a number, {field} or {prop}")),
    }
}

fn event(v: &JsValue, at: &str) -> Result<EventDef, FieldError> {
    let category = text(v, at, "category")?;
    let scope = text_or(v, at, "scope", "org")?;
    Ok(EventDef {
        id: text(v, at, "id")?,
        name: text_or(v, at, "name", "")?,
        category: Category::parse(&category).ok_or_else(|| {
            FieldError(path(at, "category") + ": must be lead, engagement, click or conversion")
        })?,
        scope: Scope::parse(&scope)
            .ok_or_else(|| FieldError(path(at, "scope") + ": must be system, org or campaign"))?,
        multi: flag(v, at, "multi", false)?,
        revenue: amount(v, at, "revenue")?,
        payout: amount(v, at, "payout")?,
    })
}

/// Reads the configuration; the error names the first bad field.
pub fn read(v: &JsValue) -> Result<Config, FieldError> {
    if !v.is_object() {
        return Err(FieldError("configuration: must be an object".into()));
    }
    let system = field(v, "system");
    let events = field(v, "events");
    let events = if absent(&events) {
        Vec::new()
    } else {
        let list = events
            .dyn_ref::<js_sys::Array>()
            .ok_or_else(|| FieldError("events: must be an array".into()))?;
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            out.push(event(
                &e,
                &text::concat(&["events[", &decimal::string(i as u64), "]"]),
            )?);
        }
        out
    };
    let cookie_days = number(v, "", "cookie_days")?.unwrap_or(DEFAULT_COOKIE_DAYS as f64);
    let cookie_domain = field(v, "cookie_domain");
    Ok(Config {
        campaign: text(v, "", "campaign")?,
        collector: text(v, "", "collector")?,
        cookie_days: cookie_days as u32,
        cookie_domain: if absent(&cookie_domain) {
            None
        } else {
            Some(text(v, "", "cookie_domain")?)
        },
        click_with_base: flag(v, "", "click_with_base", true)?,
        system: SystemEvents {
            base: text(&system, "system", "base")?,
            click_sold: text(&system, "system", "click_sold")?,
            form_sold: text(&system, "system", "form_sold")?,
            call_sold: text(&system, "system", "call_sold")?,
        },
        events,
    })
}

fn condition(v: &JsValue, at: &str) -> Result<Condition, FieldError> {
    let test = text(v, at, "test")?;
    let test = match test.as_str() {
        "present" => Test::Present,
        "equals" => Test::Equals,
        "one_of" => Test::OneOf,
        "matches" => Test::Matches,
        "between" => Test::Between,
        _ => return Err(FieldError(path(at, "test") + ": unknown test")),
    };
    let values = field(v, "values");
    let values = match values.dyn_ref::<js_sys::Array>() {
        Some(list) => list.iter().filter_map(|x| x.as_string()).collect(),
        None => Vec::new(),
    };
    let value = field(v, "value");
    Ok(Condition {
        field: text(v, at, "field")?,
        test,
        value: if absent(&value) {
            None
        } else {
            Some(text(v, at, "value")?)
        },
        values,
        min: number(v, at, "min")?,
        max: number(v, at, "max")?,
    })
}

fn trigger(v: &JsValue, at: &str) -> Result<Trigger, FieldError> {
    let on = text(v, at, "on")?;
    let selector = || text(v, at, "selector");
    let whole = |name| number(v, at, name).map(|n| n.unwrap_or(0.0) as u32);
    Ok(match on.as_str() {
        "page_load" => {
            let url = field(v, "url");
            Trigger::PageLoad {
                url: if absent(&url) {
                    None
                } else {
                    Some(text(v, at, "url")?)
                },
            }
        }
        "click" => Trigger::Click {
            selector: selector()?,
        },
        "submit" => {
            let list = field(v, "conditions");
            let mut conditions = Vec::new();
            if let Some(list) = list.dyn_ref::<js_sys::Array>() {
                for (i, c) in list.iter().enumerate() {
                    conditions.push(condition(
                        &c,
                        &text::concat(&[at, ".conditions[", &decimal::string(i as u64), "]"]),
                    )?);
                }
            }
            Trigger::Submit {
                selector: selector()?,
                conditions,
            }
        }
        "field_completed" => Trigger::FieldCompleted {
            selector: selector()?,
        },
        "scroll" => Trigger::Scroll {
            percent: whole("percent")?,
        },
        "engaged" => Trigger::Engaged {
            seconds: whole("seconds")?,
        },
        "seen" => Trigger::Seen {
            selector: selector()?,
        },
        "route" => Trigger::Route {
            url: text(v, at, "url")?,
        },
        "api" => Trigger::Api,
        _ => return Err(FieldError(path(at, "on") + ": unknown trigger")),
    })
}

/// Reads the campaign's bindings. A bad binding is left out and named (the rest still run): an
/// invalid part of a configuration never stops the valid parts.
pub fn read_bindings(v: &JsValue, cfg: &Config) -> (Vec<Binding>, Vec<FieldError>) {
    let mut bindings = Vec::new();
    let mut errors = Vec::new();
    let list = field(v, "bindings");
    let Some(list) = list.dyn_ref::<js_sys::Array>() else {
        return (bindings, errors);
    };
    for (i, b) in list.iter().enumerate() {
        let at = text::concat(&["bindings[", &decimal::string(i as u64), "]"]);
        let read = text(&b, &at, "event").and_then(|event| {
            let trigger = trigger(&field(&b, "trigger"), &path(&at, "trigger"))?;
            if cfg.event(&event).is_none() {
                return Err(FieldError(
                    path(&at, "event") + ": not an event of this campaign",
                ));
            }
            let mut problems = Vec::new();
            trigger.validate(&path(&at, "trigger"), &mut problems);
            match problems.into_iter().next() {
                Some(p) => Err(FieldError(text::concat(&[p.path.as_str(), ": ", p.reason]))),
                None => Ok(Binding { event, trigger }),
            }
        });
        match read {
            Ok(b) => bindings.push(b),
            Err(e) => errors.push(e),
        }
    }
    (bindings, errors)
}
