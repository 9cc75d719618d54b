//! The SQLite store (bundled, WAL), for one machine: the catalog's mirror and the events, each
//! uid stored once and each once-per-lead event once per transaction.
//!
//! Ingest's inserts go to one writer thread, which commits whatever batches are waiting in one
//! transaction (group commit): with `synchronous=FULL` each commit is an fsync, so an
//! acknowledged event survives a power cut, and grouping pays that fsync once for many batches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use super::{
    event_json, now_ms, postback_json, Attempt, DueCall, Durability, Inserted, NewEvent,
    SessionRow, StoreError, StoreOptions, StoredCatalog, QUARTER_MS, REPORT_SOURCES,
};
use crate::auth::ApiKey;
use crate::catalog::Catalog;
use crate::reports::{Ask, Found, Grouped, Params, Plan, Report, Scope, FIXED_ARGS};

/// Batches ingest's writer commits at once, at most.
const GROUP_JOBS: usize = 256;

/// One ingest batch waiting for the writer.
struct InsertJob {
    events: Vec<NewEvent>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Inserted>, StoreError>>,
}

/// The database, shared by the request handlers: one connection writes; reads take their own
/// connections (WAL lets them read while the writer writes), so a report never waits on ingest.
#[derive(Clone)]
pub struct Sqlite {
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
CREATE TABLE IF NOT EXISTS catalog_document (
  id INTEGER PRIMARY KEY CHECK (id = 1), document TEXT NOT NULL, updated_at INTEGER NOT NULL);
-- Mirrors of the catalog document, rewritten from it at every start and change.
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

impl Sqlite {
    /// Opens (and creates) the database at `path`, every commit durable.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        Sqlite::open_with(path, &StoreOptions::default())
    }

    /// Opens (and creates) the database at `path` with `options`, and starts its writer.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Sqlite, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        // Migrations in one immediate transaction: processes opening an older file at once (a
        // collector and a sink) take turns rather than each adding the same column.
        // Building the reports' indexes on an older file takes a while: the other process
        // waits for it, not the usual few seconds.
        conn.busy_timeout(std::time::Duration::from_secs(600))?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match migrate(&conn) {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        conn.busy_timeout(options.busy_timeout)?;
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
        Ok(Sqlite {
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

    /// The catalog document stored last, with its version.
    pub async fn stored_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        self.read(|conn| {
            let row: Option<(String, i64)> = conn
                .query_row(
                    "SELECT document, version FROM catalog_document WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.map(|(text, version)| StoredCatalog {
                document: serde_json::from_str(&text)
                    .unwrap_or_else(|_| Value::Object(Default::default())),
                version,
            }))
        })
        .await
    }

