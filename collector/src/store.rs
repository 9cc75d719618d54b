//! SQLite storage (bundled, WAL): the catalog's mirror and the events, each uid stored once and
//! each once-per-lead event once per transaction.
//!
//! Ingest's inserts go to one writer thread, which commits whatever batches are waiting in one
//! transaction (group commit): with `synchronous=FULL` each commit is an fsync, so an
//! acknowledged event survives a power cut, and grouping pays that fsync once for many batches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use crate::catalog::{Catalog, CatalogFile};
use crate::postback::Call;

/// A storage error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A background task failed.
    #[error("storage task: {0}")]
    Task(String),
    /// The commit of a group of batches failed (the trouble, and SQLite's message).
    #[error("database: {1}")]
    Group(Trouble, String),
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

/// How durable a commit is (`PRAGMA synchronous`).
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
    /// Commit durability.
    pub durability: Durability,
    /// How long a write waits for another process's lock before failing.
    pub busy_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            durability: Durability::Full,
            busy_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// Batches ingest's writer commits at once, at most.
const GROUP_JOBS: usize = 256;

/// One ingest batch waiting for the writer.
struct InsertJob {
    events: Vec<NewEvent>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Inserted>, StoreError>>,
}

/// One event, validated, ready to insert.
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

/// The database, shared by the request handlers: one connection writes; reads take their own
/// connections (WAL lets them read while the writer writes), so a report never waits on ingest.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Places for reads at once: more wait their turn rather than each opening a connection
    /// and taking a blocking thread.
    reads: Arc<tokio::sync::Semaphore>,
    /// Places for reports (the long reads) at once, fewer than for all reads: reports cannot
    /// take every read place from credential checks and the rest.
    reports: Arc<tokio::sync::Semaphore>,
    writer: std::sync::mpsc::Sender<InsertJob>,
    busy_timeout: std::time::Duration,
}

/// Read connections kept open between reads; more are opened when reads overlap.
const IDLE_READERS: usize = 4;

/// Reads at once, at most (each on its own connection and blocking thread).
const READS_AT_ONCE: usize = 16;

/// Reports at once, at most, among those reads.
const REPORTS_AT_ONCE: usize = 8;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS catalog_document (
  id INTEGER PRIMARY KEY CHECK (id = 1), document TEXT NOT NULL, updated_at INTEGER NOT NULL);
-- Mirrors of the catalog document, rebuilt from it at every start and change.
DROP TABLE IF EXISTS organizations; DROP TABLE IF EXISTS campaigns; DROP TABLE IF EXISTS event_defs;
CREATE TABLE IF NOT EXISTS organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
  allowed_origins TEXT NOT NULL, bindings TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS event_defs (
  org_id TEXT NOT NULL, campaign_id TEXT, id TEXT NOT NULL, name TEXT NOT NULL,
  category TEXT NOT NULL, scope TEXT NOT NULL, multi INTEGER NOT NULL, revenue REAL,
  PRIMARY KEY (org_id, campaign_id, id));
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL UNIQUE,
  campaign_id TEXT NOT NULL, event_id TEXT NOT NULL, category TEXT NOT NULL, txn TEXT NOT NULL,
  ts INTEGER NOT NULL, received_at INTEGER NOT NULL,
  once_key TEXT UNIQUE, -- campaign|txn|event for once-per-lead events, NULL for multi-trigger
  body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_txn ON events (txn, ts);
CREATE INDEX IF NOT EXISTS events_campaign ON events (campaign_id, seq);
-- Organizations' API keys (auth.rs): the SHA-256 digest of each, never the key.
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,
  created_at INTEGER NOT NULL, revoked_at INTEGER);
-- Postbacks (postback.rs, deliver.rs): one row per stored event and postback, written in the
-- event's own transaction; a worker calls it until delivered or given up, each attempt recorded.
CREATE TABLE IF NOT EXISTS postbacks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_uid TEXT NOT NULL, postback TEXT NOT NULL,
  campaign_id TEXT NOT NULL, event_id TEXT NOT NULL, txn TEXT NOT NULL,
  method TEXT NOT NULL, url TEXT NOT NULL, body TEXT, content_type TEXT,
  status TEXT NOT NULL DEFAULT 'pending', -- pending, delivered, failed
  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, locked_until INTEGER,
  created_at INTEGER NOT NULL, done_at INTEGER, last_status INTEGER, last_error TEXT,
  UNIQUE (event_uid, postback));
