//! Every error answer of the collector is JSON (`{"error": "…"}`), axum's own refusals too: a
//! query string or a URL's path that does not read, a route under `/v1/` or `/admin/` that does
//! not exist, a method a route does not take. (Any other path is the static files', and so is
//! its 404.)

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use serde::de::DeserializeOwned;

use crate::error;

/// A query string read as a `T`, as axum's `Query` reads it; one that does not read is a JSON
/// 400 naming the parameter: `query: after: invalid digit found in string`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(t)) => Ok(Query(t)),
            Err(rejection) => {
                // The reason, without axum's "Failed to deserialize query string".
                let why = std::error::Error::source(&rejection)
                    .map_or_else(|| rejection.body_text(), ToString::to_string);
                Err(error(rejection.status(), format!("query: {why}")))
            }
        }
    }
}

/// A URL's path parameters read as a `T`, as axum's `Path` reads them; ones that do not read
/// (`%FF`, not UTF-8) are a JSON 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Path(t)),
            Err(rejection) => Err(error(
                rejection.status(),
                format!("path: {}", rejection.body_text()),
            )),
        }
    }
}

/// The routes under `/v1/` and `/admin/` that no other route takes: a JSON 404.
pub fn unknown_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    [
        "/v1",
        "/v1/",
        "/v1/{*rest}",
        "/admin",
        "/admin/",
        "/admin/{*rest}",
    ]
    .into_iter()
    .fold(Router::new(), |r, path| r.route(path, any(unknown_route)))
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

/// A method a route does not take: a JSON 405 (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}
