//! Real servers for the tests of several collectors: a throw-away PostgreSQL cluster (initdb in
//! a temporary folder) and a NATS server with JetStream, each on a free port of 127.0.0.1, and
//! the collector's processes (collectors and sinks) on them. No mocks. (The load benchmark,
//! examples/ingest_load.rs, starts its servers with this too.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The collector binary: the one cargo built for these tests, or for a benchmark (an example,
/// where cargo names none) the release build.
fn exe() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_collector") {
        Some(built) => built.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/collector"),
    }
}

/// A free port of 127.0.0.1 (the kernel's choice; taken by the server right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn postgres_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (make test installs it)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("an initdb under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` as the `postgres` user when this runs as root (PostgreSQL refuses root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A PostgreSQL cluster of its own; stopped and removed when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Whether it offers TLS (with a self-signed certificate for `localhost`).
    tls: bool,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// Makes a cluster with initdb and starts it.
    pub fn start() -> Postgres {
        Postgres::make(None)
    }

    /// The same, offering TLS with a self-signed certificate for `localhost`; returns the
    /// certificate (PEM) too.
    pub fn start_tls() -> (Postgres, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = made.cert.pem();
        let pg = Postgres::make(Some((cert.clone(), made.signing_key.serialize_pem())));
        (pg, cert)
    }

    fn make(tls: Option<(String, String)>) -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let bin = postgres_bin();
        let out = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "-A", "trust", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        if let Some((cert, key)) = &tls {
            let data = dir.path().join("data");
            std::fs::write(data.join("server.crt"), cert).unwrap();
            std::fs::write(data.join("server.key"), key).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            if is_root() {
                let ok = Command::new("chown")
                    .arg("postgres")
                    .arg(data.join("server.crt"))
                    .arg(data.join("server.key"))
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
        let pg = Postgres {
            dir,
            bin,
            tls: tls.is_some(),
            port: free_port(),
        };
        pg.up();
        pg
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again).
    pub fn up(&self) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=300{}",
                self.port,
                self.dir.path().display(),
                if self.tls { " -c ssl=on" } else { "" }
            ))
            .arg("start")
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    /// Stops the server at once, as a crash or an operator's stop would (`-m fast`: every
    /// connection is cut).
    pub fn down(&self) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A NATS server with JetStream, storing in a folder of its own; killed when dropped.
pub struct Nats {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Nats {
    /// Starts `nats-server -js` and waits until it takes connections.
    pub fn start() -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (make test installs it)");
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nats {
            child,
            _dir: dir,
            port,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A collector process (`collector …` or `collector sink …`); killed when dropped.
pub struct Process {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT` of a collector (empty for a sink).
    pub addr: String,
    /// What it printed, gathered by a thread.
    pub output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Process {
    /// Starts a collector of `dir`'s configuration (`dir/config.json`, written by the caller)
    /// on `db`, with `args`.
    pub fn collector(dir: &Path, db: &str, args: &[&str]) -> Process {
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("loader.js"), "var cfg = /*PT_CONFIG*/null;").unwrap();
        let mut cmd = Command::new(exe());
        cmd.arg("--config")
            .arg(dir.join("config.json"))
            .args(["--db", db, "--port", "0", "--admin-token", "secret"])
            .arg("--pkg")
            .arg(&pkg)
            .arg("--www")
            .arg(dir)
            .args(args);
        Process::spawn(cmd, true)
    }

    /// Starts a sink on `db` and `queue`.
    pub fn sink(db: &str, queue: &str) -> Process {
        let mut cmd = Command::new(exe());
        // A killed sink's messages go to another after 5 s rather than 30.
        cmd.args(["sink", "--db", db, "--queue", queue, "--batch", "200"])
            .args(["--queue-ack-wait", "5"]);
        Process::spawn(cmd, false)
    }

    fn spawn(mut cmd: Command, listens: bool) -> Process {
        use std::io::{BufRead, Read};
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut addr = String::new();
        if listens {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            addr = line
                .trim()
                .strip_prefix("collector listening on http://")
                .unwrap_or_else(|| panic!("{line:?}"))
                .to_owned();
        }
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for mut stream in [
            Box::new(stdout) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Process {
            child,
            addr,
            output,
        }
    }

    /// Kills it at once (SIGKILL: no graceful stop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it as an orchestrator does (SIGTERM), and waits for it.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
