//! Storage: one interface, two stores. SQLite (`--db PATH`, the embedded default for one
//! machine) and PostgreSQL (`--db postgres://…`, shared by any number of collectors).
//!
//! Both keep the same rules: each event uid is stored once, each once-per-lead event once per
//! transaction, an event and its postback calls are written in one transaction, and the
//! catalog document carries a version that every admin change checks on write. The handlers
//! see only [`Store`]'s methods; the SQL of each engine lives in its own module.

pub mod postgres;
pub mod sqlite;

use serde_json::Value;

use crate::auth::ApiKey;
use crate::catalog::{Catalog, CatalogFile};
use crate::postback::Call;
use crate::reports::{Params, Report, Scope};

/// A storage error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed, or could not be reached.
    #[error("database: {0}")]
    Postgres(String),
    /// A background task failed.
    #[error("storage task: {0}")]
    Task(String),
    /// The commit of a group of batches failed (the trouble, and SQLite's message).
    #[error("database: {1}")]
    Group(Trouble, String),
    /// The catalog changed since the version a change was made to (another admin, or another
    /// collector, wrote first).
    #[error("the catalog changed meanwhile (now version {0})")]
    Conflict(i64),
}

/// Why storage failed, as an operator acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// The disk (or the database's size limit) is full.
    Full,
    /// Another process holds the database locked.
    Locked,
    /// Anything else.
    Other,
}

impl StoreError {
    /// What kind of trouble this is.
    pub fn trouble(&self) -> Trouble {
        use rusqlite::ErrorCode;
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => match e.code {
                ErrorCode::DiskFull => Trouble::Full,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Trouble::Locked,
                _ => Trouble::Other,
            },
            StoreError::Group(t, _) => *t,
            _ => Trouble::Other,
        }
    }
}

/// How durable a commit is (SQLite's `PRAGMA synchronous`; PostgreSQL's `synchronous_commit`
/// is its server's setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Every commit is fsynced: an acknowledged event survives a power cut (the default).
    Full,
    /// The WAL is fsynced at checkpoints only: a power cut may lose the last acknowledged events.
    Normal,
}

/// How the store opens its database.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Commit durability (SQLite).
    pub durability: Durability,
    /// How long a write waits for another process's lock (SQLite), or a request for a pooled
    /// connection (PostgreSQL), before failing.
    pub busy_timeout: std::time::Duration,
    /// PostgreSQL: connections in the pool, at most.
    pub pool_size: usize,
    /// PostgreSQL: the CA (a PEM file) the server's certificate must chain to; without it the
    /// connection is encrypted when the server offers TLS, its certificate not checked.
    pub db_ca: Option<std::path::PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            durability: Durability::Full,
            busy_timeout: std::time::Duration::from_secs(5),
            pool_size: 16,
            db_ca: None,
        }
    }
}

/// One event, validated, ready to insert.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Idempotency key.
    pub uid: String,
    /// Campaign.
    pub campaign: String,
    /// Event ID.
    pub event_id: String,
    /// Category.
    pub category: &'static str,
    /// Transaction.
    pub txn: String,
    /// Whether it is once per lead.
    pub once: bool,
    /// Event time (ms).
    pub ts: u64,
    /// The event as JSON.
    pub body: String,
    /// The postback calls its first storage makes (none for a duplicate).
    pub postbacks: Vec<Call>,
}

impl NewEvent {
    /// The key that stores a once-per-lead event once per transaction (none for a multi event).
    pub fn once_key(&self) -> Option<String> {
        self.once
            .then(|| format!("{}|{}|{}", self.campaign, self.txn, self.event_id))
    }
}

/// Whether an insert stored the event or found it stored already.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now.
    New,
    /// Its uid, or its once-per-lead event for the transaction, was stored before.
    Duplicate,
}

/// A postback call due, as the worker claimed it.
#[derive(Clone, Debug)]
pub struct DueCall {
    /// Row ID.
    pub id: i64,
    /// Campaign (whose secret signs it).
    pub campaign: String,
    /// The event's uid and the postback's key: what the receiver may deduplicate on.
    pub idempotency_key: String,
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Body.
    pub body: Option<String>,
    /// Content type of the body.
    pub content_type: Option<String>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The claim under which it is made: its attempt is recorded only while the claim holds.
    pub claim: String,
}

