//! Reads what a page passes to `PT.event` and `PT.click` into the core's serde types
//! ([`Props`], [`ClickOptions`]), and the collector's answer into [`IngestReply`].
//!
//! By hand over `Object.entries` rather than `serde_wasm_bindgen::from_value`: any serde
//! deserialization through serde-wasm-bindgen links its type errors, whose messages format floats
//! and escape strings (`Unexpected::Float`, `Unexpected::Str`): measured +19.9 KB gzip of the
//! first download (68.4 KB with it, 48.5 KB without), half the 41 KB budget on its own. The
//! browser tests hold this reader to serde's on one set of fixtures
//! (`web/tests/web.rs`, `the_hand_reader_reads_what_serde_reads`).

use clickscript_core::props::{ClickOptions, Prop, Props};
use clickscript_core::wire::{IngestReply, Rejection};
use wasm_bindgen::{JsCast, JsValue};

use clickscript_core::decimal;

use crate::globals::{get, object_entries};

/// `[key, value]` pairs of an object's own enumerable string keys, in the page's order (an
/// array's by index, holes read as `undefined`, as serde-wasm-bindgen reads them); none when
/// `v` is not an object or reading it throws.
fn entries(v: &JsValue) -> Vec<(String, JsValue)> {
    if let Some(list) = v.dyn_ref::<js_sys::Array>() {
        return (0..list.length())
            .map(|i| (decimal::string(i.into()), list.get(i)))
            .collect();
    }
    if !v.is_object() {
        return Vec::new();
    }
    object_entries(v)
        .unwrap_or_default()
        .iter()
        .filter_map(|pair| {
            let pair: &js_sys::Array = pair.unchecked_ref();
            Some((pair.get(0).as_string()?, pair.get(1)))
        })
        .collect()
}

/// One value as [`Prop`] reads it.
pub fn prop(v: &JsValue) -> Prop {
    if let Some(b) = v.as_bool() {
        Prop::Bool(b)
    } else if let Some(n) = v.as_f64() {
        Prop::Number(n)
    } else if let Some(s) = v.as_string() {
        Prop::Text(s)
    } else if v.is_undefined() || v.is_null() {
        Prop::Nothing
    } else {
        Prop::Other
    }
}

/// An object's (or an array's) values as [`Props`] reads them.
pub fn props(v: &JsValue) -> Props {
    let mut props = Props {
        list: js_sys::Array::is_array(v),
        ..Props::default()
    };
    for (k, v) in entries(v) {
        props.fields.insert(k, prop(&v));
    }
    props
}

/// `PT.click`'s options; `None` when they are not an object.
pub fn click_options(v: &JsValue) -> Option<ClickOptions> {
    if !v.is_object() {
        return None;
    }
    let option = |name| Some(prop(&get(v, name))).filter(|p| *p != Prop::Nothing);
    Some(ClickOptions {
        pid: option("pid"),
        source_id: option("source_id"),
        transaction_id: option("transaction_id"),
        subids: props(&get(v, "subids")),
        parameters: props(&get(v, "parameters")),
    })
}

/// The collector's answer to a batch (its 2xx JSON).
pub fn ingest_reply(v: &JsValue) -> IngestReply {
    let texts = |name| -> Vec<String> {
        entries(&get(v, name))
            .into_iter()
            .filter_map(|(_, u)| u.as_string())
            .collect()
    };
    IngestReply {
        accepted: texts("accepted"),
        duplicates: texts("duplicates"),
        rejected: entries(&get(v, "rejected"))
            .into_iter()
            .map(|(_, r)| Rejection {
                uid: get(&r, "uid").as_string().unwrap_or_default(),
                error: get(&r, "error").as_string().unwrap_or_default(),
            })
            .collect(),
    }
}
