//! The PostgreSQL store (`--db postgres://…`), shared by any number of collectors: the same
//! tables and rules as SQLite's, with a pool of connections instead of one writer.
//!
//! Each uid is stored once and each once-per-lead event once per transaction by the unique
//! indexes on `uid` and `once_key`, with `ON CONFLICT DO NOTHING`: under concurrent writers on
//! several machines, the second copy waits for the first's transaction and is then a
//! duplicate. An event and its postback calls are written in one transaction; due calls are
//! claimed with `FOR UPDATE SKIP LOCKED`, so two collectors never claim one call. The schema is
//! migrated under an advisory lock, so collectors that start at once take turns.
//!
//! Reports read the same kinds of index as SQLite's: the amounts, bot flag, quarter hour and
//! source parameters are columns written with each event (computed here from its body), and
//! the indexes hold what the reports sum (`INCLUDE`), so a report reads no table row.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{
    event_json, now_ms, postback_json, Attempt, DueCall, Inserted, NewEvent, SessionRow,
    StoreError, StoreOptions, StoredCatalog, REPORT_SOURCES,
};
use crate::auth::ApiKey;
use crate::catalog::Catalog;
use crate::reports::{Ask, Found, Group, Grouped, Params, Plan, Report, Scope};

/// The PostgreSQL store: a pool of connections.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    /// Places for reports at once (a report holds a connection for its statements).
    reports: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Reports at once, at most: the rest of the pool stays for ingest and the other reads.
const REPORTS_AT_ONCE: usize = 4;

/// Any number: the key of the advisory lock that migrations take.
const MIGRATION_LOCK: i64 = 0x636c_6963_6b73;

/// Times a batch is tried again when PostgreSQL chose it as a deadlock's victim (two
/// concurrent batches inserting the same uids in a different order).
const DEADLOCK_RETRIES: usize = 3;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            },
        })
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Postgres(format!("no connection: {other}")),
        }
    }
}

fn schema() -> String {
    let mut sql = String::from(
        "
CREATE TABLE IF NOT EXISTS catalog_document (
  id INTEGER PRIMARY KEY CHECK (id = 1), document TEXT NOT NULL, updated_at BIGINT NOT NULL,
  version BIGINT NOT NULL);
-- Mirrors of the catalog document, rewritten at every change (for the operator's own queries,
-- and the lead timeline's organization filter).
CREATE TABLE IF NOT EXISTS organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
  allowed_origins TEXT NOT NULL, bindings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS event_defs (
  org_id TEXT NOT NULL, campaign_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
  category TEXT NOT NULL, scope TEXT NOT NULL, multi BOOLEAN NOT NULL, revenue DOUBLE PRECISION,
  PRIMARY KEY (org_id, campaign_id, id));
CREATE TABLE IF NOT EXISTS events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  campaign_id TEXT NOT NULL, event_id TEXT NOT NULL, category TEXT NOT NULL, txn TEXT NOT NULL,
  ts BIGINT NOT NULL, received_at BIGINT NOT NULL,
  once_key TEXT UNIQUE, -- campaign|txn|event for once-per-lead events, NULL for multi-trigger
  body TEXT NOT NULL,
  -- Written with the event from its body, for the timeline's order and the reports.
  page_seq BIGINT, revenue DOUBLE PRECISION, payout DOUBLE PRECISION, bot SMALLINT NOT NULL,
  quarter BIGINT NOT NULL",
    );
    for p in REPORT_SOURCES {
        sql.push_str(&format!(", attr_{p} TEXT"));
    }
    sql.push_str(
        ");
CREATE INDEX IF NOT EXISTS events_txn ON events (txn, ts);
CREATE INDEX IF NOT EXISTS events_campaign ON events (campaign_id, seq);
CREATE INDEX IF NOT EXISTS events_report
  ON events (campaign_id, event_id, bot, quarter) INCLUDE (ts, revenue, payout, txn);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,
  created_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE TABLE IF NOT EXISTS postbacks (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_uid TEXT NOT NULL, postback TEXT NOT NULL,
  campaign_id TEXT NOT NULL, event_id TEXT NOT NULL, txn TEXT NOT NULL,
  method TEXT NOT NULL, url TEXT NOT NULL, body TEXT, content_type TEXT,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts BIGINT NOT NULL DEFAULT 0, next_at BIGINT NOT NULL, locked_until BIGINT, claim TEXT,
  created_at BIGINT NOT NULL, done_at BIGINT, last_status BIGINT, last_error TEXT,
  UNIQUE (event_uid, postback));
CREATE INDEX IF NOT EXISTS postbacks_due ON postbacks (status, next_at);
CREATE INDEX IF NOT EXISTS postbacks_campaign ON postbacks (campaign_id, id);
CREATE TABLE IF NOT EXISTS postback_attempts (
  postback_id BIGINT NOT NULL, at BIGINT NOT NULL, status BIGINT, latency_ms BIGINT NOT NULL,
  error TEXT);
CREATE INDEX IF NOT EXISTS postback_attempts_of ON postback_attempts (postback_id, at);
CREATE TABLE IF NOT EXISTS sessions (
  digest TEXT PRIMARY KEY, admin_digest TEXT, key_id TEXT, expires_at BIGINT NOT NULL);
",
    );
    for p in REPORT_SOURCES {
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS events_by_{p} ON events (campaign_id, attr_{p})
               INCLUDE (event_id, bot, ts, revenue, payout, txn) WHERE attr_{p} IS NOT NULL;\n"
        ));
    }
    sql
}

