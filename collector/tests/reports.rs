//! Reports: exact numbers for a known small data set, ingested through `POST /v1/events`;
//! credentials as for every read; every bad parameter a JSON 400 naming it; and the plans
//! SQLite runs them with (covering indexes, no sort of events).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

mod common;

use common::{app, batch, event, get, post, read, send, uid, ORIGIN};

/// 2025-11-24T00:00:00Z, the data set's first day (D); D+1 is the second.
const D: u64 = 1_763_942_400_000;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

fn txn(n: u32) -> String {
    format!("5f0c1f0e-8a51-4c1b-9a63-{n:012}")
}

/// One event of lead `lead` at `ts`, with its traffic source parameters, amounts and bot flag.
#[allow(clippy::too_many_arguments)]
fn ev(
    n: u32,
    lead: u32,
    id: &str,
    category: &str,
    ts: u64,
    params: Value,
    amounts: (Option<f64>, Option<f64>),
    bot: bool,
) -> Value {
    let mut e = event(&uid(n), id, category);
    e["txn"] = txn(lead).into();
    e["ts"] = ts.into();
    e["attribution"]["params"] = params;
    e["bot"] = bot.into();
    if id == "sale" {
        e["scope"] = "campaign".into();
    }
    if let Some(r) = amounts.0 {
        e["revenue"] = r.into();
    }
    if let Some(p) = amounts.1 {
        e["payout"] = p.into();
    }
    e
}

