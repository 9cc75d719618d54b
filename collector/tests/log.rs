//! The collector's log, as its operator reads it: the collector run as a process.

use std::io::Read;

mod common;

use common::{post_tcp, Running};

/// An empty batch for `campaign`.
fn empty(campaign: &str) -> String {
    format!(r#"{{"v":1,"cid":"{campaign}","sent_at":1764190000200,"events":[]}}"#)
}

#[test]
fn a_refused_origin_is_logged_once_per_campaign_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"organizations":[{"id":"o","campaigns":[
            {"id":"c1","allowed_origins":["https://lp.example"]},
            {"id":"c2","allowed_origins":["https://lp.example"]}]}]});
    let collector = Running::start(dir.path(), &config, &[]);
    let addr = collector.addr.clone();

    let requests = [
        ("c1", "https://new.example"),
        ("c1", "https://new.example"),
        ("c2", "https://new.example"),
        ("c1", "https://new.example"),
        ("c1", "https://other.example"),
        ("c2", "https://new.example"),
    ];
    for (campaign, origin) in requests {
        let status = post_tcp(&addr, origin, &empty(campaign));
        assert!(status.contains(" 403 "), "{campaign} {origin}: {status}");
    }
    let allowed = post_tcp(&addr, "https://lp.example", &empty("c1"));
    assert!(!allowed.contains(" 403 "), "{allowed}");

    let mut collector = collector;
    let mut stderr_pipe = collector.child.stderr.take().unwrap();
    drop(collector);
    let mut stderr = String::new();
    stderr_pipe.read_to_string(&mut stderr).unwrap();
    let told: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ingest: refusing"))
        .collect();
    assert_eq!(
        told,
        [
            "ingest: refusing events for campaign \"c1\" from origin \"https://new.example\": add it to the campaign's allowed_origins",
            "ingest: refusing events for campaign \"c2\" from origin \"https://new.example\": add it to the campaign's allowed_origins",
            "ingest: refusing events for campaign \"c1\" from origin \"https://other.example\": add it to the campaign's allowed_origins",
        ],
        "{stderr}"
    );
}

#[test]
fn a_closed_log_pipe_breaks_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"organizations":[{"id":"o","campaigns":[
            {"id":"c1","allowed_origins":["https://lp.example"]}]}]});
    let mut collector = Running::start(dir.path(), &config, &[]);
    // Whoever read the log has gone: every later line the collector writes fails.
    drop(collector.stdout.take());
    for _ in 0..3 {
        let status = post_tcp(&collector.addr, "https://lp.example", &empty("c1"));
        assert!(status.contains(" 200 "), "{status}");
    }
}
