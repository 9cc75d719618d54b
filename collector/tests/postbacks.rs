//! Postbacks against a local receiver that answers 200, 500 then 200, 404, 429 with Retry-After,
//! hangs, or closes the connection: the right calls, retries and records each time, each call
//! signed, nothing called for a duplicate, and nothing lost or doubled across a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use collector::deliver::{Settings, Worker, SIGNATURE_HEADER};
use collector::postback::{signature, Policy};
use collector::router;
use collector::server::{harden, Limits};
use serde_json::{json, Value};

mod common;

use common::{
    batch, catalog_json, event, post, post_tcp, query, query_one, read, send, state_with, uid,
    Running, ORIGIN, TXN,
};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// One call the receiver got.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    /// The path and query as on the request line.
    target: String,
    query: String,
    headers: HeaderMap,
    body: String,
}

/// The receiver: what it got, and how many times each path has been called.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// While set, `/flaky` keeps answering 500.
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    fn calls(&self, path: &str) -> Vec<Got> {
        let got = self.got.lock().unwrap();
        got.iter().filter(|g| g.path == path).cloned().collect()
    }
}

async fn receive(
    State(r): State<Receiver>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let before = r.calls(&path).len();
    r.got.lock().unwrap().push(Got {
        path: path.clone(),
        target: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        query: query.unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let down = r.down.load(std::sync::atomic::Ordering::SeqCst);
    match path.as_str() {
        "ok" => StatusCode::OK.into_response(),
        "flaky" if before == 0 || down => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "flaky" => StatusCode::OK.into_response(),
        "gone" => StatusCode::NOT_FOUND.into_response(),
        "landed" => StatusCode::OK.into_response(),
        // A redirect within the receiver, and one to another host (`localhost`, not the
        // `127.0.0.1` the call went to).
        "hop" => (StatusCode::FOUND, [("location", "/landed?from=hop")]).into_response(),
        "moved" => {
            let port = headers_port(&r, &path);
            let to = format!("http://localhost:{port}/landed?from=moved");
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
        "busy" if before == 0 => {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response()
        }
        "busy" => StatusCode::NO_CONTENT.into_response(),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::IM_A_TEAPOT.into_response(),
    }
}

/// The port the last call to `path` was made to, from its `Host`.
fn headers_port(r: &Receiver, path: &str) -> String {
    let got = r.calls(path);
    let host = got.last().unwrap().headers["host"]
        .to_str()
        .unwrap()
        .to_owned();
    host.rsplit(':').next().unwrap().to_owned()
}

/// Starts the receiver; returns it and its base URL.
async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/{path}", any(receive))
        .with_state(r.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, app).await });
    (r, url)
}

/// A port that accepts connections and closes them at once, answering nothing.
async fn closer() -> (Arc<std::sync::atomic::AtomicUsize>, String) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/close", tcp.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (accepted, url)
}

fn with_postbacks(postbacks: Value) -> Value {
    let mut c = catalog_json();
    let campaign = &mut c["organizations"][0]["campaigns"][0];
    campaign["postbacks"] = postbacks;
    campaign["postback_secret"] = SECRET.into();
    c
}

fn sold(n: u32) -> Value {
    let mut e = event(&uid(n), "form_sold", "conversion");
    e["attribution"]["params"]["sub1"] = "click 7&x".into();
    e["revenue"] = json!(30.5);
    e["payout"] = json!(12);
    e
}

