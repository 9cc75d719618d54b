//! Browser adapters in headless Chromium (`wasm-pack test --headless --chrome`).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use clickscript_web::{cookie, storage::Store, transport};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn local() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

#[wasm_bindgen_test]
fn storage_round_trips_and_lists_keys() {
    let s = Store::open();
    assert!(s.persistent());
    assert!(s.set("pt_test_a", "1"));
    assert!(s.set("pt_test_b", "2"));
    assert_eq!(s.get("pt_test_a").as_deref(), Some("1"));
    assert_eq!(local().get_item("pt_test_b").unwrap().as_deref(), Some("2"));
    let mut keys = s.keys("pt_test_");
    keys.sort();
    assert_eq!(keys, ["pt_test_a", "pt_test_b"]);
    s.remove("pt_test_a");
    s.remove("pt_test_b");
    assert_eq!(s.get("pt_test_a"), None);
}

#[wasm_bindgen_test]
fn blocked_storage_keeps_values_in_memory() {
    let s = Store::memory_only();
    assert!(!s.persistent());
    assert!(
        !s.set("pt_test_blocked", "v"),
        "reports that the value is not persisted"
    );
    assert_eq!(s.get("pt_test_blocked").as_deref(), Some("v"));
    assert_eq!(s.keys("pt_test_blocked"), ["pt_test_blocked"]);
}

#[wasm_bindgen_test]
fn full_storage_keeps_values_in_memory_without_throwing() {
    let ls = local();
    let chunk = "x".repeat(512 * 1024);
    let mut filler = Vec::new();
    for i in 0..64 {
        let k = format!("pt_fill_{i}");
        if ls.set_item(&k, &chunk).is_err() {
            break;
        }
        filler.push(k);
    }
    let s = Store::open();
    let big = "y".repeat(600 * 1024);
    assert!(
        !s.set("pt_test_full", &big),
        "the quota error is caught and reported"
    );
    assert_eq!(s.get("pt_test_full").map(|v| v.len()), Some(big.len()));
    for k in &filler {
        ls.remove_item(k).unwrap();
    }
    assert!(
        s.set("pt_test_full", "small"),
        "written through again once there is room"
    );
    assert_eq!(
        ls.get_item("pt_test_full").unwrap().as_deref(),
        Some("small")
    );
    s.remove("pt_test_full");
}

#[wasm_bindgen_test]
fn cookies_are_written_and_read() {
    cookie::set("pt_test_cookie", "abc", 60, None);
    assert_eq!(cookie::get("pt_test_cookie").as_deref(), Some("abc"));
    assert_eq!(cookie::get("pt_test_cook"), None);
    cookie::set("pt_test_cookie", "", 0, None);
    assert_eq!(cookie::get("pt_test_cookie"), None);
}

/// The answer `transport::post` hands to its callback, awaited.
async fn answer_to(url: &str, body: &str) -> transport::Answer {
    let slot = Rc::new(RefCell::new(None));
    let answered = js_sys::Promise::new(&mut |resolve, _reject| {
        let slot = slot.clone();
        transport::post(url, body, true, move |answer| {
            *slot.borrow_mut() = Some(answer);
            let _ = resolve.call0(&JsValue::NULL);
        });
    });
    js_sys::futures::JsFuture::from(answered).await.unwrap();
    let answer = slot.borrow_mut().take();
    answer.expect("post called back")
}

#[wasm_bindgen_test]
async fn a_network_error_has_no_status() {
    // Port 9 (discard) is closed on loopback: the fetch fails like a dropped network.
    let answer = answer_to("http://127.0.0.1:9/v1/events", "{}").await;
    assert_eq!(answer.status, None);
    assert_eq!(answer.retry_after, None);
}

#[wasm_bindgen_test]
fn a_beacon_is_handed_to_the_browser() {
    assert!(transport::beacon("http://127.0.0.1:9/v1/events", "{}"));
    // Far over the 64 KiB beacon quota: refused, not thrown.
    assert!(!transport::beacon(
        "http://127.0.0.1:9/v1/events",
        &"z".repeat(70 * 1024)
    ));
}