/// What became of an attempt, to record.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// When it was made (ms).
    pub at: i64,
    /// The HTTP status, if one came.
    pub status: Option<u16>,
    /// How long it took.
    pub latency_ms: i64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Next state: `None` to retry at `next_at`, else `delivered` or `failed`.
    pub done: Option<&'static str>,
    /// When to try again (ms), for a retry.
    pub next_at: i64,
}

/// The catalog document as stored, with the version every change to it checks.
#[derive(Clone, Debug)]
pub struct StoredCatalog {
    /// The document as JSON (an unreadable text reads as an empty object, which is invalid).
    pub document: Value,
    /// Raised by one at each change.
    pub version: i64,
}

/// A dashboard session as stored: what signed in.
#[derive(Clone, Debug)]
pub struct SessionRow {
    /// The digest of the admin token it was signed in with, for an admin session.
    pub admin_digest: Option<String>,
    /// The organization of the live key it was signed in with, for a key's session.
    pub key_org: Option<String>,
}

/// The traffic-source parameters a report groups by: each is a column of `events` (the value
/// among the event's captured attribution parameters) with an index of the events that have
/// it, in both stores.
pub const REPORT_SOURCES: [&str; 8] = [
    "utm_source",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "source_id",
    "pid",
];

/// How many milliseconds the `quarter` column counts: every UTC offset in use is a whole
/// number of quarter hours, so a zone's hours and days are whole runs of quarters.
pub const QUARTER_MS: i64 = 15 * 60 * 1000;

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The store the handlers share: SQLite or PostgreSQL behind one interface.
#[derive(Clone)]
pub struct Store(Engine);

#[derive(Clone)]
enum Engine {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Calls the same method of whichever store this is.
macro_rules! each {
    ($store:expr, $s:ident => $call:expr) => {
        match &$store.0 {
            Engine::Sqlite($s) => $call,
            Engine::Postgres($s) => $call,
        }
    };
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// How `db` is named in logs: a SQLite path as given; a PostgreSQL database by its user, hosts,
/// port and name only, rebuilt from the parsed URL, so that no password (`user:pw@`,
/// `?password=`) is ever written.
pub fn display_name(db: &str) -> String {
    if !is_postgres(db) {
        return db.to_owned();
    }
    let Ok(config) = db.parse::<tokio_postgres::Config>() else {
        return "postgres://(an unreadable URL)".into();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, port)| match h {
            // A password with an unencoded `@` is read as part of the host: never shown.
            tokio_postgres::config::Host::Tcp(h) if h.contains('@') => {
                "(a host with @: encode a password's @ as %40)".into()
            }
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let dbname = config.get_dbname().unwrap_or("");
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        // As for a host: a name with @ holds part of a password.
        if dbname.contains('@') {
            "(a name with @)"
        } else {
            dbname
        }
    )
}

/// How a NATS URL is named in logs: without its user, password or token.
pub fn display_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let (scheme, rest) = match one.split_once("://") {
                Some((scheme, rest)) => (format!("{scheme}://"), rest),
                None => (String::new(), one),
            };
            match rest.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}{host}"),
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Opens (and creates) the SQLite database at `path`, every commit durable.
    pub fn open(path: &std::path::Path) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Opens (and creates) the SQLite database at `path` with `options`.
    pub fn open_with(path: &std::path::Path, options: &StoreOptions) -> Result<Store, StoreError> {
        Ok(Store(Engine::Sqlite(sqlite::Sqlite::open_with(
            path, options,
        )?)))
    }

    /// Opens `db`: a `postgres://` URL (its schema migrated, safely when several collectors
    /// start at once) or a SQLite file's path.
    pub async fn connect(db: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        if is_postgres(db) {
            Ok(Store(Engine::Postgres(
                postgres::Postgres::connect(db, options).await?,
            )))
        } else {
            Store::open_with(std::path::Path::new(db), options)
        }
    }

    /// The engine's name, for logs and metrics.
    pub fn engine(&self) -> &'static str {
        match self.0 {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// The SQLite store, when this is one (what SQLite's own tests and tools reach for).
    pub fn sqlite(&self) -> Option<&sqlite::Sqlite> {
        match &self.0 {
            Engine::Sqlite(s) => Some(s),
            Engine::Postgres(_) => None,
        }
    }

    /// Stores a batch: all of it or, on an error, none of it.
    pub async fn insert_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>, StoreError> {
        each!(self, s => s.insert_batch(events).await)
    }

    /// Whether the database answers (what `/readyz` asks).
    pub async fn probe(&self) -> Result<(), StoreError> {
        each!(self, s => s.probe().await)
    }

    /// The catalog document stored last, if any.
    pub async fn stored_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        each!(self, s => s.stored_catalog().await)
    }