/// The columns written with an event from its body.
struct Derived {
    page_seq: Option<i64>,
    revenue: Option<f64>,
    payout: Option<f64>,
    bot: i16,
    sources: [Option<String>; REPORT_SOURCES.len()],
}

impl Derived {
    fn of(body: &str) -> Derived {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let params = &v["attribution"]["params"];
        Derived {
            page_seq: v["seq"].as_i64(),
            revenue: v["revenue"].as_f64(),
            payout: v["payout"].as_f64(),
            bot: i16::from(v["bot"].as_bool().unwrap_or(false)),
            // PostgreSQL's text holds no NUL character; a value never needs one.
            sources: REPORT_SOURCES.map(|p| match &params[p] {
                Value::String(s) => Some(s.replace('\0', "")),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        }
    }
}

/// TLS to the database, as its URL's `sslmode` asks: `prefer` (the default) takes TLS when the
/// server offers it, `require` refuses a server without it. As libpq does for these modes, the
/// connection is encrypted without checking the server's certificate (a self-signed one, an IP
/// address); with `ca` (`--db-ca FILE`) the certificate must chain to that CA and name the host.
fn tls(
    ca: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Postgres(format!("TLS: {e}")))?;
    let config = match ca {
        Some(file) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(file)
                .map_err(|e| StoreError::Postgres(format!("--db-ca {}: {e}", file.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    StoreError::Postgres(format!("--db-ca {}: {e}", file.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    StoreError::Postgres(format!("--db-ca {}: {e}", file.display()))
                })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Takes the server's certificate as it is (libpq's `prefer` and `require`), while checking the
/// handshake's signatures, so the connection is encrypted to the key that certificate holds.
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl Postgres {
    /// Connects to `url` and migrates its schema (under an advisory lock, so that collectors
    /// starting at once take turns).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Postgres, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Postgres(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.busy_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("clickscript-collector");
        }
        let manager = Manager::from_config(
            config,
            tls(options.db_ca.as_deref())?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.busy_timeout))
            .create_timeout(Some(options.busy_timeout))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .map_err(|e| StoreError::Postgres(e.to_string()))?;
        let store = Postgres {
            pool,
            reports: std::sync::Arc::new(tokio::sync::Semaphore::new(REPORTS_AT_ONCE)),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        // A URL whose search_path names a schema that is not there yet (`?options=-csearch_path%3DNAME`,
        // one schema per environment or test run): the collector makes it.
        let current: Option<String> = tx.query_one("SELECT current_schema()", &[]).await?.get(0);
        if current.is_none() {
            let path: String = tx.query_one("SHOW search_path", &[]).await?.get(0);
            let first = path
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if !first.is_empty() && first != "$user" {
                tx.batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                    first.replace('"', "\"\"")
                ))
                .await?;
            }
        }
        tx.batch_execute(&schema()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Stores a batch in one transaction; tried again when chosen as a deadlock's victim.
    pub async fn insert_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>, StoreError> {
        let mut client = self.client().await?;
        let mut tries = 0;
        loop {
            match insert(&mut client, &events).await {
                Err(e) if is_retryable(&e) && tries < DEADLOCK_RETRIES => tries += 1,
                other => return Ok(other?),
            }
        }
    }

    /// Whether the database answers.
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.client().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    /// The catalog document stored last, with its version.
    pub async fn stored_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT document, version FROM catalog_document WHERE id = 1",
                &[],
            )
            .await?;
        Ok(row.map(|r| StoredCatalog {
            document: serde_json::from_str(r.get(0))
                .unwrap_or_else(|_| Value::Object(Default::default())),
            version: r.get(1),
        }))
    }

    /// The stored catalog's version (0 before the first).
    pub async fn catalog_version(&self) -> Result<i64, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT version FROM catalog_document WHERE id = 1", &[])
            .await?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    /// Stores `catalog` when the stored version is `expected`; tells the other collectors.
    pub async fn save_catalog(
        &self,
        catalog: Catalog,
        document: String,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The row lock orders concurrent changes: the second reads the first's version.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(MIGRATION_LOCK + 1)])
            .await?;
        let current: i64 = tx
            .query_opt(
                "SELECT version FROM catalog_document WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?
            .map_or(0, |r| r.get(0));
        if expected.is_some_and(|v| v != current) {
            return Err(StoreError::Conflict(current));
        }
        let version = current + 1;
        tx.execute(
            "INSERT INTO catalog_document (id, document, updated_at, version) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET document = $1, updated_at = $2, version = $3",
            &[&document, &now_ms(), &version],
        )
        .await?;
        tx.batch_execute(
            "DELETE FROM organizations; DELETE FROM campaigns; DELETE FROM event_defs;",
        )
        .await?;
        for org in &catalog.file.organizations {
            tx.execute(
                "INSERT INTO organizations (id, name) VALUES ($1, $2)",
                &[&org.id, &org.name],
            )
            .await?;
        }
        for (id, c) in &catalog.campaigns {
            let config = serde_json::to_string(&c.config).unwrap_or_default();
            let origins = serde_json::to_string(&c.allowed_origins).unwrap_or_default();
            let bindings = serde_json::to_string(&c.bindings).unwrap_or_default();
            tx.execute(
                "INSERT INTO campaigns (id, org_id, name, config, allowed_origins, bindings) VALUES ($1, $2, $3, $4, $5, $6)",
                &[id, &c.org, &c.name, &config, &origins, &bindings],
            )
            .await?;
            for d in &c.config.events {
                let scope = serde_json::to_value(d.scope).ok();
                let scope = scope.as_ref().and_then(Value::as_str).unwrap_or("org");
                let campaign = if scope == "campaign" { id.as_str() } else { "" };
                let revenue = d.revenue.as_ref().and_then(|a| a.fixed());
                tx.execute(
                    "INSERT INTO event_defs (org_id, campaign_id, id, name, category, scope, multi, revenue)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    &[&c.org, &campaign, &d.id, &d.name, &d.category.as_str(), &scope, &d.multi, &revenue],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(version)
    }

    /// Events of a campaign, newest first, stored after `after`.
    pub async fn campaign_events(
        &self,
        campaign: String,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, received_at, body FROM events WHERE campaign_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3",
                &[&campaign, &after, &limit],
            )
            .await?;
        Ok(rows.iter().map(row_json).collect())
    }

    /// A lead's timeline; only `org`'s events when given.
    pub async fn lead(&self, txn: String, org: Option<String>) -> Result<Vec<Value>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, received_at, body FROM events WHERE txn = $1
                   AND ($2::text IS NULL OR campaign_id IN (SELECT id FROM campaigns WHERE org_id = $2))
                 ORDER BY ts, page_seq, seq",
                &[&txn, &org],
            )
            .await?;
        Ok(rows.iter().map(row_json).collect())
    }

    /// The stored copy in `campaign` that makes an event a duplicate.
    pub async fn kept_copy(
        &self,
        campaign: String,
        uid: String,
        once_key: Option<String>,
    ) -> Result<Option<Value>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT seq, received_at, body FROM events
                  WHERE (uid = $1 OR once_key = $2) AND campaign_id = $3 ORDER BY seq LIMIT 1",
                &[&uid, &once_key, &campaign],
            )
            .await?;
        Ok(row.as_ref().map(row_json))
    }

