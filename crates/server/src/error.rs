//! This app's error pages: Sesame's [`LoginError`]s and its own [`PageError`]s, rendered with
//! the `error.html` template.

use crate::templates;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use sesame_axum::LoginError;

/// What the app's own pages can fail with (the login's failures are [`LoginError`]s).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page.
    #[error("not found")]
    NotFound,
    /// A bug: a template failed to render.
    #[error("template failed: {0}")]
    Template(#[from] minijinja::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match &self {
            PageError::NotFound => page(
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address.",
                None,
            ),
            PageError::Template(_) => {
                tracing::error!(error = %self);
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Sesame hit an internal error. It has been logged.",
                    None,
                )
            }
        }
    }
}

/// Sesame's failures in this app's look (the library logged the cause already).
pub(crate) fn login_error_page(error: &LoginError) -> Response {
    page(
        error.status(),
        error.title(),
        error.message(),
        error.provider_detail(),
    )
}

/// The logout confirmation in this app's look.
pub(crate) fn logout_page(confirmation: &sesame_axum::LogoutConfirmation) -> Response {
    match templates::logout(&confirmation.action, &confirmation.csrf_token) {
        Ok(page) => Html(page).into_response(),
        Err(err) => PageError::Template(err).into_response(),
    }
}

fn page(status: StatusCode, title: &str, message: &str, detail: Option<&str>) -> Response {
    let page = templates::error(status.as_u16(), title, message, detail).unwrap_or_else(|err| {
        tracing::error!(%err, "the error page itself failed to render");
        format!("<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>")
    });
    (status, Html(page)).into_response()
}
