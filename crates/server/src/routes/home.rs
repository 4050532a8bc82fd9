//! `GET /`: "Welcome Guest", or the logged-in user's profile and claims.

use crate::{AppState, WebError, session, templates};
use axum::extract::State;
use axum::response::Html;
use tower_sessions::Session;

/// Renders the home page. A login older than the absolute timeout is ended here, however
/// active it has been: stolen cookies must not live forever.
pub(crate) async fn home(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, WebError> {
    let mut user = session::user(&session).await?;
    if let Some(current) = &user {
        let age = chrono::Utc::now().timestamp() - current.authenticated_at;
        if age < 0 || age as u64 >= state.absolute_timeout.as_secs() {
            tracing::info!("session reached its absolute timeout; logging out");
            session::end(&session).await?;
            user = None;
        }
    }
    Ok(Html(templates::home(user.as_ref())?))
}
