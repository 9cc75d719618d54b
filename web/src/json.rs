//! The browser's own `JSON.stringify` and `JSON.parse`, as the clickscript can trust them on any
//! page. A page may replace them (after the tag ran, or before), and old libraries (Prototype.js)
//! add `toJSON` to the built-in prototypes, which makes `JSON.stringify` write an array as a
//! string: the collector would refuse every batch. So:
//! - the pair is taken once, at the first use (the first event), and kept: a later replacement
//!   does not reach the bodies;
//! - it is checked on a round trip of what serde-wasm-bindgen makes (objects, arrays, strings,
//!   numbers, booleans, null); a page's pair that fails is replaced by a fresh realm's (an empty
//!   same-origin frame, added and removed at once);
//! - built-in prototypes' own `toJSON` are set aside for the length of each call, and put back
//!   as they were (their property descriptors: a non-enumerable one stays non-enumerable).
//!
//! Every call here goes through a guarded (`catch`) declaration, so nothing a page did to these
//! globals throws through the wasm.

use std::cell::OnceCell;

use js_sys::{Function, JsString};
use wasm_bindgen::{JsCast, JsValue};

use crate::globals::{get, Document, Reflect};

/// The checked pair, and the prototypes whose `toJSON` each call sets aside.
struct Json {
    stringify: Function,
    parse: Function,
    prototypes: [JsValue; 5],
}

thread_local! {
    static JSON: OnceCell<Option<Json>> = const { OnceCell::new() };
}

/// What the round trip checks: every JSON type serde-wasm-bindgen writes.
const PROBE: &str = r#"{"a":[1.5,"é\"",true,null,{}],"b":-2}"#;

impl Json {
    /// `JSON` of the realm whose global object is `global`.
    fn of(global: &JsValue) -> Option<Json> {
        let json = get(global, "JSON");
        Some(Json {
            stringify: get(&json, "stringify").dyn_into().ok()?,
            parse: get(&json, "parse").dyn_into().ok()?,
            prototypes: [
                js_sys::Object::new().into(),
                js_sys::Array::new().into(),
                JsValue::from_str(""),
                JsValue::from_f64(0.0),
                JsValue::TRUE,
            ]
            .map(|v| crate::globals::prototype_of(&v).unwrap_or_default()),
        })
    }

    fn stringify(&self, v: &JsValue) -> Option<JsString> {
        // The own `toJSON` descriptors set aside (undefined: none, or none to touch).
        let mut aside: [JsValue; 5] = Default::default();
        for (p, a) in self.prototypes.iter().zip(&mut aside) {
            *a = Reflect::own_property(p, TO_JSON).unwrap_or_default();
            if !a.is_undefined() && !Reflect::delete_property(p, TO_JSON).unwrap_or(false) {
                *a = JsValue::UNDEFINED;
            }
        }
        let text = self.stringify.call1(&JsValue::NULL, v);
        for (p, a) in self.prototypes.iter().zip(&aside) {
            if !a.is_undefined() {
                let _ = Reflect::define_property(p, TO_JSON, a);
            }
        }
        text.ok()?.dyn_into().ok()
    }

    fn parse(&self, text: &str) -> Option<JsValue> {
        self.parse.call1(&JsValue::NULL, &text.into()).ok()
    }

    /// Whether this pair writes back what it read of [`PROBE`].
    fn works(&self) -> bool {
        let round_trip = self.parse(PROBE).and_then(|v| self.stringify(&v));
        round_trip.is_some_and(|t| t == PROBE)
    }
}

const TO_JSON: &str = "toJSON";

/// A fresh realm's global object: an empty frame's window, taken while the frame is in the page
/// (the same task adds and removes it, so the page never renders it).
fn fresh_realm() -> Option<JsValue> {
    let frame = Document::create_element("iframe").ok()?;
    let root: web_sys::Element = Document::root().dyn_into().ok()?;
    root.insert_adjacent_element("beforeend", &frame).ok()?;
    let window = get(&frame, "contentWindow");
    frame.remove();
    Some(window)
}

fn with<R>(f: impl FnOnce(&Json) -> Option<R>) -> Option<R> {
    JSON.with(|j| {
        j.get_or_init(|| match Json::of(&js_sys::global()) {
            Some(json) if json.works() => Some(json),
            _ => Json::of(&fresh_realm()?).filter(Json::works),
        })
        .as_ref()
        .and_then(f)
    })
}

/// `JSON.stringify(v)`; `None` when no working `JSON` was found or `v` cannot be written.
pub fn stringify(v: &JsValue) -> Option<JsString> {
    with(|j| j.stringify(v))
}

/// `JSON.parse(text)`; `None` when no working `JSON` was found or `text` is not JSON.
pub fn parse(text: &str) -> Option<JsValue> {
    with(|j| j.parse(text))
}
