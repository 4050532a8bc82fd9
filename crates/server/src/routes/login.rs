//! `GET /login[?returnTo=/path]`: starts a login at the provider.

use crate::{AppState, WebError, session};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;

/// `/login`'s query.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    /// Where to land after login; only a local path is honoured.
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// Saves a pending login in the session and redirects to the provider.
pub(crate) async fn login(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, WebError> {
    // A garbled query only loses the returnTo: logging in must still work.
    let return_to = query.ok().and_then(|Query(query)| query.return_to);
    let (authorize_url, pending) = state.relying_party.begin_login(return_to.as_deref());
    session::add_pending_login(&session, pending).await?;
    Ok(super::found(authorize_url.as_str()))
}