async fn ingest(app: &Router, cid: &str, events: Vec<Value>) {
    let n = events.len();
    let (s, v, _) = send(app, post(batch(cid, events), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"].as_array().unwrap().len(), n, "{v}");
}

fn admin(method: &str, path: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The data set: campaign c1 (organization o) with five leads over two days, one of them a bot;
/// a lead on a third day (out of the range asked); campaign c2 with a conversion event of its
/// own that fires twice for its one lead; a lead of organization p.
async fn data_set(app: &Router) {
    let (s, v, _) = send(
        app,
        admin(
            "POST",
            "/admin/campaigns/c2/events",
            json!({"id":"sale","category":"conversion","multi":true,"conversion":true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let google_a = json!({"utm_source":"google","sub1":"a"});
    let google_b = json!({"utm_source":"google","sub1":"b"});
    let bing = json!({"utm_source":"bing"});
    let none = json!({});
    let click = (Some(1.5), Some(0.5));
    let form = (Some(20.0), Some(8.0));
    let no = (None, None);
    let m = 60_000;
    let c1 = vec![
        // L1, day D: a click, two quotes, a form sold.
        ev(
            1,
            1,
            "base",
            "lead",
            D + 10 * HOUR,
            google_a.clone(),
            no,
            false,
        ),
        ev(
            2,
            1,
            "click_sold",
            "click",
            D + 10 * HOUR + m,
            google_a.clone(),
            click,
            false,
        ),
        ev(
            3,
            1,
            "quote",
            "engagement",
            D + 10 * HOUR + 2 * m,
            google_a.clone(),
            no,
            false,
        ),
        ev(
            4,
            1,
            "quote",
            "engagement",
            D + 10 * HOUR + 3 * m,
            google_a.clone(),
            no,
            false,
        ),
        ev(
            5,
            1,
            "form_sold",
            "conversion",
            D + 10 * HOUR + 5 * m,
            google_a,
            form,
            false,
        ),
        // L2, day D: a click; a call sold the next morning.
        ev(
            6,
            2,
            "base",
            "lead",
            D + 11 * HOUR,
            google_b.clone(),
            no,
            false,
        ),
        ev(
            7,
            2,
            "click_sold",
            "click",
            D + 11 * HOUR + m,
            google_b.clone(),
            click,
            false,
        ),
        ev(
            8,
            2,
            "call_sold",
            "conversion",
            D + DAY + 9 * HOUR,
            google_b,
            (Some(40.0), Some(15.0)),
            false,
        ),
        // L3, day D+1: a quote.
        ev(
            9,
            3,
            "base",
            "lead",
            D + DAY + 12 * HOUR,
            bing.clone(),
            no,
            false,
        ),
        ev(
            10,
            3,
            "quote",
            "engagement",
            D + DAY + 12 * HOUR + 5 * m,
            bing,
            no,
            false,
        ),
        // L4, day D+1, no source parameter: a click, a form sold, the campaign's own event.
        ev(
            11,
            4,
            "base",
            "lead",
            D + DAY + 13 * HOUR,
            none.clone(),
            no,
            false,
        ),
        ev(
            12,
            4,
            "click_sold",
            "click",
            D + DAY + 13 * HOUR + m,
            none.clone(),
            click,
            false,
        ),
        ev(
            13,
            4,
            "form_sold",
            "conversion",
            D + DAY + 13 * HOUR + 10 * m,
            none.clone(),
            form,
            false,
        ),
        ev(
            14,
            4,
            "only_c1",
            "conversion",
            D + DAY + 13 * HOUR + 11 * m,
            none.clone(),
            (Some(5.0), None),
            false,
        ),
        // L5, day D: a bot (navigator.webdriver), with a click.
        ev(
            15,
            5,
            "base",
            "lead",
            D + 15 * HOUR,
            json!({"utm_source":"google"}),
            no,
            true,
        ),
        ev(
            16,
            5,
            "click_sold",
            "click",
            D + 15 * HOUR + m,
            json!({"utm_source":"google"}),
            click,
            true,
        ),
        // L6, day D+3: out of the range.
        ev(17, 6, "base", "lead", D + 3 * DAY, none.clone(), no, false),
    ];
    ingest(app, "c1", c1).await;
    ingest(
        app,
        "c2",
        vec![
            ev(
                20,
                7,
                "base",
                "lead",
                D + 12 * HOUR,
                none.clone(),
                no,
                false,
            ),
            ev(
                21,
                7,
                "sale",
                "conversion",
                D + 12 * HOUR + 5 * m,
                none.clone(),
                (Some(10.0), None),
                false,
            ),
            ev(
                22,
                7,
                "sale",
                "conversion",
                D + DAY + 8 * HOUR,
                none.clone(),
                (Some(10.0), None),
                false,
            ),
        ],
    )
    .await;
    ingest(
        app,
        "p1",
        vec![ev(30, 8, "base", "lead", D + 10 * HOUR, none, no, false)],
    )
    .await;
}

async fn report(app: &Router, path: &str) -> Value {
    let (s, v, _) = read(app, path).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v
}

/// The metrics of a row or the totals without the per-event counts, to compare in one go.
fn metrics(v: &Value) -> Value {
    let mut m = v.clone();
    let o = m.as_object_mut().unwrap();
    for k in ["events", "key", "start"] {
        o.remove(k);
    }
    m
}

#[allow(clippy::too_many_arguments)]
fn expect(
    leads: u64,
    clicks: u64,
    forms: u64,
    calls: u64,
    conversions: u64,
    rate: Option<f64>,
    revenue: f64,
    payout: f64,
    epc: Option<f64>,
    bots: u64,
) -> Value {
    json!({"leads":leads,"clicks":clicks,"forms_sold":forms,"calls_sold":calls,"conversions":conversions,
        "conversion_rate":rate,"revenue":revenue,"payout":payout,"margin":revenue - payout,"epc":epc,"bots":bots})
}

const RANGE: &str = "from=2025-11-24&to=2025-11-25";

#[tokio::test]
async fn a_campaigns_report_by_day_counts_every_metric_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    data_set(&app).await;
    let v = report(&app, &format!("/v1/reports/campaigns/c1?{RANGE}&group=day")).await;
    assert_eq!(v["campaign"], "c1");
    assert_eq!(v["org"], "o");
    assert_eq!(
        (v["from"].as_u64(), v["to"].as_u64()),
        (Some(D), Some(D + 2 * DAY))
    );
    assert_eq!(
        (v["tz"].as_str(), v["group"].as_str()),
        (Some("+00:00"), Some("day"))
    );
    assert_eq!(v["include_bots"], false);
    // No event of c1 is marked as its conversion: Base Form Sold is.
    assert_eq!(v["conversion_events"], json!({"c1":"form_sold"}));
    let ids: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "base",
            "click_sold",
            "form_sold",
            "call_sold",
            "quote",
            "only_c1"
        ]
    );
    assert_eq!(
        v["events"][0],
        json!({"id":"base","name":"Base Event","category":"lead"})
    );

    let t = &v["totals"];
    assert_eq!(
        metrics(t),
        expect(4, 3, 2, 1, 2, Some(0.5), 89.5, 32.5, Some(29.833333), 2)
    );
    assert_eq!(
        t["events"],
        json!({"base":4,"click_sold":3,"form_sold":2,"call_sold":1,"quote":3,"only_c1":1})
    );
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["key"].as_str(), rows[0]["start"].as_u64()),
        (Some("2025-11-24"), Some(D))
    );
    assert_eq!(
        metrics(&rows[0]),
        expect(2, 2, 1, 0, 1, Some(0.5), 23.0, 9.0, Some(11.5), 2)
    );
    assert_eq!(
        rows[0]["events"],
        json!({"base":2,"click_sold":2,"form_sold":1,"call_sold":0,"quote":2,"only_c1":0})
    );
    assert_eq!(rows[1]["key"], "2025-11-25");
    assert_eq!(
        metrics(&rows[1]),
        expect(2, 1, 1, 1, 1, Some(0.5), 66.5, 23.5, Some(66.5), 0)
    );

    // Bots counted in: the bot's lead and click join every figure.
    let v = report(
        &app,
        &format!("/v1/reports/campaigns/c1?{RANGE}&include_bots=true"),
    )
    .await;
    assert_eq!(v["include_bots"], true);
    assert_eq!(
        metrics(&v["totals"]),
        expect(5, 4, 2, 1, 2, Some(0.4), 91.0, 33.0, Some(22.75), 2)
    );
}

#[tokio::test]
async fn by_hour_in_a_zone_and_by_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    data_set(&app).await;
    let v = report(
        &app,
        "/v1/reports/campaigns/c1?from=2025-11-24T10:00:00Z&to=2025-11-24T12:00:00Z&group=hour",
    )
    .await;
    let rows = v["rows"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["2025-11-24T10:00", "2025-11-24T11:00"]);
    assert_eq!(
        metrics(&rows[0]),
        expect(1, 1, 1, 0, 1, Some(1.0), 21.5, 8.5, Some(21.5), 0)
    );
    assert_eq!(
        metrics(&rows[1]),
        expect(1, 1, 0, 0, 0, Some(0.0), 1.5, 0.5, Some(1.5), 0)
    );

    // At UTC+14 the data set's first day starts at 10:00 UTC: local 2025-11-24 has nothing, and
    // `to`, a date, takes in the whole local 2025-11-25 (until 10:00 UTC on the 25th).
    let v = report(
        &app,
        "/v1/reports/campaigns/c1?from=2025-11-24&to=2025-11-25&tz=%2B14:00",
    )
    .await;
    assert_eq!(v["tz"], "+14:00");
    assert_eq!(v["from"].as_u64(), Some(D - 14 * HOUR));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["key"], "2025-11-24");
    assert_eq!(
        metrics(&rows[0]),
        expect(0, 0, 0, 0, 0, None, 0.0, 0.0, None, 0)
    );
    assert_eq!(rows[1]["key"], "2025-11-25");
    assert_eq!(
        metrics(&rows[1]),
        expect(2, 2, 1, 1, 1, Some(0.5), 63.0, 24.0, Some(31.5), 2)
    );

    let v = report(
        &app,
        &format!("/v1/reports/campaigns/c1?{RANGE}&group=event"),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([
            {"key":"base","name":"Base Event","category":"lead","count":4,"revenue":0.0,"payout":0.0,"margin":0.0,"bots":1},
            {"key":"click_sold","name":"Base Click Sold Event","category":"click","count":3,"revenue":4.5,"payout":1.5,"margin":3.0,"bots":1},
            {"key":"form_sold","name":"Base Form Sold Event","category":"conversion","count":2,"revenue":40.0,"payout":16.0,"margin":24.0,"bots":0},
            {"key":"call_sold","name":"Base Call Sold Event","category":"conversion","count":1,"revenue":40.0,"payout":15.0,"margin":25.0,"bots":0},
            {"key":"quote","name":"quote","category":"engagement","count":3,"revenue":0.0,"payout":0.0,"margin":0.0,"bots":0},
            {"key":"only_c1","name":"only_c1","category":"conversion","count":1,"revenue":5.0,"payout":0.0,"margin":5.0,"bots":0}
        ])
    );
}

