//! The dashboard and its sign-in: the admin token or an organization's API key typed into a
//! form becomes a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS), with
//! which the dashboard's page reads the same credentialed API as everyone else.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, SameSite};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::auth::{self, Reader, SESSION_COOKIE, SESSION_SECONDS};
use crate::server::ClientAddr;
use crate::App;

/// The dashboard's routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/dashboard/sign-in", get(sign_in_page).post(sign_in))
        .route("/dashboard/sign-out", post(sign_out))
}

/// Where to go after signing in: a dashboard path of this collector, never another site.
#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

impl Next {
    fn path(&self) -> &str {
        match self.next.as_deref() {
            Some(n)
                if (n == "/dashboard" || n.starts_with("/dashboard?"))
                    && !n.contains(['\\', '\r', '\n']) =>
            {
                n
            }
            _ => "/dashboard",
        }
    }
}

/// A page of `www/`, never cached (it is only shown to a signed-in person, or is the sign-in).
async fn page(
    app: &App,
    name: &str,
    status: StatusCode,
    transform: impl FnOnce(String) -> String,
) -> Response {
    match tokio::fs::read_to_string(app.www.join(name)).await {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            transform(html),
        )
            .into_response(),
        Err(e) => crate::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read {name}: {e}"),
        ),
    }
}

async fn dashboard(State(app): State<App>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let signed_in = match auth::session_cookie(&headers) {
        Some(_) => auth::reader(&app, &headers).await.ok().flatten().is_some(),
        None => false,
    };
    if !signed_in {
        let next = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/dashboard");
        let to = format!(
            "/dashboard/sign-in?next={}",
            utf8_percent_encode(next, NON_ALPHANUMERIC)
        );
        return Redirect::to(&to).into_response();
    }
    page(&app, "dashboard.html", StatusCode::OK, |h| h).await
}

async fn sign_in_page(State(app): State<App>) -> Response {
    page(&app, "sign-in.html", StatusCode::OK, |h| h).await
}

#[derive(Deserialize)]
struct SignIn {
    credential: String,
}

/// Whether the dashboard is reached over HTTPS (directly, or behind a proxy that says so).
fn over_https(app: &App, headers: &HeaderMap) -> bool {
    app.public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Whether another site's page may have made this request: a sign-in form posted from
/// elsewhere would sign the visitor into the sender's organization (login CSRF). Browsers say
/// where a request comes from in `Sec-Fetch-Site` (only the collector's own page, or the
/// address bar, may sign in); one that does not, in `Origin` when it sends it, which must then
/// name the collector: its `Host`, its `--public-url` or an `--allowed-host` (a proxy may
/// rewrite `Host`).
fn cross_site(app: &App, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some((_, authority)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let public = app
        .public_url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
    let ours = host
        .into_iter()
        .chain(public)
        .chain(app.allowed_hosts.iter().map(String::as_str));
    !ours.into_iter().any(|a| a.eq_ignore_ascii_case(authority))
}

async fn sign_in(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(next): Query<Next>,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    let refuse = |status, why: &'static str| {
        let app = app.clone();
        async move {
            page(&app, "sign-in.html", status, |h| {
                h.replace(
                    "<p id=\"error\" hidden></p>",
                    &format!("<p id=\"error\">{why}</p>"),
                )
            })
            .await
        }
    };
    let Ok(Form(form)) = form else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Type the admin token or an API key.",
        )
        .await;
    };
    if cross_site(&app, &headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Sign in from the collector's own sign-in page.",
        )
        .await;
    }
    if let Some(wait) = app.rates.credential_wait(client) {
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong sign-ins from this address: wait a minute and try again.",
        )
        .await;
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::server::retry_seconds(wait)),
        );
        return r;
    }
    let secret = form.credential.trim().to_owned();
    let admin = app.admin_token.clone();
    // The credential is checked on a read connection, so that guesses never wait on (or hold)
    // the writer; only a good one writes its session.
    let checked = auth::reader_of(&app.store, admin.as_deref(), &secret).await;
    if matches!(checked, Ok(None)) {
        app.rates.credential_failed(client);
    }
    let started = match checked {
        Ok(Some(reader)) => auth::start_session(&app.store, admin.as_deref(), &secret, &reader)
            .await
            .map(Some),
        other => other.map(|_| None),
    };
    let token = match started {
        Ok(Some(t)) => t,
        Ok(None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "That is neither the admin token nor a live API key.",
            )
            .await
        }
        Err(e) => return crate::unavailable(&e),
    };
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_https(&app, &headers))
        .max_age(time::Duration::seconds(SESSION_SECONDS))
        .build();
    let mut r = Redirect::to(next.path()).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn sign_out(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(token) = auth::session_cookie(&headers) {
        if let Err(e) = auth::end_session(&app.store, &token).await {
            return crate::unavailable(&e);
        }
    }
    let gone = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::ZERO)
        .build();
    let mut r = Redirect::to("/dashboard/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&gone.to_string()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Who is signed in, for the page to show.
pub fn describe(reader: &Reader) -> String {
    match reader {
        Reader::Admin => "admin".into(),
        Reader::Org(o) => format!("organization {o}"),
    }
}