/// Waits until no postback of c1 is pending; returns them.
async fn settled(app: &Router, within: Duration) -> Vec<Value> {
    let end = Instant::now() + within;
    loop {
        let (_, v, _) = read(app, "/v1/campaigns/c1/postbacks").await;
        let calls = v["postbacks"].as_array().cloned().unwrap_or_default();
        if !calls.is_empty() && calls.iter().all(|c| c["status"] != "pending") {
            return calls;
        }
        assert!(Instant::now() < end, "still pending: {v:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_url<'a>(calls: &'a [Value], part: &str) -> &'a Value {
    calls
        .iter()
        .find(|c| c["url"].as_str().unwrap().contains(part))
        .unwrap_or_else(|| panic!("no call to {part} in {calls:#?}"))
}

fn attempt_statuses(call: &Value) -> Vec<Value> {
    call["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_receiver_gets_the_calls_retries_and_records_its_answers_call_for() {
    let (r, base) = receiver().await;
    let (closed, close_url) = closer().await;
    let catalog = with_postbacks(json!([
        {"event":"form_sold","url":format!("{base}/ok?click={{sub1}}&txn={{transaction_id}}&payout={{payout}}")},
        {"event":"form_sold","method":"POST","url":format!("{base}/flaky"),
         "body":"{\"txn\":\"{transaction_id}\",\"revenue\":{revenue},\"source\":\"{sub1}\"}"},
        {"event":"form_sold","url":format!("{base}/gone")},
        {"event":"form_sold","method":"POST","url":format!("{base}/busy"),
         "body":"t={transaction_id}&s={sub1}","content_type":"application/x-www-form-urlencoded"},
        {"event":"form_sold","url":format!("{base}/hang")},
        {"event":"form_sold","url":close_url},
        {"event":"form_sold","url":format!("{base}/hop")},
        {"event":"form_sold","url":format!("{base}/moved")},
        {"event":"base","url":format!("{base}/ok?lead={{uid}}")}
    ]));
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let app = state_with(&dir, Some("secret"), &limits, catalog);
    let worker = Worker::start(
        app.store.clone(),
        app.catalog.clone(),
        Settings {
            concurrency: 4,
            timeout: Duration::from_millis(400),
            policy: Policy {
                attempts: 3,
                base: Duration::from_millis(50),
                cap: Duration::from_secs(5),
            },
            poll: Duration::from_millis(50),
        },
    );
    let mut shared = app.clone();
    shared.postbacks = worker.wake.clone();
    let http = harden(router(shared), &limits);

    let (s, v, _) = send(&http, post(batch("c1", vec![sold(1)]), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let calls = settled(&http, Duration::from_secs(15)).await;
    assert_eq!(
        calls.len(),
        8,
        "the Base Event's postback was not fired: no Base Event came"
    );

    // 200: one call, the macros URL-encoded, signed, with an idempotency key.
    let ok = r.calls("ok");
    assert_eq!(ok.len(), 1);
    assert_eq!(
        ok[0].query,
        format!(
            "click=click%207%26x&txn={}&payout=12",
            TXN.replace('-', "%2D")
        )
    );
    let sig = ok[0].headers[SIGNATURE_HEADER].to_str().unwrap();
    let t: u64 = sig
        .strip_prefix("t=")
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        sig,
        signature(SECRET, t, "GET", &ok[0].target, ""),
        "the receiver can verify it"
    );
    assert!(ok[0].headers["idempotency-key"]
        .to_str()
        .unwrap()
        .starts_with(&uid(1)));
    let call = by_url(&calls, "/ok");
    assert_eq!(
        (call["status"].clone(), call["attempts"].clone()),
        (json!("delivered"), json!(1))
    );

    // 500 then 200: two calls, the JSON body rendered and signed.
    let flaky = r.calls("flaky");
    assert_eq!(flaky.len(), 2);
    let body: Value = serde_json::from_str(&flaky[1].body).unwrap();
    assert_eq!(
        body,
        json!({"txn": TXN, "revenue": 30.5, "source": "click 7&x"})
    );
    assert_eq!(flaky[1].headers["content-type"], "application/json");
    let sig = flaky[1].headers[SIGNATURE_HEADER].to_str().unwrap();
    let t: u64 = sig[2..sig.find(',').unwrap()].parse().unwrap();
    assert_eq!(
        sig,
        signature(SECRET, t, "POST", &flaky[1].target, &flaky[1].body)
    );
    let call = by_url(&calls, "/flaky");
    assert_eq!(call["status"], "delivered");
    assert_eq!(attempt_statuses(call), [json!(500), json!(200)]);

    // 404: one call, given up at once.
    assert_eq!(r.calls("gone").len(), 1);
    let call = by_url(&calls, "/gone");
    assert_eq!(call["status"], "failed");
    assert_eq!(attempt_statuses(call), [json!(404)]);

    // 429 with Retry-After: 1 s: the second call waited at least that long.
    let busy = r.calls("busy");
    assert_eq!(busy.len(), 2);
    assert_eq!(
        busy[1].body,
        format!("t={}&s=click%207%26x", TXN.replace('-', "%2D"))
    );
    let call = by_url(&calls, "/busy");
    let log = call["attempt_log"].as_array().unwrap();
    let waited = log[1]["at"].as_i64().unwrap() - log[0]["at"].as_i64().unwrap();
    assert!(waited >= 1000, "waited {waited} ms");
    assert_eq!(call["status"], "delivered");

    // A receiver that hangs: each attempt times out; three attempts, then given up.
    assert_eq!(r.calls("hang").len(), 3);
    let call = by_url(&calls, "/hang");
    assert_eq!(call["status"], "failed");
    assert_eq!(call["attempt_log"].as_array().unwrap().len(), 3);
    assert_eq!(call["attempt_log"][0]["error"], "timed out");
    assert!(call["attempt_log"][0]["latency_ms"].as_i64().unwrap() >= 400);

    // A connection closed without an answer: retried like a network error.
    let call = by_url(&calls, "/close");
    assert_eq!(call["status"], "failed");
    assert_eq!(
        attempt_statuses(call),
        [Value::Null, Value::Null, Value::Null]
    );
    assert!(closed.load(std::sync::atomic::Ordering::SeqCst) >= 3);

    // A redirect is not followed, within the receiver or elsewhere: the signed call and its
    // lead data go where the campaign sent them, and a 3xx is recorded as a failure.
    assert!(r.calls("landed").is_empty());
    for path in ["/hop", "/moved"] {
        let call = by_url(&calls, path);
        assert_eq!(call["status"], "failed", "{path}");
        assert_eq!(attempt_statuses(call), [json!(302)], "{path}");
    }

    // The same event again (a retry) and another Base Form Sold for the lead: duplicates, and
    // no postback fires twice.
    let again = batch("c1", vec![sold(1), sold(2)]);
    let (_, v, _) = send(&http, post(again, Some(ORIGIN))).await;
    assert_eq!(v["duplicates"], json!([uid(1), uid(2)]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.calls("ok").len(), 1);
    assert_eq!(r.calls("flaky").len(), 2);
    let (_, v, _) = read(&http, "/v1/campaigns/c1/postbacks").await;
    assert_eq!(v["postbacks"].as_array().unwrap().len(), 8);
    worker.stop().await;
}

#[tokio::test]
async fn a_campaign_with_bad_postbacks_is_refused_with_every_problem_named() {
    let mut c = catalog_json();
    c["organizations"][0]["campaigns"][0]["postbacks"] = json!([
        {"event":"form_sold","url":"https://s.example/pb?x={payot}"},
        {"event":"nope","url":"https://s.example/"},
        {"event":"form_sold","url":"https://s.example/","body":"x"}
    ]);
    let file = serde_json::from_value(c).unwrap();
    let errors = collector::catalog::Catalog::build(file).unwrap_err();
    let at = "organizations[0].campaigns[0]";
    for expected in [
        format!("{at}.postbacks[0].url: unknown macro {{payot}}"),
        format!("{at}.postbacks[1].event: \"nope\" is not an event of this campaign"),
        format!("{at}.postbacks[2].body: a GET has no body; use POST"),
        format!("{at}.postback_secret: required with postbacks"),
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(&expected)),
            "missing {expected} in {errors:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_postback_survives_a_killed_collector_and_is_delivered_once_after_the_restart() {
    let (r, base) = receiver().await;
    r.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let config = with_postbacks(json!([
        {"event":"form_sold","url":format!("{base}/flaky?txn={{transaction_id}}")}
    ]));
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--postback-backoff-ms",
        "200",
        "--postback-attempts",
        "50",
        "--admin-token",
        "secret",
    ];
    let first = Running::start(dir.path(), &config, &args);
    let status = post_tcp(&first.addr, ORIGIN, &batch("c1", vec![sold(1)]));
    assert!(status.contains(" 200 "), "{status}");
    // The receiver is down: the collector tries, and tries again.
    let end = Instant::now() + Duration::from_secs(10);
    while r.calls("flaky").len() < 2 {
        assert!(Instant::now() < end, "no retries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed (no graceful stop), while the call is pending between two attempts: not claimed
    // (a claim of a killed collector would wait out its lease), and not due for a while.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let row = &query(dir.path(), "SELECT locked_until, next_at FROM postbacks")[0];
        let locked = row[0].clone();
        let next_at: i64 = row[1].as_deref().unwrap().parse().unwrap();
        if locked.is_none() && next_at > collector::store::now_ms() + 100 {
            break;
        }
        assert!(Instant::now() < end, "never between attempts");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(first);
    let before = r.calls("flaky").len();
    r.down.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.calls("flaky").len(),
        before,
        "nothing calls while the collector is down"
    );

    let second = Running::start(dir.path(), &config, &args);
    let end = Instant::now() + Duration::from_secs(10);
    let delivered = loop {
        let answered: Vec<Got> = r.calls("flaky");
        let ok = answered.len() > before;
        if ok {
            break answered;
        }
        assert!(Instant::now() < end, "not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Give a second delivery every chance to happen, then count: exactly one 200 in all.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all = r.calls("flaky");
    assert_eq!(all.len(), before + 1, "delivered once: {delivered:?}");
    // The attempts before and after the restart are all recorded.
    let client = reqwest::Client::new();
    let v: Value = client
        .get(format!("http://{}/v1/campaigns/c1/postbacks", second.addr))
        .bearer_auth("secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let call = &v["postbacks"][0];
    assert_eq!(call["status"], "delivered");
    let statuses = attempt_statuses(call);
    assert_eq!(statuses.len(), before + 1, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&json!(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_the_call_in_flight_and_leaves_the_rest_for_the_next_start() {
    use std::io::Read;
    let (r, base) = receiver().await;
    let config = with_postbacks(json!([{"event":"form_sold","url":format!("{base}/hang")}]));
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--postback-timeout",
        "1",
        "--postback-backoff-ms",
        "60000",
        "--admin-token",
        "secret",
    ];
    let mut first = Running::start(dir.path(), &config, &args);
    let status = post_tcp(&first.addr, ORIGIN, &batch("c1", vec![sold(1)]));
    assert!(status.contains(" 200 "), "{status}");
    let end = Instant::now() + Duration::from_secs(10);
    while r.calls("hang").is_empty() {
        assert!(Instant::now() < end, "never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGTERM while the call hangs: the collector waits for it (its 1 s timeout), records the
    // attempt, and exits cleanly.
    let pid = first.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let end = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = first.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let mut out = String::new();
    first
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("attempt=1 status=- latency_ms="), "{out}");
    assert!(out.trim_end().ends_with("stopped"), "{out}");
    drop(first);
    // Left pending with its one attempt recorded and its claim released: the next start makes
    // the call when it is due.
    let row = &query(
        dir.path(),
        "SELECT status, attempts, locked_until FROM postbacks",
    )[0];
    assert_eq!(
        (row[0].as_deref(), row[1].as_deref(), row[2].as_deref()),
        (Some("pending"), Some("1"), None)
    );
    let logged = query_one(
        dir.path(),
        "SELECT count(*) FROM postback_attempts WHERE error = 'timed out'",
    );
    let logged: i64 = logged.unwrap().parse().unwrap();
    assert_eq!(logged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_reported_by_a_server_fires_the_same_postbacks() {
    let (r, base) = receiver().await;
    let catalog = with_postbacks(json!([
        {"event":"form_sold","url":format!("{base}/ok?click={{sub1}}&price={{revenue}}")}
    ]));
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let app = state_with(&dir, Some("secret"), &limits, catalog);
    let worker = Worker::start(app.store.clone(), app.catalog.clone(), Settings::default());
    let mut shared = app.clone();
    shared.postbacks = worker.wake.clone();
    let http = harden(router(shared), &limits);
    let mut lead = event(&uid(1), "base", "lead");
    lead["attribution"]["params"]["sub1"] = "aff-9".into();
    send(&http, post(batch("c1", vec![lead]), Some(ORIGIN))).await;
    let report = axum::http::Request::post("/v1/server-events")
        .header("authorization", "Bearer secret")
        .body(axum::body::Body::from(
            json!({"transaction_id": TXN, "event_id": "form_sold", "revenue": 40}).to_string(),
        ))
        .unwrap();
    let (s, v, _) = send(&http, report).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let calls = settled(&http, Duration::from_secs(10)).await;
    assert_eq!(calls[0]["status"], "delivered");
    assert_eq!(r.calls("ok")[0].query, "click=aff%2D9&price=40");
    worker.stop().await;
}

#[tokio::test]
async fn an_attempt_counts_only_under_the_claim_it_was_made_under() {
    use collector::store::Attempt;
    let dir = tempfile::tempdir().unwrap();
    let config = with_postbacks(json!([{"event":"form_sold","url":"https://s.example/pb"}]));
    let app = state_with(&dir, Some("secret"), &Limits::default(), config);
    let store = app.store.clone();
    let router = harden(router(app), &Limits::default());
    let (s, _, _) = send(&router, post(batch("c1", vec![sold(1)]), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    let outcome = |done: Option<&'static str>| Attempt {
        at: 1,
        status: Some(200),
        latency_ms: 1,
        error: None,
        done,
        next_at: 0,
    };
    let claim = |lease: i64, name: &str| store.claim_postbacks(10, lease, name.to_owned());
    // Worker a claims the call for 300 ms; the lease lapses while its call is slow, and worker
    // b claims it.
    let a = claim(300, "a:1").await.unwrap();
    let none = claim(300, "b:1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let taken = claim(60_000, "b:2").await.unwrap();
    // a's stop releases a's claims only: b's holds.
    store.release_postbacks("a".into()).await.unwrap();
    let held = claim(60_000, "c:1").await.unwrap();
    // b's stop releases b's: the call is due again at once.
    store.release_postbacks("b".into()).await.unwrap();
    let freed = claim(60_000, "d:1").await.unwrap();
    store.release_postbacks("d".into()).await.unwrap();
    let b = claim(60_000, "b:3").await.unwrap();
    // a's late answer is recorded as an attempt but decides nothing.
    store
        .record_attempt(a[0].clone(), outcome(None))
        .await
        .unwrap();
    let status = query_one(dir.path(), "SELECT status FROM postbacks").unwrap();
    store
        .record_attempt(b[0].clone(), outcome(Some("delivered")))
        .await
        .unwrap();
    let row = &query(
        dir.path(),
        "SELECT status, attempts, (SELECT count(*) FROM postback_attempts) FROM postbacks",
    )[0];
    let (after, attempts, logged) = (
        row[0].clone().unwrap(),
        row[1].as_deref().unwrap().parse::<i64>().unwrap(),
        row[2].as_deref().unwrap().parse::<i64>().unwrap(),
    );
    let rows = (
        a.len(),
        none.len(),
        (taken.len(), held.len(), freed.len(), b.len()),
        status,
        after,
        attempts,
        logged,
    );
    assert_eq!(
        rows,
        (
            1,
            0,
            (1, 0, 1, 1),
            "pending".to_owned(),
            "delivered".to_owned(),
            1,
            2
        )
    );
}