    /// A lead's first stored event.
    pub async fn first_event(&self, txn: String) -> Result<Option<(String, String)>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT campaign_id, body FROM events WHERE txn = $1 ORDER BY seq LIMIT 1",
                &[&txn],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The first of `campaigns` with stored events.
    pub async fn campaign_with_events(
        &self,
        campaigns: Vec<String>,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        for c in campaigns {
            let found = client
                .query_opt("SELECT 1 FROM events WHERE campaign_id = $1 LIMIT 1", &[&c])
                .await?;
            if found.is_some() {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// A report: the event IDs stored, then each statement the plan asks for.
    pub async fn report(&self, scope: Scope, params: Params) -> Result<Report, StoreError> {
        let _place = self
            .reports
            .acquire()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let client = self.client().await?;
        let mut stored = Vec::new();
        for c in &scope.campaigns {
            let rows = client
                .query(
                    "WITH RECURSIVE e(id) AS (
                       SELECT min(event_id) FROM events WHERE campaign_id = $1
                       UNION ALL
                       SELECT (SELECT min(event_id) FROM events WHERE campaign_id = $1 AND event_id > e.id)
                         FROM e WHERE e.id IS NOT NULL)
                     SELECT id FROM e WHERE id IS NOT NULL",
                    &[&c.id],
                )
                .await?;
            stored.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        }
        let plan = Plan::new(scope, params, stored);
        let [from, to, offset, first_q, last_q, bucket] = plan.fixed_args();
        let campaigns = plan.campaigns();
        let mut answers = Vec::new();
        for ask in plan.asks() {
            let sums =
                "count(*), coalesce(sum(revenue), 0)::float8, coalesce(sum(payout), 0)::float8";
            let in_range = "quarter BETWEEN $3 AND $4 AND ts >= $1 AND ts < $2";
            let found = match &ask {
                Ask::Totals => {
                    let sql = format!(
                        "SELECT NULL::bigint, campaign_id, event_id, bot, {sums} FROM events
                          WHERE campaign_id = ANY($5) AND {in_range} GROUP BY 2, 3, 4"
                    );
                    let rows = client
                        .query(&sql, &[&from, &to, &first_q, &last_q, &campaigns])
                        .await?;
                    rows.iter().map(|r| found(r, Grouped::None)).collect()
                }
                Ask::Time => {
                    let sql = format!(
                        "SELECT (quarter * {} + $5) / $6, campaign_id, event_id, bot, {sums} FROM events
                          WHERE campaign_id = ANY($7) AND {in_range} GROUP BY 1, 2, 3, 4",
                        crate::store::QUARTER_MS
                    );
                    let args: [&(dyn ToSql + Sync); 7] =
                        [&from, &to, &first_q, &last_q, &offset, &bucket, &campaigns];
                    let rows = client.query(&sql, &args).await?;
                    rows.iter()
                        .map(|r| found(r, Grouped::Number(r.get(0))))
                        .collect()
                }
                Ask::Source(p) => {
                    let sql = format!(
                        "SELECT attr_{p}, campaign_id, event_id, bot, {sums} FROM events
                          WHERE campaign_id = ANY($3) AND attr_{p} IS NOT NULL AND ts >= $1 AND ts < $2
                          GROUP BY 1, 2, 3, 4"
                    );
                    let rows = client.query(&sql, &[&from, &to, &campaigns]).await?;
                    rows.iter().map(|r| found(r, text(r))).collect()
                }
                Ask::Converted {
                    campaign,
                    event,
                    bots,
                    by,
                } => {
                    let key = match by {
                        Some(Group::Hour | Group::Day) => "(ts + $8) / $9".to_owned(),
                        Some(Group::Source(i)) => format!("attr_{}", REPORT_SOURCES[*i]),
                        _ => "NULL::text".into(),
                    };
                    let time = matches!(by, Some(Group::Hour | Group::Day));
                    let sql = format!(
                        "SELECT {key}, count(DISTINCT txn) FROM events
                          WHERE campaign_id = $5 AND event_id = $6 AND bot IN (0, $7::smallint) AND {in_range}
                          GROUP BY 1"
                    );
                    let bot = i16::from(*bots);
                    let mut args: Vec<&(dyn ToSql + Sync)> =
                        vec![&from, &to, &first_q, &last_q, campaign, event, &bot];
                    if time {
                        args.extend([&offset as &(dyn ToSql + Sync), &bucket]);
                    }
                    let rows = client.query(&sql, &args).await?;
                    rows.iter()
                        .map(|r| {
                            let k = match time {
                                true => r
                                    .get::<_, Option<i64>>(0)
                                    .map_or(Grouped::None, Grouped::Number),
                                false => text(r),
                            };
                            let n: i64 = r.get(1);
                            (k, String::new(), String::new(), false, (n as u64, 0.0, 0.0))
                        })
                        .collect()
                }
            };
            answers.push(found);
        }
        Ok(plan.report(answers))
    }

    /// Stores a new key's row.
    pub async fn insert_key(&self, key: ApiKey, digest: String) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO api_keys (id, org_id, name, digest, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&key.id, &key.org, &key.name, &digest, &key.created_at],
            )
            .await?;
        Ok(())
    }

