//! Credentials: who may read stored lead data (names, emails, phones). The admin token reads
//! everything; an organization's API key (created by an admin, stored as a SHA-256 digest, shown
//! once, revocable) reads that organization's campaigns only. A dashboard sign-in turns either
//! into a session cookie (`HttpOnly`, `SameSite=Strict`), stored the same way as a digest.
//!
//! A refusal never says whether the campaign or transaction asked for exists: a key asking for
//! another organization's campaign and one asking for a campaign nobody has get the same 403.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::server::{too_many_failures, ClientAddr};
use crate::store::{now_ms, StoreError};
use crate::{error, App};

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "pt_session";
/// How long a dashboard session lasts.
pub const SESSION_SECONDS: i64 = 12 * 60 * 60;
/// What every API key starts with, so that a leaked one is recognisable (and greppable).
pub const KEY_PREFIX: &str = "ck_";

/// Who a request reads stored data as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The admin token: every organization.
    Admin,
    /// An organization's API key: that organization's campaigns.
    Org(String),
}

impl Reader {
    /// Whether this reader may read a campaign of organization `org` (`None`: no such campaign).
    pub fn may_read(&self, org: Option<&str>) -> bool {
        match self {
            Reader::Admin => true,
            Reader::Org(mine) => org == Some(mine.as_str()),
        }
    }
}

/// The hex SHA-256 of a secret: what is stored in its place.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh random secret of `bytes` bytes, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Task(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Compares in time that depends only on the lengths, so a wrong guess says nothing of how near it was.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An API key as listed (never with its secret).
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Its public ID (also inside the key itself).
    pub id: String,
    /// The organization it reads.
    pub org: String,
    /// What the admin called it.
    pub name: String,
    /// When it was created (ms).
    pub created_at: i64,
    /// When it was revoked (ms), if it was.
    pub revoked_at: Option<i64>,
}

/// Creates a key for `org`; returns it listed and the key itself (`ck_ID_SECRET`), which is
/// never stored and so can never be shown again.
pub fn create_key(
    conn: &Connection,
    org: &str,
    name: &str,
) -> Result<(ApiKey, String), StoreError> {
    let id = random_hex(6)?;
    let key = format!("{KEY_PREFIX}{id}_{}", random_hex(24)?);
    let created_at = now_ms();
    conn.execute(
        "INSERT INTO api_keys (id, org_id, name, digest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, org, name, digest(&key), created_at],
    )?;
    let listed = ApiKey {
        id,
        org: org.into(),
        name: name.into(),
        created_at,
        revoked_at: None,
    };
    Ok((listed, key))
}

/// The keys of `org`, revoked ones too (so an admin sees what was revoked when).
pub fn keys(conn: &Connection, org: &str) -> Result<Vec<ApiKey>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, org_id, name, created_at, revoked_at FROM api_keys WHERE org_id = ?1 ORDER BY created_at",
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
}

/// Revokes a key (and so every session signed in with it); false when there is no such key.
pub fn revoke_key(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
        params![id, now_ms()],
    )?;
    conn.execute("DELETE FROM sessions WHERE key_id = ?1", params![id])?;
    Ok(n == 1)
}

/// The IDs of the live (unrevoked) keys of `org`.
pub fn live_key_ids(conn: &Connection, org: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL ORDER BY created_at",
    )?;
    let rows = stmt.query_map(params![org], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes every live key of `org` (and so their sessions); how many there were.
pub fn revoke_org_keys(conn: &Connection, org: &str) -> Result<usize, StoreError> {
    let mut revoked = 0;
    for id in live_key_ids(conn, org)? {
        revoked += usize::from(revoke_key(conn, &id)?);
    }
    Ok(revoked)
}

/// The organization of a live key, given the key itself.
fn key_org(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    let Some(id) = key
        .strip_prefix(KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
    else {
        return Ok(None);
    };
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT org_id, digest FROM api_keys WHERE id = ?1 AND revoked_at IS NULL",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row
        .filter(|(_, d)| constant_time_eq(d.as_bytes(), digest(key).as_bytes()))
        .map(|(org, _)| org))
}

/// Who `secret` (the admin token or an API key) reads as, if anyone.
pub fn reader_of(
    conn: &Connection,
    admin_token: Option<&str>,
    secret: &str,
) -> Result<Option<Reader>, StoreError> {
    if admin_token.is_some_and(|t| constant_time_eq(t.as_bytes(), secret.as_bytes())) {
        return Ok(Some(Reader::Admin));
    }
    Ok(key_org(conn, secret)?.map(Reader::Org))
}

/// Starts a dashboard session for `reader`; returns the cookie's value.
pub fn start_session(
    conn: &Connection,
    admin_token: Option<&str>,
    secret: &str,
    reader: &Reader,
) -> Result<String, StoreError> {
    let token = random_hex(32)?;
    let now = now_ms();
    conn.execute("DELETE FROM sessions WHERE expires_at < ?1", params![now])?;
    let (admin, key) = match reader {
        // Tied to the token it was signed in with: a new admin token ends the old sessions.
        Reader::Admin => (admin_token.map(digest), None),
        Reader::Org(_) => (
            None,
            secret
                .strip_prefix(KEY_PREFIX)
                .and_then(|r| r.split_once('_'))
                .map(|(id, _)| id.to_owned()),
        ),
    };
    conn.execute(
        "INSERT INTO sessions (digest, admin_digest, key_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![digest(&token), admin, key, now + SESSION_SECONDS * 1000],
    )?;
    Ok(token)
}

/// Ends a session.
pub fn end_session(conn: &Connection, token: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM sessions WHERE digest = ?1",
        params![digest(token)],
    )?;
    Ok(())
}

