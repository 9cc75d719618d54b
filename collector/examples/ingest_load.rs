//! Ingest under load, measured: a load generator sends realistic batches over loopback from 1, 4
//! and 16 concurrent senders for a bounded time each, and reports events per second and p50/p99
//! latency for each store: SQLite (`--sync full` and `normal`), PostgreSQL, and NATS JetStream in
//! front of PostgreSQL (the ingest log, with two sinks), each with one and with three collectors (the
//! senders spread over them, as a load balancer would). Each store's raw insert rate is
//! measured in the same run, on the same machine, as the limit, and every figure is also given
//! as a ratio to it. The collectors' peak RSS is reported. PostgreSQL and NATS are throw-away
//! servers of the run's own (tests/common/servers.rs), PostgreSQL with its default durability.
//!
//! `cargo run --release -p collector --example ingest_load [-- --seconds 5]` (after
//! `cargo build --release -p collector`; needs PostgreSQL and nats-server, which `make test`
//! installs). Writes the Markdown report, with a chart, to `target/ingest-load.md`.

#[allow(dead_code)]
#[path = "../tests/common/servers.rs"]
mod servers;

use std::path::Path;
use std::time::{Duration, Instant};

use collector::store::{Durability, NewEvent, Store, StoreOptions};
use serde_json::json;
use servers::{Nats, Postgres, Process};

const CAMPAIGN: &str = "load";
const ORIGIN: &str = "https://lp.example";
/// Events per batch: a page load's Base Event and Base Click Sold, and an engagement event.
const PER_BATCH: usize = 3;

fn config() -> String {
    json!({"organizations":[{"id":"o","events":[{"id":"quote","category":"engagement","multi":true}],
        "campaigns":[{"id":CAMPAIGN,"allowed_origins":[ORIGIN]}]}]})
    .to_string()
}