#[tokio::test]
async fn by_traffic_source_most_leads_first_and_events_without_the_parameter_last() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    data_set(&app).await;
    let v = report(
        &app,
        &format!("/v1/reports/campaigns/c1?{RANGE}&group=utm_source"),
    )
    .await;
    let rows = v["rows"].as_array().unwrap();
    let keys: Vec<&Value> = rows.iter().map(|r| &r["key"]).collect();
    assert_eq!(keys, [&json!("google"), &json!("bing"), &Value::Null]);
    assert_eq!(
        metrics(&rows[0]),
        expect(2, 2, 1, 1, 1, Some(0.5), 63.0, 24.0, Some(31.5), 2)
    );
    assert_eq!(rows[0]["events"]["quote"], 2);
    assert_eq!(
        metrics(&rows[1]),
        expect(1, 0, 0, 0, 0, Some(0.0), 0.0, 0.0, None, 0)
    );
    assert_eq!(
        metrics(&rows[2]),
        expect(1, 1, 1, 0, 1, Some(1.0), 26.5, 8.5, Some(26.5), 0)
    );
    assert_eq!(rows[2]["events"]["only_c1"], 1);
    // The rows add up to the totals.
    assert_eq!(
        metrics(&v["totals"]),
        expect(4, 3, 2, 1, 2, Some(0.5), 89.5, 32.5, Some(29.833333), 2)
    );

    let v = report(
        &app,
        &format!("/v1/reports/campaigns/c1?{RANGE}&group=sub1&include_bots=true"),
    )
    .await;
    let rows = v["rows"].as_array().unwrap();
    let keys: Vec<&Value> = rows.iter().map(|r| &r["key"]).collect();
    assert_eq!(keys, [&json!("a"), &json!("b"), &Value::Null]);
    assert_eq!(
        metrics(&rows[0]),
        expect(1, 1, 1, 0, 1, Some(1.0), 21.5, 8.5, Some(21.5), 0)
    );
    assert_eq!(
        metrics(&rows[1]),
        expect(1, 1, 0, 1, 0, Some(0.0), 41.5, 15.5, Some(41.5), 0)
    );
    // L3, L4 and the bot (counted in here).
    assert_eq!(
        metrics(&rows[2]),
        expect(3, 2, 1, 0, 1, Some(0.333333), 28.0, 9.0, Some(14.0), 2)
    );
}

