//! `GET /`: "Welcome Guest", or the logged-in user's profile and claims.

use crate::{AppState, WebError, session, templates};
use axum::extract::State;
use axum::response::Html;
use tower_sessions::Session;

/// Renders the home page for whoever the session says is here.
pub(crate) async fn home(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, WebError> {
    let user = session::current_user(&session, &state.session_policy).await?;
    Ok(Html(templates::home(user.as_ref())?))
}
