//! The one web error type: picks the status, renders the error page, logs the cause.

use crate::templates;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use sesame_auth::AuthError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The provider or the callback failed a check; no session was created.
    #[error("login refused: {0}")]
    Login(#[from] AuthError),
    /// `/callback` without a pending login for its `state`: a bookmark, a replay, or a login
    /// started in a browser session that has since ended.
    #[error("callback with no matching pending login")]
    NoPendingLogin,
    /// The query string could not be read.
    #[error("malformed query string: {0}")]
    BadQuery(String),
    /// The session store failed or timed out.
    #[error("session store failure: {0}")]
    SessionStore(#[from] tower_sessions::session::Error),
    /// The session layer could not save the session after the handler ran (it logged why).
    #[error("the session could not be saved")]
    SessionNotSaved,
    /// No such page.
    #[error("not found")]
    NotFound,
    /// A bug: a template failed to render.
    #[error("template failed: {0}")]
    Template(#[from] minijinja::Error),
}

impl WebError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Login(AuthError::ProviderRefused { error, .. })
                if error == "access_denied" =>
            {
                StatusCode::FORBIDDEN
            }
            WebError::Login(
                AuthError::StateMismatch | AuthError::MissingCode | AuthError::LoginExpired,
            )
            | WebError::NoPendingLogin
            | WebError::BadQuery(_) => StatusCode::BAD_REQUEST,
            WebError::Login(_) => StatusCode::UNAUTHORIZED,
            WebError::SessionStore(_) | WebError::SessionNotSaved => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A title and a sentence for the person in front of the browser, plus untrusted detail
    /// (the provider's own words) that the template escapes.
    fn for_people(&self) -> (&'static str, &'static str, Option<&str>) {
        match self {
            WebError::Login(AuthError::ProviderRefused { description, .. }) => (
                "Login was not completed",
                "The identity provider did not log you in (you may have cancelled, or it refused). \
                 You can try again.",
                description.as_deref(),
            ),
            WebError::Login(AuthError::LoginExpired) => (
                "Login took too long",
                "This login was started too long ago. Please log in again.",
                None,
            ),
            WebError::Login(AuthError::StateMismatch | AuthError::MissingCode)
            | WebError::NoPendingLogin => (
                "This login link is not valid",
                "This sign-in response does not belong to a login started in this browser, or \
                 it was already used. Please log in again.",
                None,
            ),
            WebError::BadQuery(_) => (
                "This link is malformed",
                "The address has parameters Sesame cannot read. Please log in again.",
                None,
            ),
            WebError::Login(
                AuthError::TokenExchange(_)
                | AuthError::MalformedTokenResponse(_)
                | AuthError::MissingIdToken
                | AuthError::UserInfo(_)
                | AuthError::Discovery { .. }
                | AuthError::Jwks { .. },
            ) => (
                "The identity provider did not answer properly",
                "Sesame could not complete your login with the identity provider, so you were \
                 not logged in. Please try again in a moment.",
                None,
            ),
            WebError::Login(_) => (
                "Login failed a security check",
                "The identity provider's answer did not pass Sesame's security checks, so you \
                 were not logged in. Please try again; if it keeps happening, tell the site's \
                 administrators.",
                None,
            ),
            WebError::SessionStore(_) | WebError::SessionNotSaved => (
                "Service temporarily unavailable",
                "The session store is unavailable, so Sesame cannot tell who you are right now. \
                 Please try again in a moment.",
                None,
            ),
            WebError::NotFound => ("Page not found", "There is nothing at this address.", None),
            WebError::Template(_) => (
                "Something went wrong",
                "Sesame hit an internal error. It has been logged.",
                None,
            ),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Refusals are expected traffic (warn); store outages and bugs need a human (error).
        // Messages name the reason, never a token: AuthError guarantees that.
        match &self {
            WebError::Login(err) => tracing::warn!(reason = %err, "login refused"),
            WebError::NoPendingLogin | WebError::BadQuery(_) => {
                tracing::warn!(reason = %self, "login refused")
            }
            WebError::SessionStore(_) | WebError::Template(_) => tracing::error!(error = %self),
            // tower-sessions logged the store's error already.
            WebError::SessionNotSaved => {}
            WebError::NotFound => {}
        }
        let (title, message, detail) = self.for_people();
        let page =
            templates::error(status.as_u16(), title, message, detail).unwrap_or_else(|err| {
                tracing::error!(%err, "the error page itself failed to render");
                format!("<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>")
            });
        (status, Html(page)).into_response()
    }
}