fn js(json: &str) -> wasm_bindgen::JsValue {
    js_sys::JSON::parse(json).unwrap()
}

const SYSTEM: &str = r#""system":{"base":"base","click_sold":"click_sold","form_sold":"form_sold","call_sold":"call_sold"}"#;

#[wasm_bindgen_test]
fn the_served_configuration_is_read_with_defaults() {
    let cfg = clickscript_web::config::read(&js(&format!(
        r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"events":[{{"id":"base","category":"lead","scope":"system"}},{{"id":"q","category":"engagement","multi":true,"revenue":2.5}}]}}"#
    )))
    .ok()
    .unwrap();
    assert_eq!(cfg.campaign, "c");
    assert_eq!(cfg.cookie_days, 30);
    assert!(cfg.click_with_base);
    assert_eq!(cfg.cookie_domain, None);
    let q = cfg.event("q").unwrap();
    assert!(q.multi);
    assert_eq!(
        q.revenue,
        Some(clickscript_core::config::Amount::Fixed(2.5))
    );
    assert_eq!(
        cfg.event("base").unwrap().scope,
        clickscript_core::config::Scope::System
    );
}

#[wasm_bindgen_test]
fn a_malformed_configuration_names_the_field() {
    let cases = [
        ("null".to_string(), "configuration: must be an object"),
        (
            r#"{"collector":"http://x"}"#.to_string(),
            "campaign: must be a string",
        ),
        (
            r#"{"campaign":"c","collector":"http://x","system":{}}"#.to_string(),
            "system.base: must be a string",
        ),
        (
            format!(r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"events":{{}}}}"#),
            "events: must be an array",
        ),
        (
            format!(
                r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"events":[{{"id":"a","category":"sale"}}]}}"#
            ),
            "events[0].category: must be",
        ),
        (
            format!(
                r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"events":[{{"id":"a","category":"lead","multi":"yes"}}]}}"#
            ),
            "events[0].multi: must be true or false",
        ),
        (
            format!(r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"cookie_days":"30"}}"#),
            "cookie_days: must be a number",
        ),
        (
            format!(
                r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"events":[{{"id":"a","category":"lead","revenue":"25"}}]}}"#
            ),
            "events[0].revenue: must be a number, {field} or {prop}",
        ),
    ];
    for (json, expected) in cases {
        match clickscript_web::config::read(&js(&json)) {
            Ok(_) => panic!("{json} was accepted"),
            Err(e) => assert!(e.0.starts_with(expected), "{json}: {}", e.0),
        }
    }
}

#[wasm_bindgen_test]
fn bad_bindings_are_left_out_and_named_while_the_rest_run() {
    let config = js(&format!(
        r##"{{"campaign":"c","collector":"http://x",{SYSTEM},
        "events":[{{"id":"base","category":"lead","scope":"system"}},{{"id":"q","category":"engagement"}}],
        "bindings":[
          {{"event":"q","trigger":{{"on":"click","selector":"#ok"}}}},
          {{"event":"q","trigger":{{"on":"hover","selector":"a"}}}},
          {{"event":"q","trigger":{{"on":"submit","selector":"form","conditions":[{{"field":"age","test":"between","min":9,"max":1}}]}}}},
          {{"event":"nope","trigger":{{"on":"api"}}}},
          {{"event":"q","trigger":{{"on":"scroll","percent":0}}}},
          {{"event":"q","trigger":{{"on":"route","url":"/thanks*"}}}}
        ]}}"##
    ));
    let cfg = clickscript_web::config::read(&config).ok().unwrap();
    let (bindings, problems) = clickscript_web::config::read_bindings(&config, &cfg);
    assert_eq!(bindings.len(), 2, "the valid click and route bindings run");
    let problems: Vec<String> = problems.into_iter().map(|p| p.0).collect();
    assert_eq!(
        problems,
        [
            "bindings[1].trigger.on: unknown trigger",
            "bindings[2].trigger.conditions[0].max: is below min: the condition can never hold",
            "bindings[3].event: not an event of this campaign",
            "bindings[4].trigger.percent: must be between 1 and 100",
        ]
    );
}