CREATE INDEX IF NOT EXISTS postbacks_due ON postbacks (status, next_at);
CREATE INDEX IF NOT EXISTS postbacks_campaign ON postbacks (campaign_id, id);
CREATE TABLE IF NOT EXISTS postback_attempts (
  postback_id INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER, latency_ms INTEGER NOT NULL,
  error TEXT);
CREATE INDEX IF NOT EXISTS postback_attempts_of ON postback_attempts (postback_id, at);
-- Dashboard sessions: the digest of the cookie, and what signed in (the admin token's digest or a key).
CREATE TABLE IF NOT EXISTS sessions (
  digest TEXT PRIMARY KEY, admin_digest TEXT, key_id TEXT, expires_at INTEGER NOT NULL);
";

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (and creates) the database at `path`, every commit durable.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Opens (and creates) the database at `path` with `options`, and starts its writer.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        conn.execute_batch(SCHEMA)?;
        migrate_reports(&conn)?;
        // The claim a worker holds on a postback call (issue 10's review).
        add_missing_columns(&conn, "postbacks", &[("claim".into(), "TEXT".into())])?;
        let sync = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        // Each batch of a group commit is a savepoint: its statement journal stays in memory
        // rather than in a temporary file made for every commit.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let conn = Arc::new(Mutex::new(conn));
        let (writer, jobs) = std::sync::mpsc::channel();
        let shared = conn.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(&shared, &jobs))
            .map_err(|e| StoreError::Task(format!("cannot start the writer: {e}")))?;
        Ok(Store {
            conn,
            path: Arc::new(path.to_owned()),
            readers: Arc::default(),
            reads: Arc::new(tokio::sync::Semaphore::new(READS_AT_ONCE)),
            reports: Arc::new(tokio::sync::Semaphore::new(REPORTS_AT_ONCE)),
            writer,
            busy_timeout: options.busy_timeout,
        })
    }

    /// Stores ingest's events through the writer, committed with whatever other batches wait.
    pub async fn insert_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(InsertJob { events, reply })
            .map_err(|_| StoreError::Task("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Task("the writer dropped a batch".into()))?
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(conn) = idle {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            self.path.as_path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        Ok(conn)
    }

    /// Runs the read `f` off the async runtime on a read connection of its own.
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.read_holding(None, f).await
    }

    /// [`Store::read`] for a report: waits for one of the fewer report places first.
    pub async fn read_report<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let report = self
            .reports
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        self.read_holding(Some(report), f).await
    }

    /// Runs a read holding a read place and `extra` until the read itself ends: a request
    /// dropped meanwhile (a timeout, a client gone) gives neither back while SQLite still runs.
    async fn read_holding<R: Send + 'static>(
        &self,
        extra: Option<tokio::sync::OwnedSemaphorePermit>,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let place = self
            .reads
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let _places = (place, extra);
            let conn = store.reader()?;
            let result = f(&conn);
            let mut idle = store.readers.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it rolls back).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the connection off the async runtime. The connection stays locked while `f`
    /// runs: `f` must not call the `&self` methods of `Store` (they would wait for it forever).
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&mut store.lock()))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The catalog document stored last, if any (`None` too when it no longer reads).
    pub fn load_document(&self) -> Result<Option<CatalogFile>, StoreError> {
        Ok(self
            .stored_document()?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// The catalog document stored last as JSON, if any, to be read and checked (a stored text
    /// that is not JSON at all is taken as an empty object, which does not read).
    pub fn stored_document(&self) -> Result<Option<Value>, StoreError> {
        let conn = self.lock();
        let text: Option<String> = conn
            .query_row(
                "SELECT document FROM catalog_document WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| {
            serde_json::from_str(&t).unwrap_or_else(|_| Value::Object(Default::default()))
        }))
    }

    /// Stores `catalog`: its document (what the collector starts from next time) and the tables
    /// that mirror it for queries. Events are kept.
    pub fn save_catalog(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let document = serde_json::to_string(&catalog.file).unwrap_or_default();
        tx.execute(
            "INSERT OR REPLACE INTO catalog_document (id, document, updated_at) VALUES (1, ?1, ?2)",
            params![document, now_ms()],
        )?;
        tx.execute_batch(
            "DELETE FROM organizations; DELETE FROM campaigns; DELETE FROM event_defs;",
        )?;
        for org in &catalog.file.organizations {
            tx.execute(
                "INSERT INTO organizations (id, name) VALUES (?1, ?2)",
                params![org.id, org.name],
            )?;
        }
        for (id, c) in &catalog.campaigns {
            let config = serde_json::to_string(&c.config).unwrap_or_default();
            let origins = serde_json::to_string(&c.allowed_origins).unwrap_or_default();
            let bindings = serde_json::to_string(&c.bindings).unwrap_or_default();
            tx.execute(
                "INSERT INTO campaigns (id, org_id, name, config, allowed_origins, bindings) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, c.org, c.name, config, origins, bindings],
            )?;
            for d in &c.config.events {
                let scope = serde_json::to_value(d.scope).ok();
                let scope = scope.as_ref().and_then(Value::as_str).unwrap_or("org");
                let campaign = (scope == "campaign").then_some(id);
                tx.execute(
                    "INSERT OR IGNORE INTO event_defs (org_id, campaign_id, id, name, category, scope, multi, revenue)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![c.org, campaign, d.id, d.name, d.category.as_str(), scope, d.multi, d.revenue.as_ref().and_then(|a| a.fixed())],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Events of a campaign, newest first, stored after `after` (a `seq` cursor).
    pub fn campaign_events(
        conn: &Connection,
        campaign: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, received_at, body FROM events WHERE campaign_id = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![campaign, after, limit], row_json)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A lead's timeline: its events in the order they happened; only those of `org`'s
    /// campaigns when given (what an organization's API key may read).
    pub fn lead(conn: &Connection, txn: &str, org: Option<&str>) -> Result<Vec<Value>, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, received_at, body FROM events WHERE txn = ?1
               AND (?2 IS NULL OR campaign_id IN (SELECT id FROM campaigns WHERE org_id = ?2))
             ORDER BY ts, json_extract(body, '$.seq'), seq",
        )?;
        let rows = stmt.query_map(params![txn, org], row_json)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn row_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let seq: i64 = row.get(0)?;
    let received: i64 = row.get(1)?;
    let body: String = row.get(2)?;
    let mut v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("stored_seq".into(), seq.into());
        m.insert("received_at".into(), received.into());
    }
    Ok(v)
}

/// Inserts `events` inside the caller's transaction; each result says stored now or duplicate.
fn insert_in(conn: &Connection, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO events (uid, campaign_id, event_id, category, txn, ts, received_at, once_key, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let received = now_ms();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let once_key = e.once_key();
        let n = stmt.execute(params![
            e.uid,
            e.campaign,
            e.event_id,
            e.category,
            e.txn,
            e.ts as i64,
            received,
            once_key,
            e.body
        ])?;
        if n == 1 && !e.postbacks.is_empty() {
            queue_postbacks(conn, e, received)?;
        }
        out.push(if n == 1 {
            Inserted::New
        } else {
            Inserted::Duplicate
        });
    }
    Ok(out)
}

/// The stored copy, in `campaign`, that makes an event a duplicate (the same `uid`, or the same
/// `once_key`: its once-per-lead event of the transaction), as JSON. A uid taken by another
/// campaign's event is not shown: it is not the reporter's to read.
pub fn kept_copy(
    conn: &Connection,
    campaign: &str,
    uid: &str,
    once_key: Option<&str>,
) -> Result<Option<Value>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, received_at, body FROM events
          WHERE (uid = ?1 OR once_key = ?2) AND campaign_id = ?3 ORDER BY seq LIMIT 1",
    )?;
    Ok(stmt
        .query_row(params![uid, once_key, campaign], row_json)
        .optional()?)
}

