//! Past one machine: collectors on one PostgreSQL, with and without NATS JetStream as the
//! ingest log, as real processes on real servers (a throw-away PostgreSQL cluster and a
//! nats-server of their own). Events are stored exactly once whichever collector took them,
//! through a killed collector, a restarted sink and a stopped database; an admin change made
//! through one collector is served by all.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::servers::{Nats, Postgres, Process};
use common::{catalog_json, event, query_db, uid, ORIGIN};
use serde_json::{json, Value};

/// Ingest without the per-address limits: every test page comes from 127.0.0.1.
const UNLIMITED: [&str; 4] = [
    "--rate-per-client",
    "1000000",
    "--rate-per-campaign",
    "1000000",
];

/// The n-th lead's transaction.
fn txn(n: u32) -> String {
    format!("5f0c1f0e-8a51-4c1b-9a63-{n:012}")
}

/// An event of lead `lead`, with its own uid.
fn lead_event(n: u32, lead: u32, id: &str, category: &str) -> Value {
    let mut e = event(&uid(n), id, category);
    e["txn"] = json!(txn(lead));
    e
}

fn body(events: &[Value]) -> String {
    json!({"v":1,"cid":"c1","sent_at":1_764_190_000_200u64,"events":events}).to_string()
}

/// The collectors a page reaches, as a load balancer spreads them: a batch goes to the next one
/// up, and is sent again to another when its collector is gone or answers 5xx (the page keeps
/// it in its outbox, honouring Retry-After).
#[derive(Clone)]
struct Pages {
    client: reqwest::Client,
    collectors: Arc<Vec<String>>,
    down: Arc<Vec<AtomicBool>>,
    refused: Arc<AtomicUsize>,
}

impl Pages {
    fn new(collectors: Vec<String>) -> Pages {
        let down = collectors.iter().map(|_| AtomicBool::new(false)).collect();
        Pages {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            collectors: Arc::new(collectors),
            down: Arc::new(down),
            refused: Arc::default(),
        }
    }

    /// Sends `body` from collector `first` on until one stores it; returns which one did.
    async fn send(&self, body: &str, first: usize) -> usize {
        let n = self.collectors.len();
        let end = Instant::now() + Duration::from_secs(120);
        for i in (first..).map(|i| i % n) {
            assert!(Instant::now() < end, "a batch was never taken");
            if self.down[i].load(Ordering::SeqCst) {
                continue;
            }
            let sent = self
                .client
                .post(format!("http://{}/v1/events", self.collectors[i]))
                .header("origin", ORIGIN)
                .header("content-type", "text/plain")
                .body(body.to_owned())
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 200 => return i,
                Ok(r) if r.status() == 503 || r.status() == 429 => {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                    let wait: u64 = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(1);
                    tokio::time::sleep(Duration::from_secs(wait.min(5))).await;
                }
                Ok(r) => panic!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                // Gone (killed): the load balancer takes it out.
                Err(_) => self.down[i].store(true, Ordering::SeqCst),
            }
        }
        unreachable!()
    }
}

fn count(db: &str, sql: &str) -> i64 {
    query_db(db, sql)[0][0].as_deref().unwrap().parse().unwrap()
}