fn uuid(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 48 & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// One page's batch: a new lead with its Base Event, Base Click Sold and a quote.
fn batch(sender: u64, n: u64, now: u64) -> String {
    let txn = uuid(sender << 40 | n, 1);
    let events: Vec<_> = [("base", "lead", "system"), ("click_sold", "click", "system"), ("quote", "engagement", "org")]
        .iter()
        .enumerate()
        .map(|(i, (id, category, scope))| {
            json!({"uid":uuid(sender << 40 | n, 100 + i as u64),"event_id":id,"category":category,"scope":scope,"txn":txn,
                "visitor":uuid(sender << 40 | n, 2),"session":uuid(sender << 40 | n, 3),"ts":now,"seq":i + 1,
                "page":{"url":"https://lp.example/auto-insurance?utm_source=google&utm_campaign=spring&gclid=Cj0KCQ","referrer":"https://www.google.com/",
                    "title":"Compare auto insurance quotes","language":"en-US","time_zone":"America/Chicago","screen":"390x844","viewport":"390x664"},
                "attribution":{"params":{"utm_source":"google","utm_medium":"cpc","utm_campaign":"spring","sub1":"aff-17"},"click_ids":{"gclid":"Cj0KCQ"}},
                "data":{"zip":"60601","vehicle_year":"2019"},"consent":null,"bot":false})
        })
        .collect();
    json!({"v":1,"cid":CAMPAIGN,"sent_at":now,"events":events}).to_string()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Run {
    senders: usize,
    events: u64,
    events_per_s: f64,
    p50: Duration,
    p99: Duration,
}

/// `senders` pages sending batch after batch for `seconds`, spread over the collectors `urls`.
async fn load(urls: &[String], senders: usize, seconds: u64, offset: u64) -> Run {
    let client = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let client = client.clone();
        let url = format!("{}/v1/events", urls[s % urls.len()]);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < end {
                let body = batch(offset + s as u64, n, now_ms());
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("origin", ORIGIN)
                    .header("content-type", "text/plain;charset=UTF-8")
                    .body(body)
                    .send()
                    .await
                    .expect("collector reachable");
                assert!(r.status().is_success(), "{}", r.status());
                let _ = r.bytes().await;
                latencies.push(t.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Run {
        senders,
        events: (all.len() * PER_BATCH) as u64,
        events_per_s: (all.len() * PER_BATCH) as f64 / elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// One event of a batch, as the collector stores it.
fn one_event(n: u64) -> String {
    let batch: serde_json::Value = serde_json::from_str(&batch(0, n, now_ms())).unwrap();
    batch["events"][2].to_string()
}

/// A store's raw insert rate here: the collector's own insert path, 768 events per commit
/// (SQLite's writer's largest group of batches), from one task with nothing else in the way.
async fn raw_rate(db: &str, durability: Durability, seconds: u64) -> f64 {
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    let store = Store::connect(db, &options).await.unwrap();
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut stored = 0usize;
    let mut n = 0u64;
    while Instant::now() < end {
        let events: Vec<NewEvent> = (0..256 * PER_BATCH as u64)
            .map(|i| {
                n += 1;
                NewEvent {
                    uid: uuid(n, i),
                    campaign: CAMPAIGN.into(),
                    event_id: "quote".into(),
                    category: "engagement",
                    txn: uuid(n, 1),
                    once: false,
                    ts: now_ms(),
                    body: one_event(n),
                    postbacks: Vec::new(),
                }
            })
            .collect();
        stored += store.insert_batch(events).await.unwrap().len();
    }
    stored as f64 / started.elapsed().as_secs_f64()
}

/// Where a configuration stores its events.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sqlite(&'static str),
    Postgres,
    NatsPostgres,
}

struct Measured {
    name: String,
    raw: f64,
    runs: Vec<Run>,
    drained: Option<Duration>,
    peak_kb: u64,
}

fn count(db: &str) -> i64 {
    let db = db.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (client, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client
                    .query_one("SELECT count(*) FROM events", &[])
                    .await
                    .map_or(0, |r| r.get(0))
            })
    })
    .join()
    .unwrap()
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    dir: &Path,
    kind: Kind,
    collectors: usize,
    db: &str,
    queue: &str,
    raw: f64,
    seconds: u64,
    offset: u64,
) -> Measured {
    let mut args = vec![
        "--rate-per-client",
        "1000000",
        "--rate-per-campaign",
        "1000000",
    ];
    if let Kind::Sqlite(sync) = kind {
        args.extend(["--sync", sync]);
    }
    if kind == Kind::NatsPostgres {
        args.extend(["--queue", queue]);
    }
    let running: Vec<Process> = (0..collectors)
        .map(|_| Process::collector(dir, db, &args))
        .collect();
    let sinks: Vec<Process> = match kind {
        Kind::NatsPostgres => (0..2).map(|_| Process::sink(db, queue)).collect(),
        _ => Vec::new(),
    };
    let urls: Vec<String> = running
        .iter()
        .map(|c| format!("http://{}", c.addr))
        .collect();
    let mut runs = Vec::new();
    let mut sent = 0;
    for (k, senders) in [1usize, 4, 16].into_iter().enumerate() {
        let run = load(&urls, senders, seconds, offset + (k as u64 + 1) * 1000).await;
        sent += run.events;
        runs.push(run);
    }
    // With the ingest log, the figures are what the stream took: how long the sinks then took
    // to store it all is said too.
    let drained = (kind == Kind::NatsPostgres).then(|| {
        let answered = Instant::now();
        while (count(db) as u64) < sent {
            assert!(
                answered.elapsed() < Duration::from_secs(300),
                "the sinks never caught up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        answered.elapsed()
    });
    let peak_kb = running
        .iter()
        .map(|c| peak_rss_kb(c.child.id()))
        .max()
        .unwrap_or(0);
    drop(sinks);
    let store = match kind {
        Kind::Sqlite(sync) => format!("SQLite (sync {sync})"),
        Kind::Postgres => "PostgreSQL".into(),
        Kind::NatsPostgres => "NATS + PostgreSQL".into(),
    };
    Measured {
        name: format!(
            "{store}, {collectors} collector{}",
            if collectors > 1 { "s" } else { "" }
        ),
        raw,
        runs,
        drained,
        peak_kb,
    }
}

/// The chart: events per second of each configuration at 1, 4 and 16 senders (Mermaid, which
/// GitHub and most Markdown viewers draw).
fn chart(measured: &[Measured]) -> String {
    let names: Vec<String> = (1..=measured.len()).map(|i| format!("\"{i}\"")).collect();
    let top = measured
        .iter()
        .flat_map(|m| m.runs.iter().map(|r| r.events_per_s))
        .fold(0.0, f64::max);
    let mut out = format!(
        "```mermaid\nxychart-beta\n    title \"Events per second by configuration (1, 4, 16 senders)\"\n    x-axis [{}]\n    y-axis \"events/s\" 0 --> {:.0}\n",
        names.join(", "),
        top * 1.1
    );
    for k in 0..3 {
        let values: Vec<String> = measured
            .iter()
            .map(|m| format!("{:.0}", m.runs[k].events_per_s))
            .collect();
        out += &format!("    bar [{}]\n", values.join(", "));
    }
    out + "```\n"
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5u64);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config()).unwrap();
    let pg = Postgres::start();
    let nats = Nats::start();
    let queue = nats.url();
    let schema = |name: &str| format!("{}?options=-csearch_path%3D{name}", pg.url());
    let sqlite = |name: &str| dir.path().join(name).display().to_string();

    let raw_full = raw_rate(&sqlite("raw-full.db"), Durability::Full, seconds).await;
    let raw_normal = raw_rate(&sqlite("raw-normal.db"), Durability::Normal, seconds).await;
    let raw_pg = raw_rate(&schema("raw"), Durability::Full, seconds).await;
    eprintln!(
        "raw: SQLite full {raw_full:.0}, normal {raw_normal:.0}, PostgreSQL {raw_pg:.0} events/s"
    );

    let setups: Vec<(Kind, usize, String, f64)> = vec![
        (Kind::Sqlite("full"), 1, sqlite("full-1.db"), raw_full),
        (Kind::Sqlite("normal"), 1, sqlite("normal-1.db"), raw_normal),
        (Kind::Sqlite("full"), 3, sqlite("full-3.db"), raw_full),
        (Kind::Postgres, 1, schema("pg1"), raw_pg),
        (Kind::Postgres, 3, schema("pg3"), raw_pg),
        (Kind::NatsPostgres, 1, schema("nats1"), raw_pg),
        (Kind::NatsPostgres, 3, schema("nats3"), raw_pg),
    ];
    let mut measured = Vec::new();
    for (i, (kind, collectors, db, raw)) in setups.into_iter().enumerate() {
        let m = measure(
            dir.path(),
            kind,
            collectors,
            &db,
            &queue,
            raw,
            seconds,
            i as u64 * 10_000,
        )
        .await;
        eprintln!(
            "{}: {:?} events/s",
            m.name,
            m.runs
                .iter()
                .map(|r| r.events_per_s.round())
                .collect::<Vec<_>>()
        );
        measured.push(m);
    }

    let mut report = String::from("# Ingest on loopback\n\n");
    report += &format!(
        "{seconds} s per run, {PER_BATCH} events per batch (Base Event, Base Click Sold, an engagement event; ~2.3 KB), \
         on {} cores. Senders are spread over the collectors as a load balancer would. PostgreSQL {} runs with its \
         default durability (fsync, synchronous_commit on); NATS JetStream stores to a file, one replica; two sinks.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::process::Command::new("psql").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().replace("psql (PostgreSQL) ", "")).unwrap_or_default(),
    );
    report += &chart(&measured);
    report += "\n| # | configuration | senders | events/s | ratio to the store's raw insert | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|\n";
    for (i, m) in measured.iter().enumerate() {
        for r in &m.runs {
            report += &format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
                i + 1,
                m.name,
                r.senders,
                r.events_per_s,
                r.events_per_s / m.raw,
                r.p50.as_secs_f64() * 1000.0,
                r.p99.as_secs_f64() * 1000.0
            );
        }
    }
    report += "\nEach store's raw insert rate, the limit (the collector's insert path, 768 events per commit, one task):\n\n";
    report += &format!("- SQLite `synchronous=FULL`: {raw_full:.0} events/s\n- SQLite `synchronous=NORMAL`: {raw_normal:.0} events/s\n- PostgreSQL: {raw_pg:.0} events/s\n");
    report += "\nWith the ingest log a batch is answered once JetStream holds it; the sinks then stored every event of the three runs:\n\n";
    for m in measured.iter().filter(|m| m.drained.is_some()) {
        report += &format!(
            "- {}: all stored {:.1} s after the last answer\n",
            m.name,
            m.drained.unwrap_or_default().as_secs_f64()
        );
    }
    report += "\nPeak RSS of a collector (the largest of a configuration's):\n\n";
    for m in &measured {
        report += &format!("- {}: {:.1} MB\n", m.name, m.peak_kb as f64 / 1024.0);
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ingest-load.md");
    std::fs::write(&out, &report).unwrap();
    println!("{report}\n(written to {})", out.display());
}
