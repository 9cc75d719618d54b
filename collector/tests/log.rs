//! The collector's log, as its operator reads it: the collector run as a process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The collector running; killed when dropped, a failed assertion included.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// POSTs a batch for `campaign` from a page of `origin`; returns the answer's status line.
fn post_batch(addr: &str, campaign: &str, origin: &str) -> String {
    let body = format!(r#"{{"v":1,"cid":"{campaign}","sent_at":1764190000200,"events":[]}}"#);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn a_refused_origin_is_logged_once_per_campaign_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"organizations":[{"id":"o","campaigns":[
            {"id":"c1","allowed_origins":["https://lp.example"]},
            {"id":"c2","allowed_origins":["https://lp.example"]}]}]}"#,
    )
    .unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("loader.js"), "var cfg = /*PT_CONFIG*/null;").unwrap();
    let mut collector = Running(
        Command::new(env!("CARGO_BIN_EXE_collector"))
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(dir.path().join("t.db"))
            .arg("--pkg")
            .arg(&pkg)
            .arg("--www")
            .arg(dir.path())
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(collector.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("collector listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();

    let requests = [
        ("c1", "https://new.example"),
        ("c1", "https://new.example"),
        ("c2", "https://new.example"),
        ("c1", "https://new.example"),
        ("c1", "https://other.example"),
        ("c2", "https://new.example"),
    ];
    for (campaign, origin) in requests {
        let status = post_batch(&addr, campaign, origin);
        assert!(status.contains(" 403 "), "{campaign} {origin}: {status}");
    }
    let allowed = post_batch(&addr, "c1", "https://lp.example");
    assert!(!allowed.contains(" 403 "), "{allowed}");

    let mut stderr_pipe = collector.0.stderr.take().unwrap();
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
