//! Reads the served configuration from the plain object the loader hands over.
//!
//! Hand-written over `Reflect` rather than serde's `Deserialize`: the derive pulls serde's error
//! formatting (floats included) into the wasm, about 25 KB gzip of a 30 KB budget. The collector
//! has already validated the configuration with the derive; here a wrong field is still named.

use wasm_bindgen::{JsCast, JsValue};

use crate::core::config::{Config, EventDef, Scope, SystemEvents, DEFAULT_COOKIE_DAYS};
use crate::core::event::Category;

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
        [parent, ".", name].concat()
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
        revenue: number(v, at, "revenue")?,
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
            out.push(event(&e, &["events[", &i.to_string(), "]"].concat())?);
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