    /// The keys of `org`, oldest first.
    pub async fn keys(&self, org: String) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, org_id, name, created_at, revoked_at FROM api_keys WHERE org_id = $1 ORDER BY created_at, id",
                &[&org],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ApiKey {
                id: r.get(0),
                org: r.get(1),
                name: r.get(2),
                created_at: r.get(3),
                revoked_at: r.get(4),
            })
            .collect())
    }

    /// Revokes a key and ends its sessions.
    pub async fn revoke_key(&self, id: String, now: i64) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                &[&id, &now],
            )
            .await?;
        tx.execute("DELETE FROM sessions WHERE key_id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The live keys' IDs of `org`.
    pub async fn live_key_ids(&self, org: String) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                &[&org],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// A live key's organization and digest.
    pub async fn live_key(&self, id: String) -> Result<Option<(String, String)>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT org_id, digest FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Stores a session, dropping the expired ones.
    pub async fn insert_session(
        &self,
        digest: String,
        admin_digest: Option<String>,
        key_id: Option<String>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sessions WHERE expires_at < $1", &[&now_ms()])
            .await?;
        client
            .execute(
                "INSERT INTO sessions (digest, admin_digest, key_id, expires_at) VALUES ($1, $2, $3, $4)",
                &[&digest, &admin_digest, &key_id, &expires_at],
            )
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, digest: String) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute("DELETE FROM sessions WHERE digest = $1", &[&digest])
            .await?;
        Ok(())
    }

    /// A live session.
    pub async fn session(
        &self,
        digest: String,
        now: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT s.admin_digest, k.org_id FROM sessions s
                   LEFT JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
                  WHERE s.digest = $1 AND s.expires_at > $2",
                &[&digest, &now],
            )
            .await?;
        Ok(row.map(|r| SessionRow {
            admin_digest: r.get(0),
            key_org: r.get(1),
        }))
    }

    /// Claims due calls; rows another collector is claiming are skipped, not waited for.
    pub async fn claim_postbacks(
        &self,
        _now: i64,
        limit: i64,
        lease_ms: i64,
        claim: String,
    ) -> Result<Vec<DueCall>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                // The database's clock, not this collector's: collectors whose clocks differ
                // never take each other's live claims.
                "UPDATE postbacks SET locked_until = (extract(epoch FROM statement_timestamp()) * 1000)::bigint + $2, claim = $3
                  WHERE id IN (SELECT id FROM postbacks
                                WHERE status = 'pending' AND next_at <= (extract(epoch FROM statement_timestamp()) * 1000)::bigint
                                  AND (locked_until IS NULL OR locked_until <= (extract(epoch FROM statement_timestamp()) * 1000)::bigint)
                                ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, campaign_id, event_uid || ':' || postback, method, url, body, content_type, attempts, next_at",
                &[&limit, &lease_ms, &claim],
            )
            .await?;
        let mut due: Vec<(i64, DueCall)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(8),
                    DueCall {
                        id: r.get(0),
                        campaign: r.get(1),
                        idempotency_key: r.get(2),
                        method: r.get(3),
                        url: r.get(4),
                        body: r.get(5),
                        content_type: r.get(6),
                        attempts: r.get::<_, i64>(7) as u32,
                        claim: claim.clone(),
                    },
                )
            })
            .collect();
        due.sort_by_key(|(next_at, c)| (*next_at, c.id));
        Ok(due.into_iter().map(|(_, c)| c).collect())
    }

    /// Records an attempt and, while the claim holds, what follows it.
    pub async fn record_attempt(&self, call: DueCall, a: Attempt) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let status = a.status.map(i64::from);
        tx.execute(
            "INSERT INTO postback_attempts (postback_id, at, status, latency_ms, error) VALUES ($1, $2, $3, $4, $5)",
            &[&call.id, &a.at, &status, &a.latency_ms, &a.error],
        )
        .await?;
        tx.execute(
            "UPDATE postbacks SET attempts = attempts + 1, locked_until = NULL, claim = NULL, last_status = $2, last_error = $3,
                    status = COALESCE($4, status), next_at = $5, done_at = CASE WHEN $4::text IS NULL THEN NULL ELSE $6::bigint END
              WHERE id = $1 AND claim = $7",
            &[&call.id, &status, &a.error, &a.done, &a.next_at, &a.at, &call.claim],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Releases a stopping worker's claims.
    pub async fn release_postbacks(&self, worker: String) -> Result<usize, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE postbacks SET locked_until = NULL, claim = NULL
                  WHERE claim LIKE $1 || ':%' AND status = 'pending'",
                &[&worker],
            )
            .await?;
        Ok(n as usize)
    }

    /// Postback calls pending and failed.
    pub async fn postback_counts(&self) -> Result<(i64, i64), StoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
                   FROM postbacks WHERE status IN ('pending', 'failed')",
                &[],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// A campaign's postback calls, newest first, each with its attempts.
    pub async fn campaign_postbacks(
        &self,
        campaign: String,
        status: Option<String>,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, event_uid, postback, event_id, txn, method, url, body, status, attempts, next_at, created_at, done_at, last_status, last_error
                   FROM postbacks WHERE campaign_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3",
                &[&campaign, &status, &limit],
            )
            .await?;
        let mut calls = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get(0);
            let mut call = postback_json(
                id,
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
                (r.get(10), r.get(11), r.get(12)),
                (r.get(13), r.get(14)),
            );
            let attempts = client
                .query(
                    "SELECT at, status, latency_ms, error FROM postback_attempts WHERE postback_id = $1 ORDER BY at",
                    &[&id],
                )
                .await?;
            call["attempt_log"] = attempts
                .iter()
                .map(|a| {
                    serde_json::json!({"at": a.get::<_, i64>(0), "status": a.get::<_, Option<i64>>(1),
                        "latency_ms": a.get::<_, i64>(2), "error": a.get::<_, Option<String>>(3)})
                })
                .collect();
            calls.push(call);
        }
        Ok(calls)
    }
}

