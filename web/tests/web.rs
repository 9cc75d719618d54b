//! Browser adapters in headless Chromium (`wasm-pack test --headless --chrome`).
#![cfg(target_arch = "wasm32")]

use clickscript_core::event::Event;
use clickscript_core::wire::Batch;
use clickscript_web::{cookie, storage::Store, transport};
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

#[wasm_bindgen_test]
async fn a_network_error_has_no_status() {
    // Port 9 (discard) is closed on loopback: the fetch fails like a dropped network.
    let answer = transport::post("http://127.0.0.1:9/v1/events", &"{}".into(), true, None).await;
    assert_eq!(answer.status, None);
    assert_eq!(answer.retry_after, None);
}

#[wasm_bindgen_test]
async fn an_aborted_request_reads_as_a_network_error() {
    let controller = transport::abort_controller().unwrap();
    controller.abort();
    let signal = controller.signal();
    let answer = transport::post(
        "http://127.0.0.1:9/v1/events",
        &"{}".into(),
        false,
        Some(&signal),
    )
    .await;
    assert_eq!(answer.status, None);
}

#[wasm_bindgen_test]
fn a_beacon_is_handed_to_the_browser() {
    assert!(transport::beacon(
        "http://127.0.0.1:9/v1/events",
        &"{}".into()
    ));
    // Far over the 64 KiB beacon quota: refused, not thrown.
    assert!(!transport::beacon(
        "http://127.0.0.1:9/v1/events",
        &"z".repeat(70 * 1024).into()
    ));
}

fn event() -> Event {
    let mut e: Event = serde_json::from_str(
        r#"{"uid":"0193b8a2-f00c-7c1e-8e4a-1c2b3d4e5f60","event_id":"base","category":"lead",
        "scope":"system","txn":"t","visitor":"v","session":"s","ts":1764190000100,"seq":1,
        "page":{"url":"https://lp.example/?a=1","title":"Quotes \u2713 \"q\"\n"},
        "attribution":{"params":{"utm_source":"g"},"click_ids":{"gclid":"G"}},
        "data":{"plan":"gold","n":12.5,"ok":true,"big":1e21,"tiny":-0.000123},"revenue":25}"#,
    )
    .unwrap();
    e.payout = Some(3.0);
    e
}

