//! Reports over a million events, measured: fills a fresh SQLite file through the collector's
//! own insert path with 1,000,000 realistic events (two organizations, six campaigns of very
//! different sizes, 30 days, leads from a dozen sources and fifty affiliates, funnels of clicks,
//! quotes, forms, calls and purchases with revenue and payout, 5 % bots), then times each kind
//! of report (the median of several runs, and the first).
//!
//! `cargo run --release -p collector --example report_bench [-- --events 1000000]`. Writes the
//! Markdown report to `target/report-bench.md`.

use std::path::Path;
use std::time::{Duration, Instant};

use collector::catalog::Catalog;
use collector::reports::{Params, Rows, Scope};
use collector::store::{Durability, Inserted, NewEvent, Store, StoreOptions};
use serde_json::json;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const SOURCES: [&str; 12] = [
    "google",
    "facebook",
    "bing",
    "tiktok",
    "taboola",
    "outbrain",
    "newsletter",
    "partner-a",
    "partner-b",
    "youtube",
    "reddit",
    "direct",
];
/// Each campaign's share of the leads: one large campaign, a long tail.
const CAMPAIGNS: [(&str, u32); 6] = [
    ("auto", 50),
    ("home", 20),
    ("life", 10),
    ("pets", 5),
    ("solar", 10),
    ("loans", 5),
];

fn catalog() -> Catalog {
    let file = serde_json::from_value(json!({"organizations":[
        {"id":"acme","name":"Acme","events":[
            {"id":"quote","category":"engagement","multi":true},
            {"id":"purchase","category":"conversion","revenue":25,"payout":5,"conversion":true}],
         "campaigns":[{"id":"auto"},{"id":"home"},{"id":"life"},{"id":"pets"}]},
        {"id":"beta","name":"Beta","events":[{"id":"quote","category":"engagement","multi":true}],
         "campaigns":[{"id":"solar"},{"id":"loans","events":[
            {"id":"funded","category":"conversion","multi":true,"revenue":{"prop":"value"},"conversion":true}]}]}]}))
    .expect("the bench's catalog reads");
    Catalog::build(file).expect("the bench's catalog is valid")
}

/// A small deterministic generator (xorshift), so that every run fills the same data.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A UUID-shaped ID unique for each (`a` < 2^48, `b` < 2^28).
fn uuid(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-7{:03x}-8000-{:012x}",
        0x0193_b8a2u32,
        (b >> 12) & 0xffff,
        b & 0xfff,
        a & 0xffff_ffff_ffff
    )
}

/// An event of a lead: its ID, category, scope, revenue and payout.
type Step = (
    &'static str,
    &'static str,
    &'static str,
    Option<f64>,
    Option<f64>,
);

/// One lead's events: a Base Event, and what the visitor went on to do.
fn lead(dice: &mut Dice, n: u64, now: u64, live: bool, out: &mut Vec<NewEvent>) {
    let mut pick = dice.below(100) as u32;
    let campaign = CAMPAIGNS
        .iter()
        .find(|(_, share)| {
            let hit = pick < *share;
            pick = pick.saturating_sub(*share);
            hit
        })
        .map_or("auto", |(c, _)| c);
    let org_events = if matches!(campaign, "solar" | "loans") {
        "beta"
    } else {
        "acme"
    };
    let txn = uuid(n, 1);
    let source = SOURCES[(dice.below(64) as usize * dice.below(64) as usize / 342).min(11)];
    let affiliate = format!("aff-{}", dice.below(50));
    let bot = dice.chance(5);
    // Filling: leads over the last 30 days; live: each a moment after the one before (as ingest
    // sees them).
    let start = if live {
        now + n * 50
    } else {
        now - dice.below(30 * DAY_MS)
    };
    let mut steps: Vec<Step> = vec![("base", "lead", "system", None, None)];
    if dice.chance(80) {
        steps.push(("click_sold", "click", "system", Some(1.5), Some(0.75)));
    }
    for _ in 0..dice.below(3) {
        steps.push(("quote", "engagement", "org", None, None));
    }
    if dice.chance(12) {
        steps.push(("form_sold", "conversion", "system", Some(18.0), Some(6.0)));
    }
    if dice.chance(5) {
        steps.push(("call_sold", "conversion", "system", Some(40.0), Some(15.0)));
    }
    if org_events == "acme" && dice.chance(4) {
        steps.push(("purchase", "conversion", "org", Some(25.0), Some(5.0)));
    }
    if campaign == "loans" && dice.chance(6) {
        for _ in 0..1 + dice.below(2) {
            steps.push(("funded", "conversion", "campaign", Some(120.0), None));
        }
    }
    for (i, (event, category, scope, revenue, payout)) in steps.into_iter().enumerate() {
        let ts = start + i as u64 * 40_000 + dice.below(20_000);
        let uid = uuid(n, 100 + i as u64);
        let mut body = json!({"uid":uid,"event_id":event,"category":category,"scope":scope,"txn":txn,
            "visitor":uuid(n, 2),"session":uuid(n, 3),"ts":ts,"seq":i + 1,
            "page":{"url":format!("https://lp.example/{campaign}?utm_source={source}&utm_medium=cpc&utm_campaign=winter&sub1={affiliate}&gclid=Cj0KCQ"),
                "referrer":"https://www.google.com/","title":"Compare quotes","language":"en-US",
                "time_zone":"America/Chicago","screen":"390x844","viewport":"390x664"},
            "attribution":{"params":{"utm_source":source,"utm_medium":"cpc","utm_campaign":"winter","sub1":affiliate,
                "sub3":format!("creative-{}", n % 7)},"click_ids":{"gclid":"Cj0KCQ"}},
            "data":{"zip":"60601","vehicle_year":"2019"},"consent":null,"gpc":false,"dnt":false,"bot":bot});
        if let Some(r) = revenue {
            body["revenue"] = r.into();
        }
        if let Some(p) = payout {
            body["payout"] = p.into();
        }
        out.push(NewEvent {
            postbacks: Vec::new(),
            uid,
            campaign: campaign.into(),
            event_id: event.into(),
            category,
            txn: txn.clone(),
            once: !matches!(event, "quote" | "funded"),
            ts,
            body: body.to_string(),
        });
    }
}

