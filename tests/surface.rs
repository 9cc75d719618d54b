//! The clickscript's own `#[wasm_bindgen]` surface (what `window.PT` calls) in headless Chromium,
//! against a collector that cannot be reached: the lead is made, events are recorded write-ahead,
//! and a failed delivery is reported without throwing.
#![cfg(target_arch = "wasm32")]

use clickscript::api;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

fn stored_outbox() -> String {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    (0..storage.length().unwrap())
        .filter_map(|i| storage.key(i).unwrap())
        .filter(|k| k.starts_with("pt_ob_surface_"))
        .filter_map(|k| storage.get_item(&k).unwrap())
        .collect()
}

#[wasm_bindgen_test]
async fn pt_starts_once_records_write_ahead_and_reports_a_failed_delivery() {
    // Port 9 (discard) is closed on loopback: every attempt fails like a dropped network.
    let config = js(r#"{"campaign":"surface","collector":"http://127.0.0.1:9",
        "system":{"base":"base","click_sold":"click_sold","form_sold":"form_sold","call_sold":"call_sold"},
        "events":[{"id":"base","category":"lead","scope":"system"},
                  {"id":"click_sold","category":"click","scope":"system"},
                  {"id":"quote","category":"engagement","multi":true,"revenue":{"prop":"value"}}]}"#);
    assert!(api::start(config.clone(), false, JsValue::UNDEFINED));
    assert!(
        !api::start(config, false, JsValue::UNDEFINED),
        "a second copy of the tag does nothing"
    );
    let txn = api::transaction_id().as_string().unwrap();
    assert_eq!(txn.len(), 36);
    assert!(api::event(
        "quote".into(),
        js(r#"{"value":12,"plan":"gold","nested":{}}"#),
        None,
        None
    ));
    assert!(!api::event(
        "no_such_event".into(),
        JsValue::UNDEFINED,
        None,
        None
    ));
    assert!(!api::event(
        JsValue::from(42),
        JsValue::UNDEFINED,
        None,
        None
    ));
    let flushed = JsFuture::from(api::flush()).await.unwrap();
    assert_eq!(flushed, JsValue::FALSE, "the failed attempt is reported");
    let outbox = stored_outbox();
    for needle in [
        r#""event_id":"base""#,
        r#""event_id":"click_sold""#,
        r#""event_id":"quote""#,
        r#""revenue":12"#,
        r#""data":{"value":12,"plan":"gold"}"#,
        txn.as_str(),
    ] {
        assert!(outbox.contains(needle), "{needle} in {outbox}");
    }
    assert_eq!(
        api::click(js(r#"{"pid":7}"#), None, None)
            .as_string()
            .as_deref(),
        Some(txn.as_str()),
        "PT.click answers the lead's transaction"
    );
}