/// A lead's first stored event (its campaign, and the event as JSON), if it has any.
pub fn first_event(conn: &Connection, txn: &str) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT campaign_id, body FROM events WHERE txn = ?1 ORDER BY seq LIMIT 1",
            params![txn],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Queues an event's postback calls, in the transaction that stores the event: both or neither.
fn queue_postbacks(conn: &Connection, e: &NewEvent, now: i64) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO postbacks (event_uid, postback, campaign_id, event_id, txn, method, url, body, content_type, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?;
    for call in &e.postbacks {
        stmt.execute(params![
            e.uid,
            call.postback,
            e.campaign,
            e.event_id,
            e.txn,
            call.method.as_str(),
            call.url,
            call.body,
            call.content_type.map(|t| t.as_str()),
            now
        ])?;
    }
    Ok(())
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

/// Claims up to `limit` due calls for `lease_ms` under `claim` (another worker skips them
/// meanwhile; once the lease lapses they are anyone's again).
pub fn claim_postbacks(
    conn: &Connection,
    now: i64,
    limit: i64,
    lease_ms: i64,
    claim: &str,
) -> Result<Vec<DueCall>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let due = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, campaign_id, event_uid || ':' || postback, method, url, body, content_type, attempts
               FROM postbacks
              WHERE status = 'pending' AND next_at <= ?1 AND (locked_until IS NULL OR locked_until <= ?1)
              ORDER BY next_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit], |r| {
            Ok(DueCall {
                id: r.get(0)?,
                campaign: r.get(1)?,
                idempotency_key: r.get(2)?,
                method: r.get(3)?,
                url: r.get(4)?,
                body: r.get(5)?,
                content_type: r.get(6)?,
                attempts: r.get(7)?,
                claim: claim.to_owned(),
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    {
        let mut lock =
            tx.prepare_cached("UPDATE postbacks SET locked_until = ?2, claim = ?3 WHERE id = ?1")?;
        for call in &due {
            lock.execute(params![call.id, now + lease_ms, claim])?;
        }
    }
    tx.commit()?;
    Ok(due)
}

/// Records an attempt and, while `call`'s claim still holds, what follows it, releasing the
/// claim. A claim that lapsed (the call outlived its lease) belongs to whoever claimed the call
/// since: the attempt is recorded, and their outcome decides what follows.
pub fn record_attempt(conn: &Connection, call: &DueCall, a: &Attempt) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO postback_attempts (postback_id, at, status, latency_ms, error) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![call.id, a.at, a.status, a.latency_ms, a.error],
    )?;
    tx.execute(
        "UPDATE postbacks SET attempts = attempts + 1, locked_until = NULL, claim = NULL, last_status = ?2, last_error = ?3,
                status = COALESCE(?4, status), next_at = ?5, done_at = CASE WHEN ?4 IS NULL THEN NULL ELSE ?6 END
          WHERE id = ?1 AND claim = ?7",
        params![call.id, a.status, a.error, a.done, a.next_at, a.at, call.claim],
    )?;
    tx.commit()?;
    Ok(())
}

