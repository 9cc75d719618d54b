//! Postback throughput, measured: queues N calls (as ingest does, in the events' own
//! transactions) to a receiver on loopback that answers 200 at once, and times the worker
//! delivering them all at several concurrencies. `cargo run --release -p collector --example
//! postback_load [-- --calls 5000]`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::routing::get;
use collector::catalog::{self, Catalog};
use collector::deliver::{Settings, Worker};
use collector::postback::{self, Postback};
use collector::store::{NewEvent, Store, StoreOptions};
use serde_json::json;

fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

async fn receiver() -> (Arc<AtomicUsize>, String) {
    let got = Arc::new(AtomicUsize::new(0));
    let count = got.clone();
    let app = axum::Router::new().route(
        "/pb",
        get(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pb", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, app).await });
    (got, url)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5000);
    let (got, url) = receiver().await;
    let postback: Postback = serde_json::from_value(json!({"event":"form_sold",
        "url": format!("{url}?txn={{transaction_id}}&click={{sub1}}&payout={{payout}}")}))
    .unwrap();
    let document = json!({"organizations":[{"id":"o","campaigns":[{"id":"c","allowed_origins":["https://lp.example"],
        "postbacks":[postback], "postback_secret":"0123456789abcdef0123456789abcdef"}]}]});
    let catalog: Catalog = catalog::read(document).unwrap();
    let catalog = Arc::new(RwLock::new(catalog));
    println!("| concurrency | calls | seconds | calls/s |\n|---|---|---|---|");
    for concurrency in [1usize, 8, 32] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(&dir.path().join("pb.db"), &StoreOptions::default()).unwrap();
        let before = got.load(Ordering::Relaxed);
        // Queued before the worker starts, so that the worker alone is timed.
        for chunk in 0..calls.div_ceil(500) {
            let events: Vec<NewEvent> = (chunk * 500..((chunk + 1) * 500).min(calls))
                .map(|n| NewEvent {
                    uid: uuid(n),
                    campaign: "c".into(),
                    event_id: "form_sold".into(),
                    category: "conversion",
                    txn: uuid(1_000_000 + n),
                    once: true,
                    ts: 1_764_190_000_000,
                    body: "{}".into(),
                    postbacks: vec![postback::Call {
                        postback: postback::key(&postback),
                        method: postback::Method::Get,
                        url: format!("{url}?txn={}&click=aff-{n}&payout=12", uuid(1_000_000 + n)),
                        body: None,
                        content_type: None,
                    }],
                })
                .collect();
            store.insert_batch(events).await.unwrap();
        }
        let started = Instant::now();
        let worker = Worker::start(
            store,
            catalog.clone(),
            Settings {
                concurrency,
                poll: Duration::from_millis(20),
                ..Settings::default()
            },
        );
        while got.load(Ordering::Relaxed) - before < calls as usize {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        worker.stop().await;
        println!(
            "| {concurrency} | {calls} | {seconds:.2} | {:.0} |",
            calls as f64 / seconds
        );
    }
}
