//! Sending batches to the collector: `fetch` (with keepalive for small batches, so that the
//! request outlives the page), and `sendBeacon` for what is left when the page goes away.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::globals::{get, set, Navigator, Response, Window};

/// The collector's answer: HTTP status (`None` for a network error) and `Retry-After`.
pub struct Answer {
    /// HTTP status.
    pub status: Option<u16>,
    /// `Retry-After` header.
    pub retry_after: Option<String>,
}

/// POSTs `body` as `text/plain` (a string body gets `text/plain;charset=UTF-8`: a CORS-simple
/// request, no preflight) and hands the collector's answer to `done`. `keepalive` lets the
/// request outlive the page (`MAX_KEEPALIVE_BYTES` says when).
///
/// `fetch` declared by hand (`globals`) rather than gloo-net, and a callback rather than a
/// future: both gloo-net and futures need std, and the browser build is `no_std` for size.
pub fn post(url: &str, body: &str, keepalive: bool, done: impl FnOnce(Answer) + 'static) {
    // A plain object rather than web-sys's RequestInit: one import sets all its fields.
    let init = js_sys::Object::new();
    for (k, v) in [
        ("method", JsValue::from_str("POST")),
        ("body", JsValue::from_str(body)),
        ("credentials", JsValue::from_str("omit")),
        ("keepalive", JsValue::from_bool(keepalive)),
    ] {
        set(&init, k, &v);
    }
    // One callback for both outcomes: a Response when the collector answered, an error when
    // the network failed (fetch's promise is never settled twice).
    let settle = Closure::once_into_js(move |value: JsValue| {
        // A Response has a numeric status; fetch's TypeError has none.
        let status = get(&value, "status").as_f64();
        done(Answer {
            status: status.map(|s| s as u16),
            retry_after: status.and_then(|_| {
                value
                    .unchecked_ref::<Response>()
                    .headers()
                    .get("retry-after")
            }),
        })
    });
    Window::fetch(url, &init).then(&settle, &settle);
}

/// Hands `body` to `navigator.sendBeacon`; `false` when the browser refused it (quota).
pub fn beacon(url: &str, body: &str) -> bool {
    Navigator::send_beacon(url, body).unwrap_or(false)
}
