//! Where the catalog comes from at start, the collector run as a process: a `--config` file
//! that differs from the catalog stored in the database (changed through the admin API) is
//! refused, with what differs, unless `--catalog file` or `--catalog stored` says which to take.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The collector running; killed when dropped, a failed assertion included.
struct Running {
    child: Child,
    addr: String,
    /// Kept open: the collector's log lines would fail on a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Stops it; what it printed on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        stderr
    }

    /// Sends a request with the admin token; the status and the body.
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer secret\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).unwrap_or("0").parse().unwrap();
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(body).unwrap_or_default())
    }

    fn cookie_days(&self) -> serde_json::Value {
        self.request("GET", "/v1/campaigns/c1/config", "").1["cookie_days"].clone()
    }
}

/// A collector on `dir`'s database with the configuration file `config`.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(config: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir(&pkg).unwrap();
        std::fs::write(pkg.join("loader.js"), "var cfg = /*PT_CONFIG*/null;").unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, config).unwrap();
        Setup { dir, config: path }
    }

    fn command(&self, config: Option<&Path>, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_collector"));
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .arg("--db")
            .arg(common::db(self.dir.path()))
            .arg("--pkg")
            .arg(self.dir.path().join("pkg"))
            .arg("--www")
            .arg(self.dir.path())
            .args(["--port", "0", "--admin-token", "secret"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts the collector with the file and `args`: running, or its exit code and stderr.
    fn start(&self, args: &[&str]) -> Result<Running, (Option<i32>, String)> {
        self.start_with(Some(&self.config), args)
    }

    fn start_with(
        &self,
        config: Option<&Path>,
        args: &[&str],
    ) -> Result<Running, (Option<i32>, String)> {
        let mut child = self.command(config, args).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        match line.trim().strip_prefix("collector listening on http://") {
            Some(addr) => Ok(Running {
                addr: addr.to_owned(),
                child,
                _stdout: stdout,
            }),
            None => {
                let status = child.wait().unwrap();
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                Err((status.code(), stderr))
            }
        }
    }
}

const CONFIG: &str = r#"{"organizations":[{"id":"o","name":"O","campaigns":[
    {"id":"c1","allowed_origins":["https://lp.example"]},{"id":"c2"}]}]}"#;

#[test]
fn a_file_that_differs_from_the_stored_catalog_is_taken_only_when_told() {
    let setup = Setup::new(CONFIG);
    // A fresh database: the file, silently.
    let collector = setup.start(&[]).unwrap();
    assert_eq!(collector.cookie_days(), 30);
    let (status, v) = collector.request("PATCH", "/admin/campaigns/c1", r#"{"cookie_days":9}"#);
    assert_eq!(status, 200, "{v}");
    let (status, v) = collector.request("POST", "/admin/orgs/o/campaigns", r#"{"id":"c3"}"#);
    assert_eq!(status, 201, "{v}");
    let stderr = collector.stop();
    assert!(!stderr.contains("catalog:"), "{stderr}");

    // The stored catalog now differs from the file: neither is taken unless told which.
    let (code, stderr) = setup.start(&[]).err().expect("a start refused");
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: the catalog stored in ") && lines[0].contains("differs from"),
        "{stderr}"
    );
    assert_eq!(
        lines[1..3],
        [
            "  campaign \"c1\": cookie_days differs",
            "  campaign \"c3\": only in the stored catalog"
        ],
        "{stderr}"
    );
    assert!(
        lines[3].starts_with("error: refusing to start: say which to take: --catalog file")
            && lines[3].contains("--catalog stored"),
        "{stderr}"
    );

    // --catalog stored: the admin API's changes are kept, the file ignored.
    let collector = setup.start(&["--catalog", "stored"]).unwrap();
    assert_eq!(collector.cookie_days(), 9);
    let stderr = collector.stop();
    assert!(stderr.contains("config.json is ignored (it differs: campaign \"c1\": cookie_days differs; campaign \"c3\": only in the stored catalog)"), "{stderr}");
    assert!(setup.start(&[]).is_err(), "still differing");
    // Without the file, the stored catalog, as ever.
    let collector = setup.start_with(None, &[]).unwrap();
    assert_eq!(collector.cookie_days(), 9);
    drop(collector);

    // --catalog file: the file replaces the stored catalog, and says what it replaced.
    let collector = setup.start(&["--catalog", "file"]).unwrap();
    assert_eq!(collector.cookie_days(), 30);
    let stderr = collector.stop();
    assert!(
        stderr.contains("config.json replaces the catalog stored in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("which differed: campaign \"c1\": cookie_days differs"),
        "{stderr}"
    );

    // Now equal: taken silently, however the file is written (documents compared, not text).
    let rewritten = r#"{"organizations":[{"campaigns":[{"allowed_origins":["https://lp.example"],"id":"c1",
        "cookie_days":null,"gpc":"record","bindings":[]},{"id":"c2","events":[]}],"id":"o","name":"O","events":[]}]}"#;
    std::fs::write(&setup.config, rewritten).unwrap();
    let collector = setup.start(&[]).unwrap();
    let stderr = collector.stop();
    assert!(!stderr.contains("catalog:"), "{stderr}");

    // --catalog names the file's rival: without --config it is a mistake.
    let (code, stderr) = setup
        .start_with(None, &["--catalog", "file"])
        .err()
        .expect("refused");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");
}

#[test]
fn an_invalid_stored_catalog_is_named_never_silently_replaced() {
    let setup = Setup::new(CONFIG);
    drop(setup.start(&[]).unwrap());
    common::query(
        setup.dir.path(),
        "UPDATE catalog_document SET document = '{\"organizations\":[{\"id\":\"o\",\"colour\":1}]}'",
    );
    for config in [None, Some(setup.config.as_path())] {
        let (code, stderr) = setup.start_with(config, &[]).err().expect("refused");
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("error: organizations[0].colour: unknown field"),
            "{stderr}"
        );
        assert!(stderr.contains("is invalid"), "{stderr}");
        assert!(stderr.contains("--catalog file"), "{stderr}");
    }
    let collector = setup.start(&["--catalog", "file"]).unwrap();
    assert_eq!(collector.cookie_days(), 30);
    let stderr = collector.stop();
    assert!(
        stderr.contains("replaces the catalog stored in"),
        "{stderr}"
    );
    assert!(stderr.contains("which is invalid"), "{stderr}");
}