/// Inserts a batch and its postback calls in one transaction: each event's result in order.
async fn insert(
    client: &mut deadpool_postgres::Object,
    events: &[NewEvent],
) -> Result<Vec<Inserted>, tokio_postgres::Error> {
    let received = now_ms();
    let derived: Vec<Derived> = events.iter().map(|e| Derived::of(&e.body)).collect();
    let column = |f: &dyn Fn(&NewEvent) -> String| events.iter().map(f).collect::<Vec<_>>();
    let uids = column(&|e| e.uid.clone());
    let campaigns = column(&|e| e.campaign.clone());
    let event_ids = column(&|e| e.event_id.clone());
    let categories = column(&|e| e.category.to_owned());
    let txns = column(&|e| e.txn.clone());
    let bodies = column(&|e| e.body.clone());
    let ts: Vec<i64> = events.iter().map(|e| e.ts as i64).collect();
    let quarters: Vec<i64> = ts
        .iter()
        .map(|t| t.div_euclid(crate::store::QUARTER_MS))
        .collect();
    let received_at = vec![received; events.len()];
    let once_keys: Vec<Option<String>> = events.iter().map(NewEvent::once_key).collect();
    let page_seq: Vec<Option<i64>> = derived.iter().map(|d| d.page_seq).collect();
    let revenue: Vec<Option<f64>> = derived.iter().map(|d| d.revenue).collect();
    let payout: Vec<Option<f64>> = derived.iter().map(|d| d.payout).collect();
    let bot: Vec<i16> = derived.iter().map(|d| d.bot).collect();
    let sources: Vec<Vec<Option<String>>> = (0..REPORT_SOURCES.len())
        .map(|i| derived.iter().map(|d| d.sources[i].clone()).collect())
        .collect();
    let attr_columns: String = REPORT_SOURCES.map(|p| format!(", attr_{p}")).concat();
    let attr_args: String = (0..REPORT_SOURCES.len())
        .map(|i| format!(", ${}::text[]", 15 + i))
        .collect();
    let sql = format!(
        "INSERT INTO events (uid, campaign_id, event_id, category, txn, ts, received_at, once_key, body,
                             page_seq, revenue, payout, bot, quarter{attr_columns})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[],
                              $7::int8[], $8::text[], $9::text[], $10::int8[], $11::float8[],
                              $12::float8[], $13::int2[], $14::int8[]{attr_args})
         ON CONFLICT DO NOTHING RETURNING uid"
    );
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![
        &uids,
        &campaigns,
        &event_ids,
        &categories,
        &txns,
        &ts,
        &received_at,
        &once_keys,
        &bodies,
        &page_seq,
        &revenue,
        &payout,
        &bot,
        &quarters,
    ];
    args.extend(sources.iter().map(|s| s as &(dyn ToSql + Sync)));
    let tx = client.transaction().await?;
    let stmt = tx.prepare_cached(&sql).await?;
    let stored: Vec<String> = tx
        .query(&stmt, &args)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut fresh: std::collections::HashSet<&str> = stored.iter().map(String::as_str).collect();
    // A uid twice in one batch: the first copy is the one stored.
    let results: Vec<Inserted> = events
        .iter()
        .map(|e| match fresh.remove(e.uid.as_str()) {
            true => Inserted::New,
            false => Inserted::Duplicate,
        })
        .collect();
    let calls: Vec<(&NewEvent, &crate::postback::Call)> = events
        .iter()
        .zip(&results)
        .filter(|(_, r)| **r == Inserted::New)
        .flat_map(|(e, _)| e.postbacks.iter().map(move |c| (e, c)))
        .collect();
    if !calls.is_empty() {
        let text = |f: &dyn Fn(&(&NewEvent, &crate::postback::Call)) -> Option<String>| {
            calls.iter().map(f).collect::<Vec<Option<String>>>()
        };
        let columns = [
            text(&|(e, _)| Some(e.uid.clone())),
            text(&|(_, c)| Some(c.postback.clone())),
            text(&|(e, _)| Some(e.campaign.clone())),
            text(&|(e, _)| Some(e.event_id.clone())),
            text(&|(e, _)| Some(e.txn.clone())),
            text(&|(_, c)| Some(c.method.as_str().to_owned())),
            text(&|(_, c)| Some(c.url.clone())),
            text(&|(_, c)| c.body.clone()),
            text(&|(_, c)| c.content_type.map(|t| t.as_str().to_owned())),
        ];
        let mut args: Vec<&(dyn ToSql + Sync)> =
            columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        args.push(&received);
        let stmt = tx
            .prepare_cached(
                "INSERT INTO postbacks (event_uid, postback, campaign_id, event_id, txn, method, url, body, content_type, next_at, created_at)
                 SELECT u.*, $10, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                                  $6::text[], $7::text[], $8::text[], $9::text[]) AS u
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(&stmt, &args).await?;
    }
    tx.commit().await?;
    Ok(results)
}

fn row_json(r: &Row) -> Value {
    event_json(r.get(0), r.get(1), r.get(2))
}

/// A source value as grouped (its first column).
fn text(r: &Row) -> Grouped {
    r.get::<_, Option<String>>(0)
        .map_or(Grouped::None, Grouped::Text)
}

fn found(r: &Row, key: Grouped) -> Found {
    (
        key,
        r.get(1),
        r.get(2),
        r.get::<_, i16>(3) != 0,
        (r.get::<_, i64>(4) as u64, r.get(5), r.get(6)),
    )
}
