//! Ingest under load, measured: starts the release collector on a fresh SQLite file, sends
//! realistic batches over loopback from 1, 4 and 16 concurrent senders for a bounded time each,
//! and reports events per second and p50/p99 latency, against SQLite's raw insert rate on the
//! same machine (the limit), for `--sync full` and `--sync normal`, with the collector's peak RSS.
//!
//! `cargo run --release -p collector --example ingest_load [-- --seconds 5]` (after
//! `cargo build --release -p collector`). Writes the Markdown report to `target/ingest-load.md`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use collector::store::{Durability, NewEvent, Store, StoreOptions};
use serde_json::json;

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

struct Collector {
    child: Child,
    url: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, sync: &str, port: u16) -> Collector {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("loader.js"), "var c=/*PT_CONFIG*/null;").unwrap();
    std::fs::write(dir.join("config.json"), config()).unwrap();
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/collector");
    let child = Command::new(exe)
        .args([
            "--port",
            &port.to_string(),
            "--sync",
            sync,
            "--rate-per-client",
            "1000000",
        ])
        .args(["--rate-per-campaign", "1000000"])
        .arg("--config")
        .arg(dir.join("config.json"))
        .arg("--db")
        .arg(dir.join(format!("{sync}.db")))
        .arg("--pkg")
        .arg(&pkg)
        .stdout(Stdio::null())
        .spawn()
        .expect("build the collector first: cargo build --release -p collector");
    Collector {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
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
    events_per_s: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(url: &str, senders: usize, seconds: u64, offset: u64) -> Run {
    let client = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let client = client.clone();
        let url = format!("{url}/v1/events");
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

/// SQLite's raw insert rate here: the collector's own insert path, 256 batches per commit (the
/// writer's largest group), from one thread with nothing else in the way.
async fn raw_rate(dir: &Path, durability: Durability, seconds: u64) -> f64 {
    let path = dir.join(format!("raw-{durability:?}.db"));
    let store = Store::open_with(
        &path,
        &StoreOptions {
            durability,
            ..StoreOptions::default()
        },
    )
    .unwrap();
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5u64);
    let dir = tempfile::tempdir().unwrap();
    let mut report = String::from("# Ingest on loopback\n\n");
    report += &format!(
        "{} s per run, {PER_BATCH} events per batch (Base Event, Base Click Sold, an engagement event; ~2.3 KB), one collector, SQLite.\n\n",
        seconds
    );
    report += "| sync | senders | events/s | ratio to raw insert | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n";
    let mut peak = 0;
    let mut raws = Vec::new();
    for (i, (sync, durability)) in [("full", Durability::Full), ("normal", Durability::Normal)]
        .into_iter()
        .enumerate()
    {
        let raw = raw_rate(dir.path(), durability, seconds).await;
        raws.push((sync, raw));
        let port = 18000 + i as u16 + (std::process::id() % 1000) as u16 * 2;
        let collector = start(dir.path(), sync, port);
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("{}/healthz", collector.url))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (k, senders) in [1usize, 4, 16].into_iter().enumerate() {
            let run = load(&collector.url, senders, seconds, (k as u64 + 1) * 1000).await;
            report += &format!(
                "| {sync} | {} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
                run.senders,
                run.events_per_s,
                run.events_per_s / raw,
                run.p50.as_secs_f64() * 1000.0,
                run.p99.as_secs_f64() * 1000.0
            );
            eprintln!("{sync} {senders} senders: {:.0} events/s", run.events_per_s);
        }
        peak = peak.max(peak_rss_kb(collector.child.id()));
    }
    report += "\nSQLite's raw insert rate (the collector's insert path, 768 events per commit, one thread):\n\n";
    for (sync, raw) in raws {
        report += &format!(
            "- `synchronous={}`: {raw:.0} events/s\n",
            sync.to_uppercase()
        );
    }
    report += &format!(
        "\nPeak RSS of the collector while ingesting: {:.1} MB\n",
        peak as f64 / 1024.0
    );
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ingest-load.md");
    std::fs::write(&out, &report).unwrap();
    println!("{report}\n(written to {})", out.display());
}
