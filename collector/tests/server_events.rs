//! Server-side events: a buyer's or call platform's system reports a sale for a lead with its
//! organization's API key, under the page's rules.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

mod common;

use common::{app, batch, event, post, read, send, uid, ORIGIN, TXN};

async fn key(app: &Router, org: &str) -> String {
    let req = Request::post(format!("/admin/orgs/{org}/keys"))
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::from("{}"))
        .unwrap();
    let (_, v, _) = send(app, req).await;
    v["key"].as_str().unwrap().to_owned()
}

fn report(credential: &str, body: Value) -> Request<Body> {
    Request::post("/v1/server-events")
        .header(header::AUTHORIZATION, format!("Bearer {credential}"))
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_sale_reported_by_a_server_follows_the_pages_rules() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let mut base = event(&uid(1), "base", "lead");
    base["attribution"]["params"]["sub1"] = "aff-9".into();
    let (s, _, _) = send(&app, post(batch("c1", vec![base]), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    let o = key(&app, "o").await;

    // Base Form Sold with the buyer's price: stored, carrying the lead's attribution.
    let sold = json!({"transaction_id": TXN, "event_id": "form_sold", "revenue": 40, "payout": 15,
        "data": {"buyer": "acme-insurance"}});
    let (s, v, _) = send(&app, report(&o, sold.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "accepted");
    // Reported again (a retry with no uid): once per lead, so a duplicate.
    let (s, v, _) = send(&app, report(&o, sold)).await;
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("duplicate"))
    );
    // A multi event twice with distinct uids: both stored; the same uid again: a duplicate.
    for (n, expected) in [(10, "accepted"), (11, "accepted"), (11, "duplicate")] {
        let body = json!({"transaction_id": TXN, "event_id": "quote", "uid": uid(n)});
        let (_, v, _) = send(&app, report(&o, body)).await;
        assert_eq!(v["status"], expected, "{n}");
    }
    let (_, lead, _) = read(&app, &format!("/v1/leads/{TXN}")).await;
    let events = lead["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    let sale = events
        .iter()
        .find(|e| e["event_id"] == "form_sold")
        .unwrap();
    assert_eq!(
        sale["source"], "server",
        "the timeline says where it came from"
    );
    assert_eq!(sale["revenue"], 40.0);
    assert_eq!(sale["payout"], 15.0);
    assert_eq!(sale["attribution"]["params"]["sub1"], "aff-9");
    assert_eq!(sale["data"]["buyer"], "acme-insurance");
    assert_eq!(sale["category"], "conversion");
    assert!(events
        .iter()
        .find(|e| e["event_id"] == "base")
        .unwrap()
        .get("source")
        .is_none());

    // An event the campaign does not have: refused, naming it.
    let (s, v, _) = send(
        &app,
        report(&o, json!({"transaction_id": TXN, "event_id": "nope"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("\"nope\" is not an event of campaign"),
        "{v}"
    );
    // Malformed: the field named.
    let (s, v, _) = send(
        &app,
        report(
            &o,
            json!({"transaction_id": TXN, "event_id": "form_sold", "revenue": "lots"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("revenue"), "{v}");
    let (s, _, _) = send(
        &app,
        report(
            &o,
            json!({"transaction_id": TXN, "event_id": "quote", "revenue": -1}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Another organization's key: the same 403 as for a lead that does not exist.
    let p = key(&app, "p").await;
    let (s1, foreign, _) = send(
        &app,
        report(&p, json!({"transaction_id": TXN, "event_id": "form_sold"})),
    )
    .await;
    let absent = "00000000-0000-4000-8000-000000000000";
    let (s2, missing, _) = send(
        &app,
        report(
            &p,
            json!({"transaction_id": absent, "event_id": "form_sold"}),
        ),
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    assert_eq!(
        foreign["error"].as_str().unwrap().replace(TXN, "X"),
        missing["error"].as_str().unwrap().replace(absent, "X")
    );
    // No credential: 401.
    let req = Request::post("/v1/server-events")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_sale_the_page_reported_first_is_kept_and_the_server_is_shown_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let mut sold = event(&uid(2), "call_sold", "conversion");
    sold["revenue"] = json!(12);
    let page = batch("c1", vec![event(&uid(1), "base", "lead"), sold]);
    let (s, _, _) = send(&app, post(page, Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    let o = key(&app, "o").await;
    // The call platform reports the same sale: once per lead, so it is neither stored nor paid
    // again, and the answer shows the copy that counts.
    let body = json!({"transaction_id": TXN, "event_id": "call_sold", "revenue": 25});
    let (s, v, _) = send(&app, report(&o, body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "duplicate");
    assert_eq!(v["kept"]["uid"], uid(2));
    assert_eq!(v["kept"]["source"], "page");
    assert_eq!(v["kept"]["revenue"], 12.0);
    let (_, lead, _) = read(&app, &format!("/v1/leads/{TXN}")).await;
    let calls = lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_id"] == "call_sold")
        .count();
    assert_eq!(calls, 1);

    // Another organization's reporter reusing that event's uid (which `{uid}` shows to traffic
    // sources) for its own lead learns nothing of it.
    let other_txn = "6f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e12";
    let mut lead = event(&uid(50), "base", "lead");
    lead["txn"] = other_txn.into();
    let (s, v, _) = send(&app, post(batch("p1", vec![lead]), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let p = key(&app, "p").await;
    let body = json!({"transaction_id": other_txn, "event_id": "form_sold", "uid": uid(2)});
    let (s, v, _) = send(&app, report(&p, body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "duplicate", "{v}");
    assert_eq!(v["kept"], Value::Null, "{v}");
}
