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
use sha2::{Digest, Sha256};

use crate::server::{too_many_failures, ClientAddr};
use crate::store::{now_ms, SessionRow, Store, StoreError};
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
pub async fn create_key(
    store: &Store,
    org: &str,
    name: &str,
) -> Result<(ApiKey, String), StoreError> {
    let id = random_hex(6)?;
    let key = format!("{KEY_PREFIX}{id}_{}", random_hex(24)?);
    let listed = ApiKey {
        id,
        org: org.into(),
        name: name.into(),
        created_at: now_ms(),
        revoked_at: None,
    };
    store.insert_key(&listed, digest(&key)).await?;
    Ok((listed, key))
}

/// Revokes every live key of `org` (and so their sessions); how many there were.
pub async fn revoke_org_keys(store: &Store, org: &str) -> Result<usize, StoreError> {
    let mut revoked = 0;
    for id in store.live_key_ids(org).await? {
        revoked += usize::from(store.revoke_key(&id, now_ms()).await?);
    }
    Ok(revoked)
}

/// The ID inside a key (`ck_ID_SECRET`).
fn key_id(key: &str) -> Option<&str> {
    key.strip_prefix(KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
}

/// The organization of a live key, given the key itself.
async fn key_org(store: &Store, key: &str) -> Result<Option<String>, StoreError> {
    let Some(id) = key_id(key) else {
        return Ok(None);
    };
    Ok(store
        .live_key(id)
        .await?
        .filter(|(_, d)| constant_time_eq(d.as_bytes(), digest(key).as_bytes()))
        .map(|(org, _)| org))
}

/// Who `secret` (the admin token or an API key) reads as, if anyone.
pub async fn reader_of(
    store: &Store,
    admin_token: Option<&str>,
    secret: &str,
) -> Result<Option<Reader>, StoreError> {
    if admin_token.is_some_and(|t| constant_time_eq(t.as_bytes(), secret.as_bytes())) {
        return Ok(Some(Reader::Admin));
    }
    Ok(key_org(store, secret).await?.map(Reader::Org))
}

/// Starts a dashboard session for `reader`; returns the cookie's value.
pub async fn start_session(
    store: &Store,
    admin_token: Option<&str>,
    secret: &str,
    reader: &Reader,
) -> Result<String, StoreError> {
    let token = random_hex(32)?;
    let (admin, key) = match reader {
        // Tied to the token it was signed in with: a new admin token ends the old sessions.
        Reader::Admin => (admin_token.map(digest), None),
        Reader::Org(_) => (None, key_id(secret).map(str::to_owned)),
    };
    store
        .insert_session(
            digest(&token),
            admin,
            key,
            now_ms() + SESSION_SECONDS * 1000,
        )
        .await?;
    Ok(token)
}

/// Ends a session.
pub async fn end_session(store: &Store, token: &str) -> Result<(), StoreError> {
    store.delete_session(digest(token)).await
}

/// Who a live session reads as.
async fn session_reader(
    store: &Store,
    admin_token: Option<&str>,
    token: &str,
) -> Result<Option<Reader>, StoreError> {
    Ok(match store.session(digest(token)).await? {
        Some(SessionRow {
            admin_digest: Some(admin),
            ..
        }) => admin_token
            .filter(|t| constant_time_eq(digest(t).as_bytes(), admin.as_bytes()))
            .map(|_| Reader::Admin),
        Some(SessionRow {
            key_org: Some(org), ..
        }) => Some(Reader::Org(org)),
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
    let admin = app.admin_token.as_deref();
    match (bearer, cookie) {
        (Some(secret), _) => reader_of(&app.store, admin, &secret).await,
        (None, Some(token)) => session_reader(&app.store, admin, &token).await,
        (None, None) => Ok(None),
    }
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