async fn fill(store: &Store, events: u64, now: u64, live: bool) -> u64 {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let mut stored = 0;
    let mut n = 0;
    while stored < events {
        let mut batch = Vec::new();
        while batch.len() < 5000 {
            n += 1;
            lead(&mut dice, n, now, live, &mut batch);
        }
        batch.truncate((events - stored) as usize);
        let results = store.insert_batch(batch).await.expect("stored");
        stored += results.iter().filter(|r| **r == Inserted::New).count() as u64;
    }
    stored
}

/// Drops the reports' indexes (for the comparison of ingest without them, and the upgrade).
async fn drop_report_indexes(store: &Store) {
    store
        .sqlite()
        .expect("a SQLite store")
        .run(|c| {
            let indexes: Vec<String> = c
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index'
                       AND (name = 'events_report' OR name LIKE 'events_by_%')",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for i in indexes {
                c.execute_batch(&format!("DROP INDEX {i}"))?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// Events per second stored into a fresh database, with or without the reports' indexes.
async fn insert_rate(dir: &Path, with_indexes: bool, events: u64, now: u64) -> f64 {
    let path = dir.join(format!("rate-{with_indexes}.db"));
    let options = StoreOptions {
        durability: Durability::Normal,
        ..StoreOptions::default()
    };
    let store = Store::open_with(&path, &options).unwrap();
    if !with_indexes {
        drop_report_indexes(&store).await;
    }
    let started = Instant::now();
    let stored = fill(&store, events, now, true).await;
    stored as f64 / started.elapsed().as_secs_f64()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1_000_000u64);
    let dir = tempfile::tempdir().unwrap();
    // `--db FILE` keeps the database (for a look with EXPLAIN QUERY PLAN).
    let path = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1))
        .map_or(dir.path().join("bench.db"), std::path::PathBuf::from);
    let options = StoreOptions {
        durability: Durability::Normal,
        ..StoreOptions::default()
    };
    let store = Store::open_with(&path, &options).unwrap();
    let catalog = catalog();
    store.save_catalog(&catalog, None).await.unwrap();
    let now = collector::store::now_ms() as u64;
    let started = Instant::now();
    let stored = fill(&store, events, now, false).await;
    let filled = started.elapsed();
    eprintln!("filled {stored} events in {filled:.1?}");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(path.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);

    // An existing database of this size getting the reports' indexes: what the first start
    // after the upgrade does.
    drop_report_indexes(&store).await;
    drop(store);
    let started = Instant::now();
    let store = Store::open_with(&path, &options).unwrap();
    let migrated = started.elapsed();

    let query = |q: &[(&str, &str)]| -> Params {
        let q: Vec<(String, String)> = q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Params::read(&q, now as i64).unwrap()
    };
    let month_from = (now - 30 * DAY_MS).to_string();
    let week_from = (now - 7 * DAY_MS).to_string();
    let kinds: Vec<(&str, Scope, Params)> = vec![
        (
            "campaign `auto` (50 %), 30 days by day",
            Scope::campaign(&catalog, "auto").unwrap(),
            query(&[("from", &month_from), ("group", "day")]),
        ),
        (
            "campaign `auto`, 7 days by hour",
            Scope::campaign(&catalog, "auto").unwrap(),
            query(&[("from", &week_from), ("group", "hour")]),
        ),
        (
            "campaign `auto`, 30 days by event",
            Scope::campaign(&catalog, "auto").unwrap(),
            query(&[("from", &month_from), ("group", "event")]),
        ),
        (
            "campaign `auto`, 30 days by utm_source",
            Scope::campaign(&catalog, "auto").unwrap(),
            query(&[("from", &month_from), ("group", "utm_source")]),
        ),
        (
            "campaign `auto`, 30 days by sub1 (50 affiliates), bots included",
            Scope::campaign(&catalog, "auto").unwrap(),
            query(&[
                ("from", &month_from),
                ("group", "sub1"),
                ("include_bots", "true"),
            ]),
        ),
        (
            "campaign `loans` (5 %, multi conversion), 30 days by day",
            Scope::campaign(&catalog, "loans").unwrap(),
            query(&[("from", &month_from), ("group", "day")]),
        ),
        (
            "organization `acme` (85 %), 30 days by day",
            Scope::org(&catalog, "acme").unwrap(),
            query(&[("from", &month_from), ("group", "day")]),
        ),
        (
            "organization `acme`, 30 days by campaign",
            Scope::org(&catalog, "acme").unwrap(),
            query(&[("from", &month_from), ("group", "campaign")]),
        ),
        (
            "organization `acme`, 30 days by sub3",
            Scope::org(&catalog, "acme").unwrap(),
            query(&[("from", &month_from), ("group", "sub3")]),
        ),
        (
            "campaign `auto`, the default (today and the 6 days before, by day)",
            Scope::campaign(&catalog, "auto").unwrap(),
            query(&[]),
        ),
    ];
    // What the indexes cost ingest: the same events into fresh files, with and without them.
    let sample = 100_000;
    let without = insert_rate(dir.path(), false, sample, now).await;
    let with = insert_rate(dir.path(), true, sample, now).await;
    let mut report = String::from("# Reports over a million events\n\n");
    report += &format!(
        "{stored} events ({:.0} MB of SQLite file) filled through the collector's insert path in {:.1} s \
         ({:.0} events/s, `synchronous=NORMAL`, 5,000 events per commit, with the reports' indexes); \
         building the reports' indexes on them, as the first start after an upgrade does: {:.1} s.\n\n",
        size as f64 / 1e6,
        filled.as_secs_f64(),
        stored as f64 / filled.as_secs_f64(),
        migrated.as_secs_f64()
    );
    report += &format!(
        "Ingest's insert rate (the same path, {sample} events as they arrive, a lead after another, into a \
         fresh file): {without:.0} events/s without the reports' indexes, {with:.0} with them ({:.0} %).\n\n",
        100.0 * with / without
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_owned();
    report += &format!(
        "{} cores, load average {load} when the reports started (the machine is shared). Each report \
         run 7 times on a read connection: the first run, and the median.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    report += "| report | events in range | rows | first ms | median ms |\n|---|---|---|---|---|\n";
    for (name, scope, params) in kinds {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..7 {
            let (scope, params) = (scope.clone(), params.clone());
            let t = Instant::now();
            let r = store.report(scope, params).await.unwrap();
            times.push(t.elapsed());
            last = Some(r);
        }
        let r = last.unwrap();
        let counted: u64 =
            r.totals.events.values().sum::<u64>() + if r.include_bots { 0 } else { r.totals.bots };
        let rows = match &r.rows {
            Rows::Metrics(v) => v.len(),
            Rows::Events(v) => v.len(),
        };
        let first = times[0];
        report += &format!(
            "| {name} | {counted} | {rows} | {:.0} | {:.0} |\n",
            first.as_secs_f64() * 1000.0,
            median(times).as_secs_f64() * 1000.0
        );
        eprintln!("{name}: {:.0} ms", first.as_secs_f64() * 1000.0);
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report-bench.md");
    std::fs::write(&out, &report).unwrap();
    println!("{report}\n(written to {})", out.display());
}