/// Releases the claims of `worker` (whose claims are `WORKER:N`) when it stops: what it had
/// claimed but not called is due again at once. A worker that died without stopping leaves
/// claims that lapse with their lease; those of another live worker are never touched.
pub fn release_postbacks(conn: &Connection, worker: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE postbacks SET locked_until = NULL, claim = NULL
          WHERE claim LIKE ?1 || ':%' AND status = 'pending'",
        params![worker],
    )?)
}

/// A campaign's postback calls, newest first, each with its attempts (`status` filters).
pub fn campaign_postbacks(
    conn: &Connection,
    campaign: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Value>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, event_uid, postback, event_id, txn, method, url, body, status, attempts, next_at, created_at, done_at, last_status, last_error
           FROM postbacks WHERE campaign_id = ?1 AND (?2 IS NULL OR status = ?2) ORDER BY id DESC LIMIT ?3",
    )?;
    let mut calls: Vec<(i64, Value)> = stmt
        .query_map(params![campaign, status, limit], |r| {
            let id: i64 = r.get(0)?;
            Ok((id, serde_json::json!({
                "id": id, "event_uid": r.get::<_, String>(1)?, "postback": r.get::<_, String>(2)?,
                "event_id": r.get::<_, String>(3)?, "transaction": r.get::<_, String>(4)?,
                "method": r.get::<_, String>(5)?, "url": r.get::<_, String>(6)?, "body": r.get::<_, Option<String>>(7)?,
                "status": r.get::<_, String>(8)?, "attempts": r.get::<_, i64>(9)?, "next_at": r.get::<_, i64>(10)?,
                "created_at": r.get::<_, i64>(11)?, "done_at": r.get::<_, Option<i64>>(12)?,
                "last_status": r.get::<_, Option<i64>>(13)?, "last_error": r.get::<_, Option<String>>(14)?,
            })))
        })?
        .collect::<Result<_, _>>()?;
    let mut attempts = conn.prepare_cached(
        "SELECT at, status, latency_ms, error FROM postback_attempts WHERE postback_id = ?1 ORDER BY at",
    )?;
    for (id, call) in &mut calls {
        let list: Vec<Value> = attempts
            .query_map(params![*id], |r| {
                Ok(serde_json::json!({"at": r.get::<_, i64>(0)?, "status": r.get::<_, Option<i64>>(1)?,
                    "latency_ms": r.get::<_, i64>(2)?, "error": r.get::<_, Option<String>>(3)?}))
            })?
            .collect::<Result<_, _>>()?;
        call["attempt_log"] = Value::Array(list);
    }
    Ok(calls.into_iter().map(|(_, v)| v).collect())
}

