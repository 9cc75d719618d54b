//! What an operator watches: `/metrics` in the Prometheus exposition format, `/readyz`, and the
//! log as JSON lines.

use axum::body::Body;
use axum::http::{Request, StatusCode};

mod common;

use common::{app, batch, event, post, send, send_raw, uid, ORIGIN};

/// The value of the sample `name` (with its labels) in an exposition text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn metrics_count_requests_events_and_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let events = vec![
        event(&uid(1), "base", "lead"),
        event(&uid(2), "quote", "engagement"),
    ];
    let (s, _, _) = send(&app, post(batch("c1", events.clone()), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    // The same again: two duplicates; and an event of an unknown ID: rejected.
    send(&app, post(batch("c1", events), Some(ORIGIN))).await;
    send(
        &app,
        post(
            batch("c1", vec![event(&uid(3), "nope", "engagement")]),
            Some(ORIGIN),
        ),
    )
    .await;
    let (s, text, headers) =
        send_raw(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let expect = [
        (r#"clickscript_events_total{outcome="accepted"}"#, 2.0),
        (r#"clickscript_events_total{outcome="duplicate"}"#, 2.0),
        (r#"clickscript_events_total{outcome="rejected"}"#, 1.0),
        (
            r#"clickscript_http_requests_total{method="POST",status="200"}"#,
            2.0,
        ),
        (
            r#"clickscript_http_requests_total{method="POST",status="422"}"#,
            1.0,
        ),
        (r#"clickscript_ingest_duration_seconds_count"#, 3.0),
        (r#"clickscript_postbacks{status="pending"}"#, 0.0),
        (r#"clickscript_postbacks{status="failed"}"#, 0.0),
        ("clickscript_store_up", 1.0),
        ("clickscript_queue_lag_events", 0.0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&text, name), Some(value), "{name} in:\n{text}");
    }
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    // Nothing personal: no transaction, visitor or parameter value.
    assert!(
        !text.contains("5f0c1f0e") && !text.contains("utm_source"),
        "{text}"
    );
}

#[tokio::test]
async fn readyz_says_what_the_collector_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let (s, v, _) = send(&app, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, serde_json::json!({"status": "ready", "store": "ok"}));
}

#[test]
fn the_log_is_json_lines_when_asked() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        common::catalog_json().to_string(),
    )
    .unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("loader.js"), "var cfg = /*PT_CONFIG*/null;").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_collector"))
        .arg("--config")
        .arg(dir.path().join("config.json"))
        .args(["--db", &common::db(dir.path()), "--port", "0"])
        .args(["--log-format", "json"])
        .arg("--pkg")
        .arg(&pkg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "info");
    assert!(v["ts"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .starts_with("collector listening on http://127.0.0.1:"),
        "{v}"
    );
}