#[tokio::test]
async fn an_organizations_report_counts_each_campaign_by_its_own_conversion_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    data_set(&app).await;
    let v = report(&app, &format!("/v1/reports/orgs/o?{RANGE}&group=campaign")).await;
    assert_eq!(v["org"], "o");
    assert!(v.get("campaign").is_none());
    assert_eq!(
        v["conversion_events"],
        json!({"c1":"form_sold","c2":"sale","c3":"form_sold"})
    );
    // c2's lead bought twice: one conversion (a lead converts once), two sales counted.
    assert_eq!(
        metrics(&v["totals"]),
        expect(5, 3, 2, 1, 3, Some(0.6), 109.5, 32.5, Some(36.5), 2)
    );
    assert_eq!(v["totals"]["events"]["sale"], 2);
    let rows = v["rows"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["c1", "c2", "c3"]);
    assert_eq!(
        metrics(&rows[0]),
        expect(4, 3, 2, 1, 2, Some(0.5), 89.5, 32.5, Some(29.833333), 2)
    );
    assert_eq!(
        metrics(&rows[1]),
        expect(1, 0, 0, 0, 1, Some(1.0), 20.0, 0.0, None, 0)
    );
    assert_eq!(
        metrics(&rows[2]),
        expect(0, 0, 0, 0, 0, None, 0.0, 0.0, None, 0)
    );

    // By day, a lead converts once in each day it converted in.
    let v = report(&app, &format!("/v1/reports/orgs/o?{RANGE}&group=day")).await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        metrics(&rows[0]),
        expect(3, 2, 1, 0, 2, Some(0.666667), 33.0, 9.0, Some(16.5), 2)
    );
    assert_eq!(
        metrics(&rows[1]),
        expect(2, 1, 1, 1, 2, Some(1.0), 76.5, 23.5, Some(76.5), 0)
    );
    let v = report(
        &app,
        &format!("/v1/reports/orgs/o?{RANGE}&group=utm_source"),
    )
    .await;
    let none = v["rows"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(none["key"], Value::Null);
    assert_eq!(
        metrics(&none),
        expect(2, 1, 1, 0, 2, Some(1.0), 46.5, 8.5, Some(46.5), 0)
    );
}

