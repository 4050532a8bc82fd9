//! What Sesame keeps in a session, with typed access.
//!
//! Two keys: `pending_logins` (the logins this browser started and has not finished) and `user`
//! (who is logged in). The cookie carries only the signed session ID; all of this stays
//! server-side.

use crate::WebError;
use sesame_auth::{AuthenticatedUser, PendingLogin};
use tower_sessions::Session;

const USER: &str = "user";
const PENDING_LOGINS: &str = "pending_logins";

/// Logins started in other tabs stay valid, up to this many; the oldest goes first. Bounded so
/// a script hammering /login cannot grow one session without limit.
const MAX_PENDING_LOGINS: usize = 4;

/// The logged-in user, if any.
pub(crate) async fn user(session: &Session) -> Result<Option<AuthenticatedUser>, WebError> {
    Ok(session.get::<AuthenticatedUser>(USER).await?)
}

/// Remembers a new pending login next to the other tabs' ones.
pub(crate) async fn add_pending_login(
    session: &Session,
    pending: PendingLogin,
) -> Result<(), WebError> {
    let mut pending_logins = pending_logins(session).await?;
    pending_logins.push(pending);
    if pending_logins.len() > MAX_PENDING_LOGINS {
        let excess = pending_logins.len() - MAX_PENDING_LOGINS;
        pending_logins.drain(..excess);
    }
    session.insert(PENDING_LOGINS, pending_logins).await?;
    Ok(())
}

/// Removes and returns the pending login whose state is `state`: each is good for one callback,
/// so a replayed callback URL finds nothing.
pub(crate) async fn take_pending_login(
    session: &Session,
    state: Option<&str>,
) -> Result<Option<PendingLogin>, WebError> {
    let Some(state) = state else {
        return Ok(None);
    };
    let mut pending_logins = pending_logins(session).await?;
    let Some(position) = pending_logins.iter().position(|p| p.matches_state(state)) else {
        return Ok(None);
    };
    let pending = pending_logins.remove(position);
    if pending_logins.is_empty() {
        session.remove_value(PENDING_LOGINS).await?;
    } else {
        session.insert(PENDING_LOGINS, pending_logins).await?;
    }
    Ok(Some(pending))
}

/// Logs the user in: a new session ID (so an ID planted or seen before login is worthless),
/// no leftover pending logins, the user stored.
pub(crate) async fn log_in(session: &Session, user: &AuthenticatedUser) -> Result<(), WebError> {
    session.cycle_id().await?;
    session.remove_value(PENDING_LOGINS).await?;
    session.insert(USER, user).await?;
    Ok(())
}

/// Ends the session: deleted from the store, so a copy of the cookie is worth nothing.
pub(crate) async fn end(session: &Session) -> Result<(), WebError> {
    session.flush().await?;
    Ok(())
}

/// After a failed callback: if nothing else is left in the session, delete it, so a refused
/// login leaves no session behind at all.
pub(crate) async fn discard_if_unused(session: &Session) -> Result<(), WebError> {
    if user(session).await?.is_none() && pending_logins(session).await?.is_empty() {
        end(session).await?;
    }
    Ok(())
}

async fn pending_logins(session: &Session) -> Result<Vec<PendingLogin>, WebError> {
    Ok(session
        .get::<Vec<PendingLogin>>(PENDING_LOGINS)
        .await?
        .unwrap_or_default())
}
