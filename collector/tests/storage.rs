//! Storage under trouble and under load: a full disk or a locked database answers 503 with
//! Retry-After and loses nothing; concurrent batches, committed in groups, are each stored once.

use std::time::Duration;

use axum::http::{header, StatusCode};
use collector::router;
use collector::server::{harden, Limits};
use collector::store::{Durability, Store, StoreOptions};
use serde_json::json;

mod common;

use common::{batch, event, post, read, send, state, uid, ORIGIN};

/// The SQLite store of a test on SQLite.
fn sqlite(store: &Store) -> &collector::store::sqlite::Sqlite {
    store.sqlite().expect("a test of SQLite runs on SQLite")
}

fn quote(n: u32) -> String {
    batch("c1", vec![event(&uid(n), "quote", "engagement")])
}

#[tokio::test]
async fn a_full_disk_answers_503_with_retry_after_and_the_retry_is_stored_once() {
    if common::skip_on_postgres("SQLite's own behaviour") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let app = state(&dir, Some("secret"), &limits);
    let store = app.store.clone();
    let router = harden(router(app), &limits);
    // The database may grow no further: what a full disk looks like to SQLite.
    let pages: i64 = sqlite(&store)
        .run(|c| Ok(c.query_row("PRAGMA page_count", [], |r| r.get(0))?))
        .await
        .unwrap();
    sqlite(&store)
        .run(move |c| Ok(c.pragma_update(None, "max_page_count", pages)?))
        .await
        .unwrap();
    let big: Vec<_> = (0..40)
        .map(|n| event(&uid(n), "quote", "engagement"))
        .collect();
    let body = batch("c1", big);
    let (s, v, h) = send(&router, post(body.clone(), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"], "storage full, retry later");
    assert_eq!(h[header::RETRY_AFTER], "30");
    // Space again: the same batch is stored, once.
    sqlite(&store)
        .run(|c| Ok(c.pragma_update(None, "max_page_count", 1_000_000)?))
        .await
        .unwrap();
    let (s, v, _) = send(&router, post(body.clone(), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accepted"].as_array().unwrap().len(), 40);
    let (_, v, _) = send(&router, post(body, Some(ORIGIN))).await;
    assert_eq!(v["duplicates"].as_array().unwrap().len(), 40);
}

#[tokio::test]
async fn a_database_locked_by_another_process_answers_503_with_retry_after() {
    if common::skip_on_postgres("SQLite's own behaviour") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let mut app = state(&dir, Some("secret"), &limits);
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(200),
        ..StoreOptions::default()
    };
    app.store = Store::open_with(&dir.path().join("t.db"), &options).unwrap();
    let router = harden(router(app), &limits);
    // Another process (a backup tool, say) holds the write lock.
    let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (s, v, h) = send(&router, post(quote(1), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"], "storage busy, retry later");
    assert_eq!(h[header::RETRY_AFTER], "2");
    other.execute_batch("COMMIT").unwrap();
    let (s, v, _) = send(&router, post(quote(1), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accepted"], json!([uid(1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_committed_together_are_each_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let mut app = state(&dir, Some("secret"), &limits);
    let options = StoreOptions {
        durability: Durability::Normal,
        ..StoreOptions::default()
    };
    if !common::on_postgres() {
        app.store = Store::open_with(&dir.path().join("t.db"), &options).unwrap();
    }
    let router = harden(router(app), &limits);
    // 200 batches at once, each of its own event and one shared with its neighbour: every event
    // is answered accepted exactly once across all answers, and stored once.
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let r = router.clone();
        tasks.push(tokio::spawn(async move {
            let body = batch(
                "c1",
                vec![
                    event(&uid(1000 + n), "quote", "engagement"),
                    event(&uid(n / 2), "quote", "engagement"),
                ],
            );
            send(&r, post(body, Some(ORIGIN))).await
        }));
    }
    let mut accepted = Vec::new();
    let mut duplicates = 0;
    for t in tasks {
        let (s, v, _) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{v}");
        accepted.extend(v["accepted"].as_array().unwrap().iter().cloned());
        duplicates += v["duplicates"].as_array().unwrap().len();
    }
    assert_eq!(accepted.len(), 300, "200 own events and 100 shared ones");
    assert_eq!(duplicates, 100);
    accepted.sort_by_key(|u| u.to_string());
    accepted.dedup();
    assert_eq!(accepted.len(), 300);
    let (_, v, _) = read(&router, "/v1/campaigns/c1/events?limit=1000").await;
    assert_eq!(v["events"].as_array().unwrap().len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_fails_is_stored_not_at_all_and_the_others_committed_with_it_are() {
    if common::skip_on_postgres("SQLite's own behaviour") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let app = state(&dir, Some("secret"), &limits);
    let store = app.store.clone();
    let router = harden(router(app), &limits);
    // A statement that fails on one event's insert (what a constraint or an I/O error on one
    // row looks like): its batch must be answered with an error and leave nothing stored.
    let poisoned = uid(7);
    sqlite(&store)
        .run(move |c| {
            Ok(c.execute_batch(&format!(
                "CREATE TEMP TRIGGER poison BEFORE INSERT ON main.events WHEN NEW.uid = '{poisoned}'
                 BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;"
            ))?)
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..20u32 {
        let r = router.clone();
        tasks.push(tokio::spawn(async move {
            let mut events = vec![event(&uid(100 + n), "quote", "engagement")];
            if n == 10 {
                events.push(event(&uid(7), "quote", "engagement"));
            }
            (n, send(&r, post(batch("c1", events), Some(ORIGIN))).await)
        }));
    }
    for t in tasks {
        let (n, (s, v, _)) = t.await.unwrap();
        if n == 10 {
            assert!(s.is_server_error(), "{v}");
        } else {
            assert_eq!(s, StatusCode::OK, "{n}: {v}");
        }
    }
    let (_, v, _) = read(&router, "/v1/campaigns/c1/events?limit=1000").await;
    let stored: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored.len(), 19, "{stored:?}");
    assert!(
        !stored.contains(&uid(110)),
        "the failed batch's first event was stored"
    );
}