fn with(path: &str, credential: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {credential}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn reports_take_a_credential_and_a_key_reads_its_organization_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    data_set(&app).await;
    let (s, v, _) = get(&app, "/v1/reports/campaigns/c1").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        get(&app, "/v1/reports/orgs/o").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Unauthorized before any parameter is looked at.
    assert_eq!(
        get(&app, "/v1/reports/orgs/o?group=week").await.0,
        StatusCode::UNAUTHORIZED
    );

    let (s, v, _) = send(
        &app,
        admin("POST", "/admin/orgs/o/keys", json!({"name":"reports"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    for path in ["/v1/reports/campaigns/c1", "/v1/reports/orgs/o"] {
        let (s, v, _) = send(&app, with(&format!("{path}?{RANGE}"), &key)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        assert_eq!(
            v["totals"]["leads"],
            if path.ends_with("c1") { 4 } else { 5 }
        );
    }
    // Another organization's and nobody's: the same 403, word for word.
    for (theirs, nobodys) in [
        ("/v1/reports/campaigns/p1", "/v1/reports/campaigns/nope"),
        ("/v1/reports/orgs/p", "/v1/reports/orgs/nope"),
    ] {
        let (s1, a, _) = send(&app, with(theirs, &key)).await;
        let (s2, b, _) = send(&app, with(nobodys, &key)).await;
        assert_eq!((s1, s2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
        let name = |p: &str| p.rsplit('/').next().unwrap().to_owned();
        assert_eq!(
            a["error"].as_str().unwrap().replace(&name(theirs), "X"),
            b["error"].as_str().unwrap().replace(&name(nobodys), "X")
        );
        // Even with a bad parameter: the refusal comes first.
        let (s, _, _) = send(&app, with(&format!("{theirs}?group=week"), &key)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // The admin reads everything; what does not exist is a 404 for it.
    assert_eq!(
        read(&app, "/v1/reports/campaigns/p1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        read(&app, "/v1/reports/campaigns/nope").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(&app, "/v1/reports/orgs/nope").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_bad_parameter_is_a_json_400_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    for (query, name) in [
        ("from=yesterday", "from"),
        ("to=2025-02-30", "to"),
        ("from=2025-11-25&to=2025-11-24", "from"),
        ("group=week", "group"),
        ("group=utm_term", "group"),
        ("include_bots=yes", "include_bots"),
        ("tz=Europe%2FBerlin", "tz"),
        ("tz=%2B05:10", "tz"),
        ("from=2020-01-01&group=hour", "group"),
        ("limit=10", "limit"),
        ("group=day&group=hour", "group"),
    ] {
        for path in ["/v1/reports/campaigns/c1", "/v1/reports/orgs/o"] {
            let (s, v, h) = read(&app, &format!("{path}?{query}")).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {v}");
            assert_eq!(h[header::CONTENT_TYPE], "application/json");
            assert_eq!(v["parameter"], name, "{query}: {v}");
            assert!(
                v["error"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{name}: ")),
                "{query}: {v}"
            );
        }
    }
}

#[tokio::test]
async fn an_empty_range_of_a_campaign_without_events_is_all_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let v = report(
        &app,
        "/v1/reports/campaigns/c2?from=2025-11-24&to=2025-11-26&group=day",
    )
    .await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows.iter().chain([&v["totals"]]) {
        assert_eq!(metrics(row), expect(0, 0, 0, 0, 0, None, 0.0, 0.0, None, 0));
    }
    // The default: today and the six days before it.
    let v = report(&app, "/v1/reports/campaigns/c2").await;
    assert_eq!(v["rows"].as_array().unwrap().len(), 7);
    assert_eq!(v["group"], "day");
}

/// SQLite's plan of each report statement: the events are read from an index (seeking the
/// range, never the table, so never a body; SQLite names an index holding virtual columns
/// "USING INDEX", not "COVERING", so the program is read for the table's columns), and never
/// sorted (a temporary B-tree only for the few sums a time series adds up into its hours or
/// days).
#[test]
fn every_report_reads_an_index_only_and_sorts_no_events() {
    use collector::store::sqlite::{source_sql, time_sql, totals_sql};
    use rusqlite::types::Value as Sql;
    let dir = tempfile::tempdir().unwrap();
    let store = collector::store::Store::open(&dir.path().join("plan.db")).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("plan.db")).unwrap();
    let unbound = |stmt: &rusqlite::Statement<'_>| vec![Sql::Null; stmt.parameter_count()];
    let plan = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args = unbound(&stmt);
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let table: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // The columns the program reads from the table itself (not from an index).
    let table_reads = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let args = unbound(&stmt);
        let program: Vec<(String, i64, i64)> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let cursors: Vec<i64> = program
            .iter()
            .filter(|(op, _, root)| op == "OpenRead" && *root == table)
            .map(|(_, c, _)| *c)
            .collect();
        program
            .iter()
            .filter(|(op, c, _)| op == "Column" && cursors.contains(c))
            .map(|(op, c, col)| format!("{op} {c} {col}"))
            .collect()
    };
    let seek = "USING INDEX events_report (campaign_id=? AND event_id=? AND bot=? AND quarter>? AND quarter<?)";
    let totals = totals_sql(2, 5);
    assert_eq!(plan(&totals), [format!("SEARCH events {seek}")]);
    assert_eq!(table_reads(&totals), Vec::<String>::new());
    for source in collector::store::REPORT_SOURCES {
        let sql = source_sql(source, 2);
        let p = plan(&sql);
        assert_eq!(
            p,
            [format!(
                "SEARCH events USING INDEX events_by_{source} (campaign_id=? AND attr_{source}>?)"
            )]
        );
        assert_eq!(table_reads(&sql), Vec::<String>::new(), "{source}");
    }
    let time = time_sql(1, 5);
    let p = plan(&time);
    let reads: Vec<&String> = p.iter().filter(|l| l.contains("events")).collect();
    assert_eq!(reads, [&format!("SEARCH events {seek}")], "{p:?}");
    let sorts: Vec<&String> = p.iter().filter(|l| l.contains("TEMP B-TREE")).collect();
    assert_eq!(
        sorts.len(),
        1,
        "only the outer sum of the quarter hours' sums: {p:?}"
    );
    assert_eq!(table_reads(&time), Vec::<String>::new());
}

/// A database written before the reports existed gets their columns and indexes when the
/// collector opens it, and its events are counted.
#[test]
fn an_existing_database_is_migrated_and_its_events_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE events (
               seq INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE,
               campaign_id TEXT NOT NULL, event_id TEXT NOT NULL, category TEXT NOT NULL, txn TEXT NOT NULL,
               ts INTEGER NOT NULL, received_at INTEGER NOT NULL, once_key TEXT UNIQUE, body TEXT NOT NULL);",
        )
        .unwrap();
        let mut e = event(&uid(1), "click_sold", "click");
        e["ts"] = D.into();
        e["revenue"] = 2.5.into();
        e["attribution"]["params"] = json!({"sub2":"x"});
        old.execute(
            "INSERT INTO events (uid, campaign_id, event_id, category, txn, ts, received_at, body)
             VALUES (?1, 'c1', 'click_sold', 'click', ?2, ?3, ?3, ?4)",
            rusqlite::params![uid(1), txn(1), D as i64, e.to_string()],
        )
        .unwrap();
    }
    let store = collector::store::Store::open(&path).unwrap();
    drop(store);
    // Opened twice: the migration is done once.
    let store = collector::store::Store::open(&path).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (clicks, revenue, sub2): (i64, f64, String) = conn
        .query_row(
            "SELECT count(*), total(revenue), max(attr_sub2) FROM events INDEXED BY events_by_sub2
              WHERE campaign_id = 'c1' AND attr_sub2 IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((clicks, revenue, sub2.as_str()), (1, 2.5, "x"));
}

#[tokio::test]
async fn a_source_with_a_value_per_visitor_lists_the_top_values_and_says_how_many_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let max = collector::reports::MAX_SOURCE_ROWS as u32;
    // One value with 3 leads, `max + 9` values with one lead each, 2 leads without the parameter.
    let mut events: Vec<Value> = (0..max + 14)
        .map(|n| {
            let params = match n {
                0..=2 => json!({"sub2": "top"}),
                n if n < max + 12 => json!({"sub2": format!("click-{n:04}")}),
                _ => json!({}),
            };
            ev(
                n,
                n,
                "base",
                "lead",
                D + u64::from(n),
                params,
                (None, None),
                false,
            )
        })
        .collect();
    while !events.is_empty() {
        let rest = events.split_off(events.len().min(100));
        ingest(&app, "c1", events).await;
        events = rest;
    }
    let v = report(
        &app,
        &format!("/v1/reports/campaigns/c1?{RANGE}&group=sub2"),
    )
    .await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        max as usize + 1,
        "the top values and the row without"
    );
    assert_eq!(rows[0]["key"], "top");
    assert_eq!(rows[0]["leads"], 3);
    assert_eq!(rows.last().unwrap()["key"], Value::Null);
    assert_eq!(rows.last().unwrap()["leads"], 2);
    assert_eq!(v["left_out"], 10);
    assert_eq!(
        v["totals"]["leads"],
        max + 14,
        "the totals count every lead"
    );
}