    /// The stored catalog's version (0 before the first).
    pub async fn catalog_version(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT version FROM catalog_document WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    /// Stores `catalog` (its document, what every collector starts from, and the tables that
    /// mirror it for queries) when the stored version is `expected`. Events are kept.
    pub async fn save_catalog(
        &self,
        catalog: Catalog,
        document: String,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let current: i64 = tx
                .query_row("SELECT version FROM catalog_document WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or(0);
            if expected.is_some_and(|v| v != current) {
                return Err(StoreError::Conflict(current));
            }
            let version = current + 1;
            tx.execute(
                "INSERT OR REPLACE INTO catalog_document (id, document, updated_at, version) VALUES (1, ?1, ?2, ?3)",
                params![document, now_ms(), version],
            )?;
            write_mirrors(&tx, &catalog)?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    /// Whether the database answers.
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM catalog_document", [], |r| {
                r.get::<_, i64>(0)
            })?;
            Ok(())
        })
        .await
    }

    /// Events of a campaign, newest first, stored after `after` (a `seq` cursor).
    pub async fn campaign_events(
        &self,
        campaign: String,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, received_at, body FROM events WHERE campaign_id = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![campaign, after, limit], row_json)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// A lead's timeline, in the order its events happened; only `org`'s when given.
    pub async fn lead(&self, txn: String, org: Option<String>) -> Result<Vec<Value>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, received_at, body FROM events WHERE txn = ?1
                   AND (?2 IS NULL OR campaign_id IN (SELECT id FROM campaigns WHERE org_id = ?2))
                 ORDER BY ts, json_extract(body, '$.seq'), seq",
            )?;
            let rows = stmt.query_map(params![txn, org], row_json)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The stored copy in `campaign` that makes an event a duplicate.
    pub async fn kept_copy(
        &self,
        campaign: String,
        uid: String,
        once_key: Option<String>,
    ) -> Result<Option<Value>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, received_at, body FROM events
                  WHERE (uid = ?1 OR once_key = ?2) AND campaign_id = ?3 ORDER BY seq LIMIT 1",
            )?;
            Ok(stmt
                .query_row(params![uid, once_key, campaign], row_json)
                .optional()?)
        })
        .await
    }

    /// A lead's first stored event (its campaign, and the event as JSON).
    pub async fn first_event(&self, txn: String) -> Result<Option<(String, String)>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT campaign_id, body FROM events WHERE txn = ?1 ORDER BY seq LIMIT 1",
                    params![txn],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }

    /// The first of `campaigns` with stored events.
    pub async fn campaign_with_events(
        &self,
        campaigns: Vec<String>,
    ) -> Result<Option<String>, StoreError> {
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT 1 FROM events WHERE campaign_id = ?1 LIMIT 1")?;
            for c in campaigns {
                if stmt.exists(params![c])? {
                    return Ok(Some(c));
                }
            }
            Ok(None)
        })
        .await
    }

    /// A report, holding one of the report places.
    pub async fn report(&self, scope: Scope, params: Params) -> Result<Report, StoreError> {
        self.read_report(move |conn| report(conn, scope, params))
            .await
    }

    /// Stores a new key's row.
    pub async fn insert_key(&self, key: ApiKey, digest: String) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO api_keys (id, org_id, name, digest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, key.org, key.name, digest, key.created_at],
            )?;
            Ok(())
        })
        .await
    }

    /// The keys of `org`, oldest first.
    pub async fn keys(&self, org: String) -> Result<Vec<ApiKey>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, org_id, name, created_at, revoked_at FROM api_keys WHERE org_id = ?1 ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map(params![org], |r| {
                Ok(ApiKey {
                    id: r.get(0)?,
                    org: r.get(1)?,
                    name: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Revokes a key and ends its sessions.
    pub async fn revoke_key(&self, id: String, now: i64) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let n = tx.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            tx.execute("DELETE FROM sessions WHERE key_id = ?1", params![id])?;
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    /// The live keys' IDs of `org`.
    pub async fn live_key_ids(&self, org: String) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map(params![org], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// A live key's organization and digest.
    pub async fn live_key(&self, id: String) -> Result<Option<(String, String)>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT org_id, digest FROM api_keys WHERE id = ?1 AND revoked_at IS NULL",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }

    /// Stores a session, dropping the expired ones.
    pub async fn insert_session(
        &self,
        digest: String,
        admin_digest: Option<String>,
        key_id: Option<String>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM sessions WHERE expires_at < ?1",
                params![now_ms()],
            )?;
            conn.execute(
                "INSERT INTO sessions (digest, admin_digest, key_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![digest, admin_digest, key_id, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    /// Ends a session.
    pub async fn delete_session(&self, digest: String) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.execute("DELETE FROM sessions WHERE digest = ?1", params![digest])?;
            Ok(())
        })
        .await
    }

    /// A live session.
    pub async fn session(
        &self,
        digest: String,
        now: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT s.admin_digest, k.org_id FROM sessions s
                       LEFT JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
                      WHERE s.digest = ?1 AND s.expires_at > ?2",
                    params![digest, now],
                    |r| {
                        Ok(SessionRow {
                            admin_digest: r.get(0)?,
                            key_org: r.get(1)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Claims due postback calls.
    pub async fn claim_postbacks(
        &self,
        now: i64,
        limit: i64,
        lease_ms: i64,
        claim: String,
    ) -> Result<Vec<DueCall>, StoreError> {
        self.run(move |c| claim_postbacks(c, now, limit, lease_ms, &claim))
            .await
    }

    /// Records an attempt.
    pub async fn record_attempt(&self, call: DueCall, attempt: Attempt) -> Result<(), StoreError> {
        self.run(move |c| record_attempt(c, &call, &attempt)).await
    }

    /// Releases a stopping worker's claims.
    pub async fn release_postbacks(&self, worker: String) -> Result<usize, StoreError> {
        self.run(move |c| release_postbacks(c, &worker)).await
    }

    /// Postback calls pending and failed.
    pub async fn postback_counts(&self) -> Result<(i64, i64), StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
                   FROM postbacks INDEXED BY postbacks_due WHERE status IN ('pending', 'failed')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
    }

    /// A campaign's postback calls.
    pub async fn campaign_postbacks(
        &self,
        campaign: String,
        status: Option<String>,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        self.read(move |c| campaign_postbacks(c, &campaign, status.as_deref(), limit))
            .await
    }
}

/// Brings a database of any age to this version's schema, and rewrites the catalog's mirrors
/// from the stored document (a file copied from elsewhere, an older version's tables).
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    migrate_reports(conn)?;
    // The claim a worker holds on a postback call (issue 10's review).
    add_missing_columns(conn, "postbacks", &[("claim".into(), "TEXT".into())])?;
    // The version every catalog change checks (issue 11: several collectors, one catalog).
    add_missing_columns(
        conn,
        "catalog_document",
        &[("version".into(), "INTEGER NOT NULL DEFAULT 1".into())],
    )?;
    add_missing_columns(
        conn,
        "campaigns",
        &[("bindings".into(), "TEXT NOT NULL DEFAULT '[]'".into())],
    )?;
    let document: Option<String> = conn
        .query_row(
            "SELECT document FROM catalog_document WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let stored = document
        .and_then(|d| serde_json::from_str(&d).ok())
        .and_then(|d| crate::catalog::read(d).ok());
    if let Some(catalog) = stored {
        write_mirrors(conn, &catalog)?;
    }
    Ok(())
}

/// Rewrites the tables that mirror the catalog document (for the lead timeline's organization
/// filter and the operator's own queries).
fn write_mirrors(conn: &Connection, catalog: &Catalog) -> Result<(), StoreError> {
    conn.execute_batch(
        "DELETE FROM organizations; DELETE FROM campaigns; DELETE FROM event_defs;",
    )?;
    for org in &catalog.file.organizations {
        conn.execute(
            "INSERT INTO organizations (id, name) VALUES (?1, ?2)",
            params![org.id, org.name],
        )?;
    }
    for (id, c) in &catalog.campaigns {
        let config = serde_json::to_string(&c.config).unwrap_or_default();
        let origins = serde_json::to_string(&c.allowed_origins).unwrap_or_default();
        let bindings = serde_json::to_string(&c.bindings).unwrap_or_default();
        conn.execute(
                "INSERT INTO campaigns (id, org_id, name, config, allowed_origins, bindings) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, c.org, c.name, config, origins, bindings],
            )?;
        for d in &c.config.events {
            let scope = serde_json::to_value(d.scope).ok();
            let scope = scope.as_ref().and_then(Value::as_str).unwrap_or("org");
            // An organization's event is every campaign's: '' (as on PostgreSQL, whose
            // primary key takes no NULL).
            let campaign = if scope == "campaign" { id.as_str() } else { "" };
            conn.execute(
                    "INSERT OR IGNORE INTO event_defs (org_id, campaign_id, id, name, category, scope, multi, revenue)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![c.org, campaign, d.id, d.name, d.category.as_str(), scope, d.multi, d.revenue.as_ref().and_then(|a| a.fixed())],
                )?;
        }
    }
    Ok(())
}

fn row_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let seq: i64 = row.get(0)?;
    let received: i64 = row.get(1)?;
    let body: String = row.get(2)?;
    Ok(event_json(seq, received, &body))
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
            Ok((
                id,
                postback_json(
                    id,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    (r.get(10)?, r.get(11)?, r.get(12)?),
                    (r.get(13)?, r.get(14)?),
                ),
            ))
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

// ---- Reports' statements (reports.rs plans them; SQLite reads its indexes)

/// Placeholders `?first, …` for `n` values.
fn list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of the totals, and of the rows by event or campaign: one row per campaign,
/// event and bot flag, each summed as the index `events_report` hands its events over in that
/// order (one seek per campaign, event and flag; no sort).
pub fn totals_sql(campaigns: usize, events: usize) -> String {
    format!(
        "SELECT NULL, campaign_id, event_id, bot, count(*), total(revenue), total(payout)
           FROM events INDEXED BY events_report
          WHERE campaign_id IN ({}) AND event_id IN ({}) AND bot IN (0, 1)
            AND quarter BETWEEN ?4 AND ?5 AND ts >= ?1 AND ts < ?2
          GROUP BY campaign_id, event_id, bot",
        list(FIXED_ARGS + 1, campaigns),
        list(FIXED_ARGS + 1 + campaigns, events)
    )
}

/// The statement of a time series: summed by quarter hour as the index hands the events over,
/// then those sums (at most a few per hour and event) summed into the zone's hours or days.
pub fn time_sql(campaigns: usize, events: usize) -> String {
    format!(
        "SELECT (quarter * {QUARTER_MS} + ?3) / ?6 AS k, campaign_id, event_id, bot, sum(n), sum(r), sum(p)
           FROM (SELECT quarter, campaign_id, event_id, bot, count(*) AS n, total(revenue) AS r, total(payout) AS p
                   FROM events INDEXED BY events_report
                  WHERE campaign_id IN ({}) AND event_id IN ({}) AND bot IN (0, 1)
                    AND quarter BETWEEN ?4 AND ?5 AND ts >= ?1 AND ts < ?2
                  GROUP BY campaign_id, event_id, bot, quarter)
          GROUP BY k, campaign_id, event_id, bot",
        list(FIXED_ARGS + 1, campaigns),
        list(FIXED_ARGS + 1 + campaigns, events)
    )
}

/// The statement of the rows by a source parameter, from its index `events_by_PARAM` (only the
/// events that have the parameter, by campaign and value): summed as the index hands them over.
/// The events without it are the rest of the totals.
pub fn source_sql(source: &str, campaigns: usize) -> String {
    format!(
        "SELECT attr_{source}, campaign_id, event_id, bot, count(*), total(revenue), total(payout)
           FROM events INDEXED BY events_by_{source}
          WHERE campaign_id IN ({}) AND attr_{source} IS NOT NULL AND ts >= ?1 AND ts < ?2
          GROUP BY campaign_id, attr_{source}, event_id, bot",
        list(FIXED_ARGS + 1, campaigns)
    )
}

/// The leads that reached a conversion event that may fire more than once per lead, each
/// once: `?7` the campaign, `?8` the event, `?9` 1 when bots count, else 0. Grouped by `group`
/// (none: the total); reads the rows of the conversion events only.
fn converted_sql(group: Option<crate::reports::Group>) -> String {
    let key = match group {
        Some(crate::reports::Group::Hour | crate::reports::Group::Day) => {
            "(ts + ?3) / ?6".to_owned()
        }
        Some(crate::reports::Group::Source(i)) => format!("attr_{}", REPORT_SOURCES[i]),
        _ => "NULL".into(),
    };
    format!(
        "SELECT {key}, count(DISTINCT txn) FROM events INDEXED BY events_report
          WHERE campaign_id = ?7 AND event_id = ?8 AND bot IN (0, ?9)
            AND quarter BETWEEN ?4 AND ?5 AND ts >= ?1 AND ts < ?2
          GROUP BY 1"
    )
}

/// The events stored for `campaign`, found by skipping through the index from one event ID to
/// the next (a seek each, however many events).
const STORED_EVENTS_SQL: &str = "
    WITH RECURSIVE e(id) AS (
      SELECT (SELECT min(event_id) FROM events INDEXED BY events_report WHERE campaign_id = ?1)
      UNION ALL
      SELECT (SELECT min(event_id) FROM events INDEXED BY events_report
               WHERE campaign_id = ?1 AND event_id > e.id)
        FROM e WHERE e.id IS NOT NULL)
    SELECT id FROM e WHERE id IS NOT NULL";

/// Runs the report of `scope` on a read connection: the event IDs stored, then each
/// statement the plan asks for.
fn report(conn: &Connection, scope: Scope, params: Params) -> Result<Report, StoreError> {
    let mut stored = Vec::new();
    for c in &scope.campaigns {
        let mut stmt = conn.prepare_cached(STORED_EVENTS_SQL)?;
        for id in stmt.query_map([&c.id], |r| r.get::<_, String>(0))? {
            stored.push(id?);
        }
    }
    let plan = Plan::new(scope, params, stored);
    let fixed: Vec<Sql> = plan.fixed_args().into_iter().map(Sql::Integer).collect();
    let campaigns: Vec<Sql> = plan.campaigns().into_iter().map(Sql::Text).collect();
    let events: Vec<Sql> = plan.event_ids().into_iter().map(Sql::Text).collect();
    let (nc, ne) = (campaigns.len(), events.len());
    let mut answers = Vec::new();
    for ask in plan.asks() {
        let with = |parts: &[&[Sql]]| parts.concat();
        let found = match &ask {
            Ask::Totals => query(
                conn,
                &totals_sql(nc, ne),
                &with(&[&fixed, &campaigns, &events]),
            )?,
            Ask::Time => query(
                conn,
                &time_sql(nc, ne),
                &with(&[&fixed, &campaigns, &events]),
            )?,
            Ask::Source(p) => query(conn, &source_sql(p, nc), &with(&[&fixed, &campaigns]))?,
            Ask::Converted {
                campaign,
                event,
                bots,
                by,
            } => {
                let own = [
                    Sql::Text(campaign.clone()),
                    Sql::Text(event.clone()),
                    Sql::Integer((*bots).into()),
                ];
                let mut stmt = conn.prepare_cached(&converted_sql(*by))?;
                let rows = stmt.query_map(params_from_iter(with(&[&fixed, &own])), |r| {
                    Ok((
                        grouped(r.get(0)?),
                        String::new(),
                        String::new(),
                        false,
                        (r.get::<_, i64>(1)? as u64, 0.0, 0.0),
                    ))
                })?;
                rows.collect::<Result<_, _>>()?
            }
        };
        answers.push(found);
    }
    Ok(plan.report(answers))
}

/// A grouped value as SQLite gave it.
fn grouped(v: Sql) -> Grouped {
    match v {
        Sql::Integer(n) => Grouped::Number(n),
        Sql::Text(t) => Grouped::Text(t),
        Sql::Real(x) => Grouped::Text(x.to_string()),
        _ => Grouped::None,
    }
}

fn query(conn: &Connection, sql: &str, args: &[Sql]) -> Result<Vec<Found>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((
            grouped(r.get(0)?),
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            (r.get::<_, i64>(4)? as u64, r.get(5)?, r.get(6)?),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- Reports (issue 10; `reports.rs`): columns computed from each event's body, and the
// indexes the reports read instead of the bodies. Kept apart so that it merges beside other
// changes.

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