#[wasm_bindgen_test]
fn events_written_by_json_stringify_are_what_serde_writes() {
    let text: String = transport::to_json(&event()).unwrap().into();
    // Numbers as JavaScript writes them (`3`, not serde_json's `3.0`): the same JSON numbers.
    assert!(text.contains(r#""revenue":25,"payout":3,"#), "{text}");
    let back: Event = serde_json::from_str(&text).unwrap();
    assert_eq!(back, event());
    // Key order is the struct's and the data's own, as the hand-written writer kept it.
    assert!(text.starts_with(r#"{"uid":"#), "{text}");
    assert!(
        text.contains(r#""data":{"plan":"gold","n":12.5,"ok":true,"big":1e+21"#),
        "{text}"
    );
}

#[wasm_bindgen_test]
fn a_batch_body_is_the_envelope_with_each_event_in_place_and_its_length_is_known() {
    let one: String = transport::to_json(&event()).unwrap().into();
    let batch = Batch {
        v: 1,
        cid: "demo".into(),
        sent_at: 1_764_190_000_123,
        events: vec![one.clone(), one],
    };
    let body: String = transport::batch_body(&batch).unwrap().into();
    assert_eq!(body.len(), batch.json_len(), "{body}");
    let read: Batch = serde_json::from_str(&body).unwrap();
    assert_eq!(read.events, vec![event(), event()]);
    assert_eq!(
        (read.cid.as_str(), read.sent_at),
        ("demo", 1_764_190_000_123)
    );
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
            "cookie_days: must be a whole number",
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

#[wasm_bindgen_test]
fn every_trigger_kind_is_read_as_serde_reads_it() {
    let triggers = r##"[{"on":"page_load"},{"on":"page_load","url":"*/thanks*"},
        {"on":"click","selector":"a.offer"},
        {"on":"submit","selector":"#quote","conditions":[{"field":"zip","test":"matches","value":"9*"}]},
        {"on":"field_completed","selector":"input[name=email]"},{"on":"scroll","percent":75},
        {"on":"engaged","seconds":30},{"on":"seen","selector":"#pricing"},{"on":"route","url":"/step/*"},
        {"on":"form_started","selector":"#quote"},{"on":"form_completed","selector":"#quote"},
        {"on":"form_abandoned","selector":"form"},{"on":"api"}]"##;
    let serde: Vec<clickscript_core::trigger::Trigger> = serde_json::from_str(triggers).unwrap();
    let bindings: Vec<String> = serde
        .iter()
        .map(|t| {
            format!(
                r#"{{"event":"q","trigger":{}}}"#,
                serde_json::to_string(t).unwrap()
            )
        })
        .collect();
    let config = js(&format!(
        r#"{{"campaign":"c","collector":"http://x",{SYSTEM},
        "events":[{{"id":"base","category":"lead","scope":"system"}},{{"id":"q","category":"engagement"}}],
        "bindings":[{}]}}"#,
        bindings.join(",")
    ));
    let cfg = clickscript_web::config::read(&config).ok().unwrap();
    let (read, problems) = clickscript_web::config::read_bindings(&config, &cfg);
    assert!(problems.is_empty());
    let read: Vec<_> = read.into_iter().map(|b| b.trigger).collect();
    assert_eq!(read, serde);
}

/// One set of served configurations, valid and with each kind of wrong field, read by the
/// browser's hand reader and by the core's serde types: they must agree on every one (the
/// reader stands in for serde-wasm-bindgen, whose type errors cost 20 KB of the first download).
#[wasm_bindgen_test]
fn the_configuration_reader_reads_what_serde_reads() {
    let ok = |rest: &str| {
        format!(
            r#"{{"campaign":"c","collector":"http://x",{SYSTEM},"events":[{{"id":"base","category":"lead","scope":"system"}}]{rest}}}"#
        )
    };
    let event = |fields: &str| {
        ok(&format!(
            r#","events":[{{"id":"e","category":"click"{fields}}}]"#
        ))
        .replacen(
            r#""events":[{"id":"base","category":"lead","scope":"system"}],"#,
            "",
            1,
        )
    };
    let fixtures = [
        ok(""),
        ok(r#","cookie_days":7,"cookie_domain":"auto","click_with_base":false"#),
        ok(r#","cookie_domain":null"#),
        ok(r#","gpc":"base_only""#),
        ok(r#","allowed_origins":["https://lp.example","http://127.0.0.1:8080"]"#),
        ok(r#","allowed_origins":"https://lp.example""#),
        ok(r#","allowed_origins":[7]"#),
        ok(r#","allowed_origins":null"#),
        ok(r#","gpc":"record""#),
        ok(r#","gpc":"always""#),
        ok(r#","gpc":null"#),
        ok(r#","gpc":1"#),
        event(
            r#","name":"E","scope":"campaign","multi":true,"revenue":2.5,"payout":{"field":"fee"}"#,
        ),
        event(r#","revenue":{"prop":"value"},"payout":null"#),
        // Each kind of wrong field.
        r#"{"collector":"http://x"}"#.to_string(),
        format!(r#"{{"campaign":7,"collector":"http://x",{SYSTEM}}}"#),
        r#"{"campaign":"c","collector":"http://x"}"#.to_string(),
        r#"{"campaign":"c","collector":"http://x","system":{"base":"b"}}"#.to_string(),
        ok(r#","cookie_days":"30""#),
        ok(r#","cookie_days":30.5"#),
        ok(r#","cookie_days":-1"#),
        ok(r#","cookie_days":null"#),
        ok(r#","click_with_base":"no""#),
        ok(r#","click_with_base":null"#),
        ok(r#","cookie_domain":5"#),
        event(r#","category":"sale""#).replacen(r#""category":"click","#, "", 1),
        event(r#","scope":"global""#),
        event(r#","multi":"yes""#),
        event(r#","multi":null"#),
        event(r#","revenue":"25""#),
        event(r#","revenue":{"other":"x"}"#),
        event(r#","name":7"#),
        event(r#","name":null"#),
        event(r#","scope":null"#),
        ok(r#","events":{}"#).replacen(
            r#""events":[{"id":"base","category":"lead","scope":"system"}],"#,
            "",
            1,
        ),
        ok(r#","events":null"#).replacen(
            r#""events":[{"id":"base","category":"lead","scope":"system"}],"#,
            "",
            1,
        ),
    ];
    for json in &fixtures {
        let serde = serde_json::from_str::<clickscript_core::config::Config>(json);
        let ours = clickscript_web::config::read(&js(json));
        match (serde, ours) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{json}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "they disagree on {json}: serde {:?}, the reader {:?}",
                a.map(|_| "ok").map_err(|e| e.to_string()),
                b.map(|_| "ok").map_err(|e| e.0)
            ),
        }
    }
}

/// Each of `fixtures`, as the value of `key` in a served configuration, is read alike by serde and
/// by the hand reader `read`: the same value, or both refuse it.
fn held_to_serde<T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    key: &str,
    fixtures: &[&str],
    read: fn(&wasm_bindgen::JsValue) -> Result<T, clickscript_web::config::FieldError>,
) {
    for rules in fixtures {
        let serde = serde_json::from_str::<T>(rules);
        let ours = read(&js(&format!(r#"{{"{key}":{rules}}}"#)));
        match (serde, ours) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{rules}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "they disagree on {rules}: serde {:?}, the reader {:?}",
                a.map(|_| "ok").map_err(|e| e.to_string()),
                b.map(|_| "ok").map_err(|e| e.0)
            ),
        }
    }
}

/// The lead capture rules the extension reads are what serde reads, on one set of fixtures.
#[wasm_bindgen_test]
fn the_capture_rules_reader_reads_what_serde_reads() {
    use clickscript_core::capture::CaptureRules;
    let fixtures = [
        r#"{"exclude_fields":["mothers_maiden","x"],"hash_contacts":true}"#,
        r#"{"hash_contacts":false}"#,
        r#"{"exclude_fields":[]}"#,
        r#"{}"#,
        r#"{"exclude_fields":"x"}"#,
        r#"{"exclude_fields":[1]}"#,
        r#"{"exclude_fields":null}"#,
        r#"{"hash_contacts":"yes"}"#,
        r#"{"hash_contacts":null}"#,
        r#""rules""#,
        r#"null"#,
    ];
    held_to_serde::<CaptureRules>("capture", &fixtures, clickscript_web::config::read_capture);
    // Absent: the defaults.
    assert_eq!(
        clickscript_web::config::read_capture(&js("{}")).ok(),
        Some(CaptureRules::default())
    );
}

/// The offer link rules the extension reads are what serde reads, on one set of fixtures.
#[wasm_bindgen_test]
fn the_offer_rules_reader_reads_what_serde_reads() {
    use clickscript_core::offer::OfferRules;
    let fixtures = [
        r#"{"domains":["offers.example","buyer.test"],"param":"tid","subs":["sub1","utm_source"]}"#,
        r#"{"domains":["offers.example"]}"#,
        r#"{}"#,
        r#"{"domains":"offers.example"}"#,
        r#"{"domains":[7]}"#,
        r#"{"domains":null}"#,
        r#"{"param":null}"#,
        r#"{"param":5}"#,
        r#"{"subs":[null]}"#,
        r#"null"#,
        r#"true"#,
    ];
    held_to_serde::<OfferRules>("offers", &fixtures, clickscript_web::config::read_offers);
    assert_eq!(
        clickscript_web::config::read_offers(&js("{}")).ok(),
        Some(OfferRules::default())
    );
}

/// The hand reader of `PT.event` props and `PT.click` options reads what the core's serde types
/// read, on one set of fixtures (it stands in for serde-wasm-bindgen's deserializer, whose type
/// errors cost 20 KB of the first download).
#[wasm_bindgen_test]
fn the_hand_reader_reads_what_serde_reads() {
    use clickscript_core::props::{ClickOptions, Props};
    let props = [
        r#"{"plan":"gold","n":3,"x":-0.5,"ok":true,"nested":{"a":1},"list":[1,2],"none":null,"revenue":"lots","":1}"#,
        r#"["a",2,false,null,{}]"#,
        r#"{}"#,
        r#"[]"#,
        r#""text""#,
        r#"42"#,
        r#"null"#,
        r#"{"é ✓":"ü","big":1e21,"tiny":5e-324}"#,
    ];
    for json in props {
        let serde: Props = serde_json::from_str(json).unwrap();
        assert_eq!(clickscript_web::props::props(&js(json)), serde, "{json}");
    }
    let options = [
        r#"{"pid":7,"subids":["a",2],"source_id":"s","parameters":{"offer":"x"},"cid":"c","other":1}"#,
        r#"{"subids":{"sub3":"c"},"transaction_id":"5f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11"}"#,
        r#"{"pid":null,"subids":null,"parameters":"nope","transaction_id":{}}"#,
        r#"{}"#,
    ];
    for json in options {
        let serde: ClickOptions = serde_json::from_str(json).unwrap();
        assert_eq!(
            clickscript_web::props::click_options(&js(json)),
            Some(serde),
            "{json}"
        );
    }
    // Not an object: serde refuses it, the reader reads no options.
    for json in [r#""garbage""#, "7", "null"] {
        assert!(serde_json::from_str::<ClickOptions>(json).is_err());
        assert_eq!(
            clickscript_web::props::click_options(&js(json)),
            None,
            "{json}"
        );
    }
}