/// Who a live session reads as.
fn session_reader(
    conn: &Connection,
    admin_token: Option<&str>,
    token: &str,
) -> Result<Option<Reader>, StoreError> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT admin_digest, key_id FROM sessions WHERE digest = ?1 AND expires_at > ?2",
            params![digest(token), now_ms()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        Some((Some(admin), _)) => admin_token
            .filter(|t| constant_time_eq(digest(t).as_bytes(), admin.as_bytes()))
            .map(|_| Reader::Admin),
        Some((None, Some(key))) => conn
            .query_row(
                "SELECT org_id FROM api_keys WHERE id = ?1 AND revoked_at IS NULL",
                params![key],
                |r| r.get(0),
            )
            .optional()?
            .map(Reader::Org),
        _ => None,
    })
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The session cookie of a request, if it has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// Who the request reads as: its bearer token (admin token or API key), else its session cookie.
pub async fn reader(app: &App, headers: &HeaderMap) -> Result<Option<Reader>, StoreError> {
    let bearer = bearer(headers).map(str::to_owned);
    let cookie = session_cookie(headers);
    if bearer.is_none() && cookie.is_none() {
        return Ok(None);
    }
    let admin = app.admin_token.clone();
    app.store
        .read(move |conn| match (bearer, cookie) {
            (Some(secret), _) => reader_of(conn, admin.as_deref(), &secret),
            (None, Some(token)) => session_reader(conn, admin.as_deref(), &token),
            (None, None) => Ok(None),
        })
        .await
}

/// The 401 of a request without a (valid) credential.
pub fn unauthorized() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "a credential is required: the admin token or an API key, as Authorization: Bearer …",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// The 403 of a credential that may not read what it asked for (which may or may not exist).
pub fn forbidden(what: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        format!("this credential may not read {what}"),
    )
}

impl FromRequestParts<App> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        // A session cookie rides along with any request the browser makes, whoever's page
        // made it; it reads, and only the bearer credential of a system may report or change.
        if !parts.method.is_safe() && bearer(&parts.headers).is_none() {
            return Err(unauthorized());
        }
        let client = refuse_guesser(parts, app).await?;
        match reader(app, &parts.headers).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => {
                if bearer(&parts.headers).is_some() {
                    app.rates.credential_failed(client);
                }
                Err(unauthorized())
            }
            Err(e) => Err(crate::unavailable(&e)),
        }
    }
}

/// The client of a request with a bearer credential (to count it if it is wrong). A client that
/// has presented too many wrong ones lately gets the 429, before its credential is checked, so
/// that keys cannot be guessed. A request without a bearer credential (a session cookie, or
/// nothing) is not counted: it guesses nothing.
async fn refuse_guesser(
    parts: &mut Parts,
    app: &App,
) -> Result<Option<std::net::IpAddr>, Response> {
    if bearer(&parts.headers).is_none() {
        return Ok(None);
    }
    let Ok(ClientAddr(client)) = ClientAddr::from_request_parts(parts, app).await;
    match app.rates.credential_wait(client) {
        Some(wait) => Err(too_many_failures(wait)),
        None => Ok(client),
    }
}

/// A request carrying the admin token. As an extractor it runs before any body is read, so an
/// unauthenticated request never has its body read.
pub struct Admin;

impl FromRequestParts<App> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Some(token) = &app.admin_token else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "the admin API is off (start the collector with --admin-token)",
            ));
        };
        let client = refuse_guesser(parts, app).await?;
        match bearer(&parts.headers) {
            Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(Admin),
            given => {
                if given.is_some() {
                    app.rates.credential_failed(client);
                }
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong admin token",
                ))
            }
        }
    }
}
