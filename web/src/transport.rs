//! Sending batches to the collector: gloo-net's `fetch` (with keepalive for small batches, so that
//! the request outlives the page), and `sendBeacon` for what is left when the page goes away.
//! Bodies are JS strings written by the browser's `JSON.stringify` (guarded: [`crate::json`]) from the values that
//! serde-wasm-bindgen made of the core's wire types; they never pass through wasm memory.

use clickscript_core::delivery::Answer;
use clickscript_core::wire::Batch;
use serde::{Serialize, Serializer};
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, RequestCredentials, RequestInit};

use crate::globals::{set, Navigator};

/// An event already serialized, carried into a batch as the JS value its JSON text parses to.
struct Parsed(JsValue);

impl Serialize for Parsed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&self.0, s)
    }
}

/// `value` as JSON text, written by the browser's `JSON.stringify` from the JS value
/// serde-wasm-bindgen makes of it (`json_compatible`: maps as plain objects, integers as numbers).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Option<js_sys::JsString> {
    let js = value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()?;
    crate::json::stringify(&js)
}

/// The body of a batch whose events are the JSON texts the outbox keeps. A text that does not
/// parse (a damaged stored entry) is left out: the collector never sees it, and its uid leaves
/// the outbox with the batch's answer.
pub fn batch_body(batch: &Batch<String>) -> Option<js_sys::JsString> {
    let events = batch
        .events
        .iter()
        .filter_map(|e| crate::json::parse(e).map(Parsed))
        .collect();
    to_json(&Batch {
        v: batch.v,
        cid: batch.cid.clone(),
        sent_at: batch.sent_at,
        events,
    })
}

/// POSTs `body` as `text/plain` (a string body gets `text/plain;charset=UTF-8`: a CORS-simple
/// request, no preflight) and reads the collector's answer. `keepalive` lets the request outlive
/// the page; `signal` aborts it (the caller's timeout), which reads as a network error.
pub async fn post(
    url: &str,
    body: &JsValue,
    keepalive: bool,
    signal: Option<&AbortSignal>,
) -> Answer {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(body);
    init.set_credentials(RequestCredentials::Omit);
    init.set_signal(signal);
    // gloo-net's builder and web-sys's RequestInit have no keepalive setter: set on the object.
    set(&init, "keepalive", &JsValue::from_bool(keepalive));
    let Ok(request) = web_sys::Request::new_with_str_and_init(url, &init) else {
        return Answer::default();
    };
    let Ok(response) = gloo_net::http::Request::from(request).send().await else {
        return Answer::default();
    };
    let status = response.status();
    let retry_after = response.headers().get("retry-after");
    // The collector answers JSON: the uids of a 2xx, or its reason for a refusal.
    let json = match web_sys::Response::from(response).json() {
        Ok(p) => wasm_bindgen_futures::JsFuture::from(p)
            .await
            .unwrap_or(JsValue::UNDEFINED),
        Err(_) => JsValue::UNDEFINED,
    };
    let (reply, error) = if (200..300).contains(&status) {
        (Some(crate::props::ingest_reply(&json)), None)
    } else {
        (None, crate::globals::get(&json, "error").as_string())
    };
    Answer {
        status: Some(status),
        retry_after,
        reply,
        error,
    }
}

/// Hands `body` to `navigator.sendBeacon`; `false` when the browser refused it (quota).
pub fn beacon(url: &str, body: &JsValue) -> bool {
    Navigator::send_beacon(url, body).unwrap_or(false)
}

/// An abort controller for one request, or `None` where the browser has none.
pub fn abort_controller() -> Option<web_sys::AbortController> {
    web_sys::AbortController::new().ok()
}
