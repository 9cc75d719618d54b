//! Sending batches to the collector: `fetch` with keepalive (so a request outlives the page),
//! and `sendBeacon` for what is left when the page goes away.

use wasm_bindgen::JsValue;

/// The collector's answer: HTTP status (`None` for a network error) and `Retry-After`.
pub struct Answer {
    /// HTTP status.
    pub status: Option<u16>,
    /// `Retry-After` header.
    pub retry_after: Option<String>,
}

/// POSTs `body` as `text/plain` (a string body gets `text/plain;charset=UTF-8`: a CORS-simple
/// request, no preflight).
pub async fn post(url: &str, body: &str) -> Answer {
    let failed = Answer {
        status: None,
        retry_after: None,
    };
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_credentials(web_sys::RequestCredentials::Omit);
    init.set_mode(web_sys::RequestMode::Cors);
    // web-sys and gloo-net have no keepalive setter; the field is standard.
    let _ = js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    let Ok(request) = web_sys::Request::new_with_str_and_init(url, &init) else {
        return failed;
    };
    match gloo_net::http::Request::from(request).send().await {
        Ok(r) => Answer {
            status: Some(r.status()),
            retry_after: r.headers().get("retry-after"),
        },
        Err(_) => failed,
    }
}

/// Hands `body` to `navigator.sendBeacon`; `false` when the browser refused it (quota).
pub fn beacon(url: &str, body: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.navigator().send_beacon_with_opt_str(url, Some(body)).ok())
        .unwrap_or(false)
}