/// Waits until `sql` counts `want` in `db`; returns how long that took.
fn until_count(db: &str, sql: &str, want: i64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let have = count(db, sql);
        if have == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{sql}: {have}, not {want}, after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// These tests start their own servers: the suite's second pass (on the PostgreSQL of
/// tools/with-postgres.sh) would only run them again.
fn ran_before() -> bool {
    common::skip_on_postgres("starts its own PostgreSQL and NATS; ran in the first pass")
}

fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), catalog_json().to_string()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_collectors_and_two_sinks_store_every_event_exactly_once() {
    if ran_before() {
        return;
    }
    let pg = Postgres::start();
    let nats = Nats::start();
    let (db, queue) = (pg.url(), nats.url());
    let dir = config_dir();
    let mut args = vec!["--queue", queue.as_str()];
    args.extend(UNLIMITED);
    let mut collectors: Vec<Process> = (0..3)
        .map(|_| Process::collector(dir.path(), &db, &args))
        .collect();
    let mut sinks = vec![Process::sink(&db, &queue), Process::sink(&db, &queue)];
    let pages = Pages::new(collectors.iter().map(|c| c.addr.clone()).collect());

    // 2,000 leads of five events (a lead, three quotes, a form sold): 10,000 events in batches
    // of ten. A fifth of the batches is sent again through another collector; 400 leads report
    // their form sold a second time under a new uid (a once-per-lead event: stored once).
    const LEADS: u32 = 2_000;
    let mut batches = Vec::new();
    for pair in 0..LEADS / 2 {
        let mut events = Vec::new();
        for lead in [pair * 2, pair * 2 + 1] {
            let n = lead * 5;
            events.push(lead_event(n, lead, "base", "lead"));
            for q in 1..4 {
                events.push(lead_event(n + q, lead, "quote", "engagement"));
            }
            events.push(lead_event(n + 4, lead, "form_sold", "conversion"));
        }
        batches.push(body(&events));
    }
    for lead in 0..400 {
        batches.push(body(&[lead_event(
            100_000 + lead,
            lead * 5,
            "form_sold",
            "conversion",
        )]));
    }
    let resend: Vec<usize> = (0..batches.len()).filter(|i| i % 5 == 0).collect();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..16usize {
        let (pages, batches, resend, sent) =
            (pages.clone(), batches.clone(), resend.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            for i in (worker..batches.len()).step_by(16) {
                let took = pages.send(&batches[i], i).await;
                if resend.contains(&i) {
                    pages.send(&batches[i], took + 1).await;
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // In the middle: a collector killed, and a sink killed and started again.
    let mut killed = false;
    let mut restarted = false;
    while !(killed && restarted) {
        let done = sent.load(Ordering::SeqCst);
        if !killed && done >= 400 {
            collectors[1].kill();
            killed = true;
        }
        if !restarted && done >= 600 {
            sinks[0].kill();
            sinks[0] = Process::sink(&db, &queue);
            restarted = true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let drained = until_count(
        &db,
        "SELECT count(*) FROM events",
        10_000,
        Duration::from_secs(60),
    );
    eprintln!("the stream drained {drained:?} after the last batch was answered");
    // Nothing more arrives: every copy was a duplicate.
    std::thread::sleep(Duration::from_secs(2));
    for (sql, want) in [
        ("SELECT count(*) FROM events", 10_000),
        ("SELECT count(DISTINCT uid) FROM events", 10_000),
        ("SELECT count(*) FROM events WHERE event_id = 'base'", 2_000),
        ("SELECT count(*) FROM events WHERE event_id = 'quote'", 6_000),
        ("SELECT count(*) FROM events WHERE event_id = 'form_sold'", 2_000),
        (
            "SELECT count(*) FROM (SELECT txn FROM events WHERE event_id = 'form_sold' GROUP BY txn HAVING count(*) > 1) t",
            0,
        ),
    ] {
        assert_eq!(count(&db, sql), want, "{sql}");
    }
    // The second form sold of a lead is one of the events the store had: the sinks said so.
    for s in &mut sinks {
        s.terminate();
    }
    let said: String = sinks
        .iter()
        .map(|s| s.output.lock().unwrap().clone())
        .collect();
    assert!(said.contains("sink: stopped; stored"), "{said}");
    drop(collectors);
}

/// Sends `n` batches of one new event each (uids from `from`), 8 at a time, through `pages`.
async fn send_events(pages: &Pages, from: u32, n: u32) {
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let pages = pages.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(8) {
                let e = lead_event(from + i, from + i, "quote", "engagement");
                pages.send(&body(&[e]), i as usize).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_ingest_log_a_store_outage_refuses_nothing_and_loses_nothing() {
    if ran_before() {
        return;
    }
    let pg = Postgres::start();
    let nats = Nats::start();
    let (db, queue) = (pg.url(), nats.url());
    let dir = config_dir();
    let mut args = vec!["--queue", queue.as_str()];
    args.extend(UNLIMITED);
    let collector = Process::collector(dir.path(), &db, &args);
    let _sink = Process::sink(&db, &queue);
    let pages = Pages::new(vec![collector.addr.clone()]);
    send_events(&pages, 0, 200).await;
    until_count(
        &db,
        "SELECT count(*) FROM events",
        200,
        Duration::from_secs(30),
    );

    // The store is stopped for 20 s while pages send.
    pg.down();
    let outage = Instant::now();
    let mut during = 0;
    while outage.elapsed() < Duration::from_secs(20) {
        send_events(&pages, 1_000 + during * 50, 50).await;
        during += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready: Value = reqwest::get(format!("http://{}/readyz", collector.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready["store"].as_str().unwrap().starts_with("unreachable"));
    let metrics = reqwest::get(format!("http://{}/metrics", collector.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert_eq!(value("clickscript_store_up"), 0.0);
    assert!(value("clickscript_queue_lag_events") > 0.0, "{metrics}");
    pg.up();
    let back = Instant::now();
    let want = 200 + i64::from(during) * 50;
    let drained = until_count(
        &db,
        "SELECT count(*) FROM events",
        want,
        Duration::from_secs(60),
    );
    eprintln!(
        "with the ingest log: {want} events, none refused during the 20 s outage; stored {:?} after the store came back",
        back.elapsed().min(drained)
    );
    assert_eq!(
        pages.refused.load(Ordering::SeqCst),
        0,
        "a page was refused"
    );
    assert_eq!(count(&db, "SELECT count(DISTINCT uid) FROM events"), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_ingest_log_a_store_outage_is_503_and_the_retries_arrive_once() {
    if ran_before() {
        return;
    }
    let pg = Postgres::start();
    let db = pg.url();
    let dir = config_dir();
    let collector = Process::collector(dir.path(), &db, &UNLIMITED);
    let pages = Pages::new(vec![collector.addr.clone()]);
    send_events(&pages, 0, 100).await;
    pg.down();
    // Pages keep sending through the outage; the database comes back after 20 s.
    let sending = {
        let pages = pages.clone();
        tokio::spawn(async move { send_events(&pages, 1_000, 200).await })
    };
    tokio::time::sleep(Duration::from_secs(20)).await;
    pg.up();
    let back = Instant::now();
    sending.await.unwrap();
    eprintln!(
        "without the ingest log: {} answers 503 during the outage; the retries were all stored {:?} after the store came back",
        pages.refused.load(Ordering::SeqCst),
        back.elapsed()
    );
    assert!(
        pages.refused.load(Ordering::SeqCst) > 0,
        "the outage was never answered 503"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM events"), 300);
    assert_eq!(count(&db, "SELECT count(DISTINCT uid) FROM events"), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_change_through_one_collector_is_served_by_all_and_none_is_lost() {
    if ran_before() {
        return;
    }
    let pg = Postgres::start();
    let db = pg.url();
    let dir = config_dir();
    let collectors: Vec<Process> = (0..3)
        .map(|_| Process::collector(dir.path(), &db, &[]))
        .collect();
    let client = reqwest::Client::new();
    let admin = |c: &Process, method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, format!("http://{}{path}", c.addr))
            .bearer_auth("secret")
            .json(&body)
            .send()
    };
    let changed = Instant::now();
    let r = admin(
        &collectors[0],
        reqwest::Method::PATCH,
        "/admin/campaigns/c1",
        json!({"cookie_days": 7}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let mut reached = Vec::new();
    for c in &collectors {
        loop {
            let config: Value = reqwest::get(format!("http://{}/v1/campaigns/c1/config", c.addr))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if config["cookie_days"] == 7 {
                reached.push(changed.elapsed());
                break;
            }
            assert!(changed.elapsed() < Duration::from_secs(5), "{config}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!("an admin change reached the three collectors in {reached:?}");

    // 30 concurrent changes, each adding an event, spread over the three: each is stored or
    // answered 409 (the catalog changed meanwhile), never silently lost.
    let mut tasks = Vec::new();
    for n in 0..30 {
        let (client, addr) = (client.clone(), collectors[n % 3].addr.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("http://{addr}/admin/orgs/o/events"))
                .bearer_auth("secret")
                .json(&json!({"id": format!("added_{n}"), "category": "engagement"}))
                .send()
                .await
                .unwrap();
            (n, r.status().as_u16())
        }));
    }
    let mut created = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            (n, 201) => created.push(format!("added_{n}")),
            (_, 409) => conflicts += 1,
            (n, s) => panic!("change {n}: {s}"),
        }
    }
    eprintln!("{} changes stored, {conflicts} answered 409", created.len());
    assert!(!created.is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for c in &collectors {
        let org: Value = admin(c, reqwest::Method::GET, "/admin/orgs/o", Value::Null)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut have: Vec<String> = org["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["id"].as_str().filter(|i| i.starts_with("added_")))
            .map(str::to_owned)
            .collect();
        have.sort();
        created.sort();
        assert_eq!(have, created, "{}", c.addr);
    }
}

#[tokio::test]
async fn a_database_that_must_be_reached_over_tls_is_never_reached_without_it() {
    if ran_before() {
        return;
    }
    // This cluster offers no TLS: `sslmode=require` refuses it rather than send lead data in
    // the clear; the default (`prefer`) takes TLS when offered, else connects as it is.
    let pg = Postgres::start();
    let options = collector::store::StoreOptions::default();
    let refused =
        collector::store::Store::connect(&format!("{}?sslmode=require", pg.url()), &options)
            .await
            .err()
            .expect("refused");
    assert!(
        refused.to_string().contains("TLS")
            || refused.to_string().contains("tls")
            || refused.to_string().contains("SSL"),
        "{refused}"
    );
    collector::store::Store::connect(&pg.url(), &options)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collectors_starting_at_once_on_a_new_database_all_start_and_store_the_catalog_once() {
    if ran_before() {
        return;
    }
    let pg = Postgres::start();
    let db = pg.url();
    let dir = config_dir();
    // Four at once: the schema migrated under one lock, the catalog stored by the first.
    let started: Vec<Process> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| Process::collector(dir.path(), &db, &[])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for c in &started {
        let ready = reqwest::get(format!("http://{}/readyz", c.addr))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
    assert_eq!(
        count(&db, "SELECT version FROM catalog_document"),
        1,
        "stored once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_ingest_log_answers_503_and_takes_events_again_once_a_sink_empties_it() {
    if ran_before() {
        return;
    }
    let pg = Postgres::start();
    let nats = Nats::start();
    let (db, queue) = (pg.url(), nats.url());
    let dir = config_dir();
    // Room for a few dozen events, and no sink yet: the stream fills.
    let mut args = vec!["--queue", queue.as_str(), "--queue-max-bytes", "40000"];
    args.extend(UNLIMITED);
    let collector = Process::collector(dir.path(), &db, &args);
    let client = reqwest::Client::new();
    let one = |n: u32| body(&[lead_event(n, n, "quote", "engagement")]);
    let mut full = None;
    let mut n = 0u32;
    while n < 1_000 {
        let r = client
            .post(format!("http://{}/v1/events", collector.addr))
            .header("origin", ORIGIN)
            .header("content-type", "text/plain")
            .body(one(n))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            let retry = r.headers()["retry-after"].to_str().unwrap().to_owned();
            let answer = r.text().await.unwrap();
            // A slow machine may time an append out ("unavailable"): only "full" ends it.
            if answer.contains("ingest log full") {
                full = Some((n, retry, answer));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(r.status(), 200);
        n += 1;
    }
    let (taken, retry, answer) = full.expect("the stream never filled");
    assert!(taken > 10, "{taken}");
    assert_eq!(retry, "30");
    assert!(answer.contains("ingest log full"), "{answer}");
    // A sink empties the stream: the refused event is taken when sent again, and every event
    // is stored once.
    let _sink = Process::sink(&db, &queue);
    let pages = Pages::new(vec![collector.addr.clone()]);
    pages.send(&one(taken), 0).await;
    until_count(
        &db,
        "SELECT count(*) FROM events",
        i64::from(taken) + 1,
        Duration::from_secs(60),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_postgres_encrypts_as_libpq_does_and_checks_a_given_ca() {
    if ran_before() {
        return;
    }
    use collector::store::{Store, StoreOptions};
    let (pg, cert) = Postgres::start_tls();
    let dir = tempfile::tempdir().unwrap();
    let own_ca = dir.path().join("server-ca.pem");
    std::fs::write(&own_ca, &cert).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let plain = format!("{}?sslmode=disable", pg.url());
    let encrypted = || count(&plain, "SELECT count(*) FROM pg_stat_ssl WHERE ssl");

    // sslmode=require: encrypted, the self-signed certificate taken as libpq takes it.
    let store = Store::connect(
        &format!("{}?sslmode=require", pg.url()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    store.probe().await.unwrap();
    assert!(encrypted() >= 1, "no connection is encrypted");
    drop(store);

    // --db-ca: a certificate that does not chain to it is refused ...
    let localhost = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=require",
        pg.port
    );
    let checked = |ca: &std::path::Path| StoreOptions {
        db_ca: Some(ca.to_owned()),
        ..StoreOptions::default()
    };
    let refused = Store::connect(&localhost, &checked(&other_ca)).await;
    assert!(refused.is_err(), "a server outside the given CA was taken");
    // ... and one that does, for the host it names, is taken.
    Store::connect(&localhost, &checked(&own_ca))
        .await
        .unwrap()
        .probe()
        .await
        .unwrap();
}
