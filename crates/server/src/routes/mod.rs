//! One module per route, as DESIGN.md lists them.

pub(crate) mod callback;
pub(crate) mod health;
pub(crate) mod home;
pub(crate) mod login;
pub(crate) mod logout;

use crate::WebError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A 302 Found, as the quickstart (and every OIDC example) uses. axum's `Redirect` offers only
/// 303/307/308; 302 is what providers and people expect to see here.
pub(crate) fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        // Locations are URLs we built or sanitised paths; refusing beats a panic anyway.
        Err(_) => (
            StatusCode::FOUND,
            [(header::LOCATION, HeaderValue::from_static("/"))],
        )
            .into_response(),
    }
}

/// Anything else: the error page with a 404.
pub(crate) async fn not_found() -> WebError {
    WebError::NotFound
}