    /// The stored catalog's version (0 before the first), a cheap read for noticing changes.
    pub async fn catalog_version(&self) -> Result<i64, StoreError> {
        each!(self, s => s.catalog_version().await)
    }

    /// Stores `catalog`, when the stored one is still at `expected` (any version when `None`);
    /// returns the new version, or [`StoreError::Conflict`] when another change came first.
    pub async fn save_catalog(
        &self,
        catalog: &Catalog,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        let document = serde_json::to_string(&catalog.file).unwrap_or_default();
        let catalog = catalog.clone();
        each!(self, s => s.save_catalog(catalog, document, expected).await)
    }

    /// The catalog document stored last, if any (`None` too when it no longer reads).
    pub async fn load_document(&self) -> Result<Option<CatalogFile>, StoreError> {
        Ok(self
            .stored_catalog()
            .await?
            .and_then(|s| serde_json::from_value(s.document).ok()))
    }

    /// Events of a campaign, newest first, stored after `after` (a `stored_seq` cursor).
    pub async fn campaign_events(
        &self,
        campaign: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        let campaign = campaign.to_owned();
        each!(self, s => s.campaign_events(campaign, after, limit).await)
    }

    /// A lead's timeline: its events in the order they happened; only those of `org`'s
    /// campaigns when given (what an organization's API key may read).
    pub async fn lead(&self, txn: &str, org: Option<&str>) -> Result<Vec<Value>, StoreError> {
        let (txn, org) = (txn.to_owned(), org.map(str::to_owned));
        each!(self, s => s.lead(txn, org).await)
    }

    /// The stored copy, in `campaign`, that makes an event a duplicate (the same `uid`, or the
    /// same `once_key`), as JSON. A uid taken by another campaign's event is not shown.
    pub async fn kept_copy(
        &self,
        campaign: &str,
        uid: &str,
        once_key: Option<&str>,
    ) -> Result<Option<Value>, StoreError> {
        let (c, u, k) = (
            campaign.to_owned(),
            uid.to_owned(),
            once_key.map(str::to_owned),
        );
        each!(self, s => s.kept_copy(c, u, k).await)
    }

    /// A lead's first stored event (its campaign, and the event as JSON), if it has any.
    pub async fn first_event(&self, txn: &str) -> Result<Option<(String, String)>, StoreError> {
        let txn = txn.to_owned();
        each!(self, s => s.first_event(txn).await)
    }

    /// The first of `campaigns` that has stored events, if any.
    pub async fn campaign_with_events(
        &self,
        campaigns: Vec<String>,
    ) -> Result<Option<String>, StoreError> {
        each!(self, s => s.campaign_with_events(campaigns).await)
    }

    /// A report, on a read connection of its own.
    pub async fn report(&self, scope: Scope, params: Params) -> Result<Report, StoreError> {
        each!(self, s => s.report(scope, params).await)
    }

    // ---- API keys and sessions (auth.rs decides; these only read and write rows)

    /// Stores a new key's row and the digest of the key.
    pub async fn insert_key(&self, key: &ApiKey, digest: String) -> Result<(), StoreError> {
        let key = key.clone();
        each!(self, s => s.insert_key(key, digest).await)
    }

    /// The keys of `org`, revoked ones too, oldest first.
    pub async fn keys(&self, org: &str) -> Result<Vec<ApiKey>, StoreError> {
        let org = org.to_owned();
        each!(self, s => s.keys(org).await)
    }

