//! Sending batches to the collector: `fetch` (with keepalive for small batches, so that the
//! request outlives the page), and `sendBeacon` for what is left when the page goes away.

use crate::prelude::*;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

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
/// `fetch` straight on web-sys rather than gloo-net, and a callback rather than a future: both
/// gloo-net and futures need std, and the browser build is `no_std` for size (see `lib.rs`).
pub fn post(url: &str, body: &str, keepalive: bool, done: impl FnOnce(Answer) + 'static) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_credentials(web_sys::RequestCredentials::Omit);
    init.set_mode(web_sys::RequestMode::Cors);
    // web-sys has no keepalive setter; the field is standard.
    if keepalive {
        let _ = js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    }
    let sent = web_sys::window().map(|w| w.fetch_with_str_and_init(url, &init));
    let Some(promise) = sent else {
        return done(Answer {
            status: None,
            retry_after: None,
        });
    };
    // One callback for both outcomes: a Response when the collector answered, an error when
    // the network failed (fetch's promise is never settled twice).
    let settle = Closure::once_into_js(move |value: JsValue| {
        done(match value.dyn_into::<web_sys::Response>() {
            Ok(r) => Answer {
                status: Some(r.status()),
                retry_after: r.headers().get("retry-after").ok().flatten(),
            },
            Err(_) => Answer {
                status: None,
                retry_after: None,
            },
        })
    });
    let settle: &js_sys::Function = settle.unchecked_ref();
    promise.unchecked_ref::<Pending>().then(settle, settle);
}

#[wasm_bindgen]
extern "C" {
    /// `fetch`'s promise, for `then` with plain functions.
    type Pending;
    /// `promise.then(onFulfilled, onRejected)`.
    #[wasm_bindgen(method)]
    fn then(this: &Pending, fulfilled: &js_sys::Function, rejected: &js_sys::Function);
}

/// Hands `body` to `navigator.sendBeacon`; `false` when the browser refused it (quota).
pub fn beacon(url: &str, body: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.navigator().send_beacon_with_opt_str(url, Some(body)).ok())
        .unwrap_or(false)
}