/// The writer thread: takes the next batch, and every batch waiting behind it (up to
/// [`GROUP_JOBS`]), stores them in one transaction, and answers each after the commit.
fn write_groups(conn: &Mutex<Connection>, jobs: &std::sync::mpsc::Receiver<InsertJob>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_JOBS {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        let stored = (|| {
            let mut tx = conn.transaction()?;
            let mut results = Vec::with_capacity(group.len());
            for job in &group {
                // Each batch is all or nothing: a batch that fails is rolled back to its
                // savepoint and answered with its error, and the others are still stored.
                let mut batch = tx.savepoint()?;
                let result = insert_in(&batch, &job.events);
                // SQLite rolls the whole transaction back on some errors (a full disk): then no
                // batch of the group is stored, whatever the others' statements said.
                if batch.is_autocommit() {
                    let cause = result.err();
                    return Err(
                        cause.unwrap_or(StoreError::Task("the transaction was rolled back".into()))
                    );
                }
                match &result {
                    Ok(_) => batch.commit()?,
                    Err(_) => batch.rollback()?,
                }
                results.push(result);
            }
            tx.commit()?;
            Ok::<_, StoreError>(results)
        })();
        drop(conn);
        match stored {
            Ok(results) => {
                for (job, result) in group.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            // The commit failed: nothing of the group is stored, and every batch is told so.
            Err(e) => {
                let trouble = e.trouble();
                let message = e.to_string();
                for job in group {
                    let _ = job
                        .reply
                        .send(Err(StoreError::Group(trouble, message.clone())));
                }
            }
        }
    }
}

// ---- Reports (issue 10; `reports.rs`): columns computed from each event's body, and the
// indexes the reports read instead of the bodies. Kept apart so that it merges beside other
// changes.

/// The traffic-source parameters a report groups by. Each has a virtual column `attr_NAME`
/// (the value among the event's captured attribution parameters) and a partial covering index
/// of the events that have it, in the order a report groups them. Adding one here adds both
/// at the next start.
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

/// The generated columns of `events` the reports read (virtual: computed from `body`, stored
/// only in the indexes below), by name and definition.
fn report_columns() -> Vec<(String, String)> {
    let mut columns: Vec<(String, String)> = [
        (
            "revenue",
            "REAL GENERATED ALWAYS AS (json_extract(body, '$.revenue')) VIRTUAL",
        ),
        (
            "payout",
            "REAL GENERATED ALWAYS AS (json_extract(body, '$.payout')) VIRTUAL",
        ),
        (
            "bot",
            "INTEGER GENERATED ALWAYS AS (coalesce(json_extract(body, '$.bot'), 0)) VIRTUAL",
        ),
        (
            "quarter",
            "INTEGER GENERATED ALWAYS AS (ts / 900000) VIRTUAL",
        ),
    ]
    .map(|(n, d)| (n.to_owned(), d.to_owned()))
    .into();
    for p in REPORT_SOURCES {
        columns.push((
            format!("attr_{p}"),
            format!(
                "TEXT GENERATED ALWAYS AS (json_extract(body, '$.attribution.params.{p}')) VIRTUAL"
            ),
        ));
    }
    columns
}

/// Adds to `table` those of `columns` (name, definition) a database made by an older version
/// lacks.
fn add_missing_columns(
    conn: &Connection,
    table: &str,
    columns: &[(String, String)],
) -> Result<(), StoreError> {
    // table_xinfo, not table_info: the latter leaves generated columns out.
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_xinfo(?1)")?;
    let have: Vec<String> = stmt
        .query_map([table], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (name, definition) in columns {
        if !have.contains(name) {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {name} {definition}"
            ))?;
        }
    }
    Ok(())
}

/// Adds the reports' columns and indexes to a database of any age: `ADD COLUMN` of a virtual
/// column rewrites nothing; the indexes are built once (at the first start after an upgrade:
/// seconds for a million events, see the README).
///
/// The indexes are ordered as the reports group, so that SQLite aggregates each group as the
/// index hands it over, never sorting events: by campaign, event, bot flag and quarter hour
/// (`events_report`: totals, events, campaigns, time series), and by campaign and source value
/// (`events_by_PARAM`, holding only the events that have the parameter).
fn migrate_reports(conn: &Connection) -> Result<(), StoreError> {
    add_missing_columns(conn, "events", &report_columns())?;
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS events_report
           ON events (campaign_id, event_id, bot, quarter, ts, revenue, payout);",
    )?;
    for p in REPORT_SOURCES {
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS events_by_{p}
               ON events (campaign_id, attr_{p}, event_id, bot, ts, revenue, payout)
               WHERE attr_{p} IS NOT NULL;"
        ))?;
    }
    Ok(())
}