    /// Revokes a key at `now` and ends its sessions; false when there is no such key.
    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        each!(self, s => s.revoke_key(id, now).await)
    }

    /// The IDs of the live keys of `org`, oldest first.
    pub async fn live_key_ids(&self, org: &str) -> Result<Vec<String>, StoreError> {
        let org = org.to_owned();
        each!(self, s => s.live_key_ids(org).await)
    }

    /// A live key's organization and digest, by its ID.
    pub async fn live_key(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        let id = id.to_owned();
        each!(self, s => s.live_key(id).await)
    }

    /// Stores a session (by its cookie's digest), dropping the expired ones.
    pub async fn insert_session(
        &self,
        digest: String,
        admin_digest: Option<String>,
        key_id: Option<String>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        each!(self, s => s.insert_session(digest, admin_digest, key_id, expires_at).await)
    }

    /// Ends a session, by its cookie's digest.
    pub async fn delete_session(&self, digest: String) -> Result<(), StoreError> {
        each!(self, s => s.delete_session(digest).await)
    }

    /// A live session, by its cookie's digest (a key's session only while its key lives).
    pub async fn session(&self, digest: String) -> Result<Option<SessionRow>, StoreError> {
        each!(self, s => s.session(digest, now_ms()).await)
    }

    // ---- Postbacks (deliver.rs)

    /// Claims up to `limit` due calls for `lease_ms` under `claim` (another worker, of this
    /// collector or another, skips them meanwhile; once the lease lapses they are anyone's).
    pub async fn claim_postbacks(
        &self,
        limit: i64,
        lease_ms: i64,
        claim: String,
    ) -> Result<Vec<DueCall>, StoreError> {
        each!(self, s => s.claim_postbacks(now_ms(), limit, lease_ms, claim).await)
    }

    /// Records an attempt and, while `call`'s claim still holds, what follows it.
    pub async fn record_attempt(&self, call: DueCall, attempt: Attempt) -> Result<(), StoreError> {
        each!(self, s => s.record_attempt(call, attempt).await)
    }

    /// Releases the claims of `worker` when it stops.
    pub async fn release_postbacks(&self, worker: String) -> Result<usize, StoreError> {
        each!(self, s => s.release_postbacks(worker).await)
    }

    /// Postback calls pending and failed, all campaigns (what `/metrics` shows).
    pub async fn postback_counts(&self) -> Result<(i64, i64), StoreError> {
        each!(self, s => s.postback_counts().await)
    }

    /// A campaign's postback calls, newest first, each with its attempts.
    pub async fn campaign_postbacks(
        &self,
        campaign: String,
        status: Option<String>,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        each!(self, s => s.campaign_postbacks(campaign, status, limit).await)
    }
}

/// An event row as the API shows it: the event, with where and when it was stored.
pub(crate) fn event_json(seq: i64, received: i64, body: &str) -> Value {
    let mut v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("stored_seq".into(), seq.into());
        m.insert("received_at".into(), received.into());
    }
    v
}

/// A postback call row as the API shows it (its attempts are added after).
#[allow(clippy::too_many_arguments)]
pub(crate) fn postback_json(
    id: i64,
    event_uid: String,
    postback: String,
    event_id: String,
    txn: String,
    method: String,
    url: String,
    body: Option<String>,
    status: String,
    attempts: i64,
    times: (i64, i64, Option<i64>),
    last: (Option<i64>, Option<String>),
) -> Value {
    serde_json::json!({
        "id": id, "event_uid": event_uid, "postback": postback, "event_id": event_id,
        "transaction": txn, "method": method, "url": url, "body": body, "status": status,
        "attempts": attempts, "next_at": times.0, "created_at": times.1, "done_at": times.2,
        "last_status": last.0, "last_error": last.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_or_queue_is_named_without_its_secrets() {
        for url in [
            "postgres://app:S3cret@db.internal:5432/clickscript",
            "postgresql://app@db.internal/clickscript?password=S3cret&sslmode=prefer",
            "postgres://app:S3cret@db.internal:54x2/clickscript",
            "postgres://app:p@S3cret@db.internal/clickscript",
        ] {
            let named = display_name(url);
            assert!(!named.contains("S3cret"), "{url} -> {named}");
        }
        assert_eq!(
            display_name("postgres://app:S3cret@db.internal:5433/clickscript"),
            "postgres://app@db.internal:5433/clickscript"
        );
        assert_eq!(display_name("events.db"), "events.db");
        assert_eq!(
            display_url("nats://user:S3cret@nats.internal:4222"),
            "nats://nats.internal:4222"
        );
        assert_eq!(
            display_url("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
        assert_eq!(
            display_url("user:S3cret@nats.internal:4222"),
            "nats.internal:4222"
        );
        assert!(!display_name("postgres://app:p@ss/w@db/x").contains("w@db"));
    }
}
