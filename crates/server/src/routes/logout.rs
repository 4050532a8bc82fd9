//! `GET /logout`: ends the session here, then at the provider.

use crate::{AppState, WebError, session};
use axum::extract::State;
use axum::response::Response;
use tower_sessions::Session;

/// Deletes the session from the store (an old cookie replayed afterwards finds nothing),
/// clears the cookie, and sends the browser to the provider's logout, which returns it home.
pub(crate) async fn logout(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    let user = session::user(&session).await?;
    session::end(&session).await?;
    let id_token_hint = user.as_ref().map(|user| user.id_token.expose());
    match state.relying_party.logout_url(id_token_hint) {
        Some(url) => Ok(super::found(url.as_str())),
        None => Ok(super::found("/")),
    }
}
