//! Shared by the collector's HTTP tests: a collector on a temporary database, and a request
//! helper that returns status, JSON body and headers.
#![allow(dead_code)]

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use collector::server::{harden, Limits, RateLimits};
use collector::{catalog, router, store::Store, App};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub mod servers;

pub const ORIGIN: &str = "https://lp.example";

/// A collector with three campaigns (c3 sends only the Base Event under GPC) of organization `o`,
/// campaign `p1` of organization `p`, and admin token `secret`.
pub fn app(dir: &tempfile::TempDir) -> Router {
    app_with(dir, Some("secret"))
}

/// The same collector with the given admin token (`None`: the admin API is off).
pub fn app_with(dir: &tempfile::TempDir, admin_token: Option<&str>) -> Router {
    hardened(dir, admin_token, &Limits::default())
}

/// The same collector, behind its defences (as `main` serves it), with the given limits.
pub fn hardened(dir: &tempfile::TempDir, admin_token: Option<&str>, limits: &Limits) -> Router {
    harden(router(state(dir, admin_token, limits)), limits)
}

/// The test catalog: campaigns c1, c2, c3 (only the Base Event under GPC) of organization `o`,
/// campaign p1 of organization `p`.
pub fn catalog_json() -> Value {
    json!({"organizations":[{"id":"o",
        "events":[{"id":"quote","category":"engagement","multi":true}],
        "campaigns":[{"id":"c1","allowed_origins":[ORIGIN],"events":[{"id":"only_c1","category":"conversion"}],
                      "bindings":[{"event":"only_c1","trigger":{"on":"click","selector":"#buy"}}]},
                     {"id":"c2","allowed_origins":[ORIGIN]},
                     {"id":"c3","allowed_origins":[ORIGIN],"gpc":"base_only"}]},
        {"id":"p","campaigns":[{"id":"p1","allowed_origins":[ORIGIN]}]}]})
}

/// The test catalog's document.
pub fn test_catalog() -> catalog::CatalogFile {
    serde_json::from_value(catalog_json()).unwrap()
}

/// The test collector's state.
pub fn state(dir: &tempfile::TempDir, admin_token: Option<&str>, limits: &Limits) -> App {
    state_of(dir, admin_token, limits, test_catalog())
}

/// The test collector's state with another catalog, as JSON.
pub fn state_with(
    dir: &tempfile::TempDir,
    admin_token: Option<&str>,
    limits: &Limits,
    catalog: Value,
) -> App {
    state_of(
        dir,
        admin_token,
        limits,
        serde_json::from_value(catalog).unwrap(),
    )
}

/// A collector with the catalog document `file`, admin token `secret`.
pub fn app_of(dir: &tempfile::TempDir, file: catalog::CatalogFile) -> Router {
    let limits = Limits::default();
    harden(
        router(state_of(dir, Some("secret"), &limits, file)),
        &limits,
    )
}

/// A collector's state with the catalog document `file`.
pub fn state_of(
    dir: &tempfile::TempDir,
    admin_token: Option<&str>,
    limits: &Limits,
    file: catalog::CatalogFile,
) -> App {
    let catalog = catalog::Catalog::build(file).unwrap();
    let store = store(dir);
    let saved = (store.clone(), catalog.clone());
    let version = aside(async move { saved.0.save_catalog(&saved.1, None).await }).unwrap();
    App {
        catalog: Arc::new(RwLock::new(catalog)),
        catalog_version: Arc::new(std::sync::atomic::AtomicI64::new(version)),
        store,
        queue: None,
        metrics: Default::default(),
        loader: Arc::new("var cfg = /*PT_CONFIG*/null;".into()),
        www: dir.path().into(),
        packages: collector::Packages::read(dir.path()),
        pkg: dir.path().into(),
        public_url: Some("http://collector.test".into()),
        allowed_hosts: vec!["127.0.0.1:8080".into()],
        rates: RateLimits::new(limits),
        postbacks: Default::default(),
        trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        admin_token: admin_token.map(str::to_owned),
        paused: Arc::new(AtomicU32::new(0)),
    }
}

/// The PostgreSQL server the suite runs against instead of SQLite, when
/// `CLICKSCRIPT_TEST_POSTGRES` names one (a URL of a database the tests may make schemas in):
/// `make test` runs the suite once on each store.
pub fn postgres() -> Option<String> {
    std::env::var("CLICKSCRIPT_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether the suite runs on PostgreSQL (a test of SQLite's own behaviour then has nothing to
/// test, and says so).
pub fn on_postgres() -> bool {
    postgres().is_some()
}

/// Whether a test of SQLite's own behaviour (`what`) is skipped, the suite running on
/// PostgreSQL: said on stderr, so that a run shows what it did not test.
pub fn skip_on_postgres(what: &str) -> bool {
    let skip = on_postgres();
    if skip {
        eprintln!("skipped on PostgreSQL: {what}");
    }
    skip
}

/// The database of the test folder `dir`: `dir/t.db`, or on PostgreSQL a schema of its own
/// (named after the folder, so that a collector restarted on `dir` finds its data).
pub fn db(dir: &std::path::Path) -> String {
    let Some(base) = postgres() else {
        return dir.join("t.db").display().to_string();
    };
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    let schema = format!("t_{:016x}", h.finish());
    let made = (base.clone(), schema.clone());
    aside(async move {
        let (client, conn) = tokio_postgres::connect(&made.0, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", made.1))
            .await
            .unwrap();
    });
    let join = if base.contains('?') { '&' } else { '?' };
    format!("{base}{join}options=-csearch_path%3D{schema}")
}

/// The store of the test folder `dir` (see [`db`]).
pub fn store(dir: &tempfile::TempDir) -> Store {
    let url = db(dir.path());
    aside(async move {
        Store::connect(&url, &collector::store::StoreOptions::default())
            .await
            .unwrap()
    })
}

/// The rows of `sql` in the database of test folder `dir`, every value as text (`None`: NULL),
/// on either store: what a test checks of the tables themselves.
pub fn query(dir: &std::path::Path, sql: &str) -> Vec<Vec<Option<String>>> {
    query_db(&db(dir), sql)
}

/// [`query`] on the database `url` (a SQLite file's path or a PostgreSQL URL).
pub fn query_db(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let url = url.to_owned();
    if !collector::store::is_postgres(&url) {
        let conn = rusqlite::Connection::open(url).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        return stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Null => None,
                            rusqlite::types::Value::Integer(v) => Some(v.to_string()),
                            rusqlite::types::Value::Real(v) => Some(v.to_string()),
                            rusqlite::types::Value::Text(v) => Some(v),
                            rusqlite::types::Value::Blob(v) => Some(hex::encode(v)),
                        })
                    })
                    .collect()
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    }
    let sql = sql.to_owned();
    aside(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .simple_query(&sql)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect()
    })
}

