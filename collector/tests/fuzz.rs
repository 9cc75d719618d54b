//! Fuzzing: the ingest body, the configuration file, the admin bodies and the postback
//! templates. Every input is answered with a 4xx or accepted, and nothing panics.
//!
//! The test command runs a short round (`PROPTEST_CASES`, 64 by default here); a long run:
//! `PROPTEST_CASES=20000 cargo test --release -p collector --test fuzz`.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use collector::postback::{self, BodyType, Method, Postback};
use collector::server::Limits;
use proptest::prelude::*;
use serde_json::{json, Value};

mod common;

use common::{catalog_json, event, hardened, send, uid, ORIGIN};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64)
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        "[0-9a-f-]{36}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid event with some of its fields replaced by anything.
fn mangled_event() -> impl Strategy<Value = Value> {
    let fields = [
        "uid",
        "event_id",
        "category",
        "scope",
        "txn",
        "visitor",
        "session",
        "ts",
        "seq",
        "page",
        "attribution",
        "data",
        "consent",
        "revenue",
        "payout",
        "gpc",
        "bot",
        "extra",
    ];
    (
        prop::collection::vec((prop::sample::select(fields.to_vec()), json_value()), 0..4),
        0u32..1000,
    )
        .prop_map(|(changes, n)| {
            let mut e = event(&uid(n), "quote", "engagement");
            for (field, value) in changes {
                e[field] = value;
            }
            e
        })
}

/// One collector for the whole run (a fresh one per case would measure the file system).
fn collector() -> &'static (Router, tokio::runtime::Runtime) {
    static APP: OnceLock<(Router, tokio::runtime::Runtime)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let limits = Limits {
            per_client: 1_000_000,
            per_campaign: 1_000_000,
            ..Limits::default()
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let app = rt.block_on(async { hardened(dir, Some("secret"), &limits) });
        (app, rt)
    })
}

fn answer(req: Request<Body>) -> (StatusCode, Value) {
    let (app, rt) = collector();
    let (s, v, _) = rt.block_on(send(app, req));
    (s, v)
}

/// A 2xx, or a 4xx with a JSON error: never a 5xx.
fn handled(s: StatusCode, v: &Value) -> Result<(), TestCaseError> {
    prop_assert!(
        s.is_success() || (s.is_client_error() && v["error"].is_string()),
        "{s} {v}"
    );
    Ok(())
}

fn ingest(body: Vec<u8>) -> Request<Body> {
    Request::post("/v1/events")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from(body))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn ingest_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (s, v) = answer(ingest(body));
        handled(s, &v)?;
    }

    #[test]
    fn ingest_takes_any_batch_of_mangled_events(
        events in prop::collection::vec(mangled_event(), 0..8),
        cid in prop_oneof![Just(json!("c1")), json_value()],
        v in prop_oneof![Just(json!(1)), json_value()],
    ) {
        let body = json!({"v": v, "cid": cid, "sent_at": 1_764_190_000_200u64, "events": events});
        let (s, answer_body) = answer(ingest(body.to_string().into_bytes()));
        handled(s, &answer_body)?;
        if s == StatusCode::OK {
            // Every event is accounted for: accepted, duplicate or rejected.
            let n = ["accepted", "duplicates", "rejected"]
                .iter()
                .map(|k| answer_body[k].as_array().map_or(0, Vec::len))
                .sum::<usize>();
            prop_assert_eq!(n, body["events"].as_array().unwrap().len());
        }
    }

    #[test]
    fn the_configuration_file_takes_any_document(doc in json_value(), campaign in json_value()) {
        // Anything at the top, and anything as a campaign of a valid organization.
        let _ = collector::catalog::read(doc);
        let mut c = catalog_json();
        c["organizations"][0]["campaigns"][1] = campaign;
        let _ = collector::catalog::read(c);
    }

    #[test]
    fn admin_bodies_are_answered_4xx_or_accepted(
        body in prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,200}"],
        route in prop::sample::select(vec![
            ("POST", "/admin/orgs/o/events"),
            ("PUT", "/admin/orgs/o/events/quote"),
            ("POST", "/admin/campaigns/c2/events"),
            ("PUT", "/admin/campaigns/c1/bindings"),
            ("PUT", "/admin/ingest"),
            ("POST", "/admin/orgs/o/keys"),
            ("POST", "/v1/server-events"),
        ]),
    ) {
        let req = Request::builder()
            .method(route.0)
            .uri(route.1)
            .header(header::AUTHORIZATION, "Bearer secret")
            .body(Body::from(body))
            .unwrap();
        let (s, v) = answer(req);
        handled(s, &v)?;
        // Whatever was accepted, ingest is still on.
        let off = Request::put("/admin/ingest")
            .header(header::AUTHORIZATION, "Bearer secret")
            .body(Body::from(r#"{"paused":false}"#))
            .unwrap();
        prop_assert_eq!(answer(off).0, StatusCode::OK);
    }

    #[test]
    fn any_template_is_checked_without_panicking(template in ".{0,80}", body in ".{0,80}") {
        let p = Postback {
            event: "form_sold".into(),
            method: Method::Post,
            url: template.clone(),
            body: Some(body),
            content_type: Some(BodyType::Json),
        };
        let _ = postback::check(&p);
        let _ = postback::render(&template, postback::Escape::Url, |m| m.to_owned());
    }

    #[test]
    fn no_value_changes_the_shape_of_what_it_lands_in(value in ".{0,60}", key in "[a-z]{1,8}") {
        // A valid URL stays a URL with the value whole in its query (a value of dots only is
        // left empty in a URL: it could climb the receiver's path).
        let url = postback::render("https://s.example/pb?x={sub1}&y=1", postback::Escape::Url, |_| value.clone());
        let parsed = reqwest::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let whole = match !value.is_empty() && value.chars().all(|c| c == '.') {
            true => String::new(),
            false => value.clone(),
        };
        prop_assert_eq!(pairs, vec![("x".to_owned(), whole), ("y".to_owned(), "1".to_owned())]);
        // A JSON body stays the same JSON, with the value whole in its string.
        let template = format!("{{\"{key}\":\"{{sub1}}\",\"n\":1}}");
        let rendered = postback::render(&template, postback::Escape::Json, |_| value.clone());
        let parsed: Value = serde_json::from_str(&rendered).unwrap();
        prop_assert_eq!(parsed, json!({key: value, "n": 1}));
    }
}