/// The one value of `sql` (see [`query`]).
pub fn query_one(dir: &std::path::Path, sql: &str) -> Option<String> {
    query(dir, sql)
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
}

/// Runs `f` to its end on a runtime of its own, beside whatever runtime the caller is on (the
/// test helpers are synchronous).
pub fn aside<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

/// GETs `path`; returns what [`send`] returns.
pub async fn get(app: &Router, path: &str) -> (StatusCode, Value, HeaderMap) {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// GETs `path` with the admin token (what reading stored events needs).
pub async fn read(app: &Router, path: &str) -> (StatusCode, Value, HeaderMap) {
    let req = Request::get(path)
        .header("authorization", "Bearer secret")
        .body(Body::empty())
        .unwrap();
    send(app, req).await
}

/// Sends `req`; returns status, JSON body (`null` if none) and headers.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value, HeaderMap) {
    let (status, text, headers) = send_raw(app, req).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// Sends `req`; returns status, body as text (the dashboard's pages are HTML) and headers.
pub async fn send_raw(app: &Router, req: Request<Body>) -> (StatusCode, String, HeaderMap) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    )
}

/// The transaction of the test events.
pub const TXN: &str = "5f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11";

/// A valid event of campaign c1's lead TXN.
pub fn event(uid: &str, event_id: &str, category: &str) -> Value {
    let scope = match event_id {
        "base" | "click_sold" | "form_sold" | "call_sold" => "system",
        "only_c1" => "campaign",
        _ => "org",
    };
    json!({"uid":uid,"event_id":event_id,"category":category,"scope":scope,"txn":TXN,
        "visitor":"6f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11","session":"7f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11",
        "ts":1_764_190_000_100u64,"seq":1,"page":{"url":"https://lp.example/?a=1"},
        "attribution":{"params":{"utm_source":"g"},"click_ids":{}},"data":{"k":"v"},"consent":null,"bot":false})
}

/// The n-th test uid.
pub fn uid(n: u32) -> String {
    format!("0193b8a2-f00c-7c1e-8e4a-{n:012}")
}

/// `POST /v1/events` with `body`, from `origin` when given.
pub fn post(body: impl Into<Body>, origin: Option<&str>) -> Request<Body> {
    let mut b =
        Request::post("/v1/events").header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    b.body(body.into()).unwrap()
}

/// A batch of `events` for campaign `cid`.
pub fn batch(cid: &str, events: Vec<Value>) -> String {
    json!({"v":1,"cid":cid,"sent_at":1_764_190_000_200u64,"events":events}).to_string()
}

/// A request body of one chunk that records in `polled` whether anyone read it, and then ends,
/// or, with `stall`, never sends another byte nor ends (a slow client).
pub fn chunk_body(chunk: &[u8], polled: Arc<std::sync::atomic::AtomicBool>, stall: bool) -> Body {
    struct Chunk(Vec<u8>, Arc<std::sync::atomic::AtomicBool>, bool, bool);
    impl futures_core::Stream for Chunk {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.1.store(true, std::sync::atomic::Ordering::SeqCst);
            if !std::mem::replace(&mut self.3, true) {
                let chunk = std::mem::take(&mut self.0);
                return std::task::Poll::Ready(Some(Ok(chunk)));
            }
            match self.2 {
                true => std::task::Poll::Pending,
                false => std::task::Poll::Ready(None),
            }
        }
    }
    Body::from_stream(Chunk(chunk.to_vec(), polled, stall, false))
}

/// The collector binary running; killed when dropped, a failed assertion included.
pub struct Running {
    /// The process.
    pub child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its standard output, from the line after the one naming its address.
    pub stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
}

impl Running {
    /// Starts the collector binary on a free port with `config` (written to `dir`), the database
    /// `dir/t.db`, a stand-in loader, and `args`.
    pub fn start(dir: &std::path::Path, config: &Value, args: &[&str]) -> Running {
        use std::io::BufRead;
        let file = dir.join("config.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("loader.js"), "var cfg = /*PT_CONFIG*/null;").unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_collector"))
            .arg("--config")
            .arg(&file)
            .arg("--db")
            .arg(db(dir))
            .arg("--pkg")
            .arg(&pkg)
            .arg("--www")
            .arg(dir)
            .args(["--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("collector listening on http://")
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_owned();
        Running {
            child,
            addr,
            stdout: Some(stdout),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` to `/v1/events` of the running collector at `addr` from a page of `origin`, over
/// plain TCP; returns the answer's status line.
pub fn post_tcp(addr: &str, origin: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
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
