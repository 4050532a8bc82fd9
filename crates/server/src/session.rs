//! What Sesame keeps in a session, with typed access.
//!
//! Two keys: `pending_logins` (the logins this browser started and has not finished) and `user`
//! (who is logged in). The cookie carries only the signed session ID; all of this stays
//! server-side.

use crate::WebError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sesame_auth::{AuthenticatedUser, PendingLogin};
use std::time::Duration;
use tower_sessions::{Expiry, Session};

const USER: &str = "user";
const PENDING_LOGINS: &str = "pending_logins";
/// Unix seconds of the last write that extended the session's idle expiry.
const TOUCHED_AT: &str = "touched_at";

/// A value kept in the session record as one JSON string rather than a tree of JSON values.
///
/// tower-sessions holds each entry as a `serde_json::Value` and clones it on every read; a
/// user's claims as a tree are dozens of small allocations, as one string a single copy. This
/// makes page views cheaper and sessions about half the size in every store.
struct Packed<T>(T);

impl<T: Serialize> Serialize for Packed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Packed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text)
            .map(Packed)
            .map_err(serde::de::Error::custom)
    }
}

/// Logins started in other tabs stay valid, up to this many; the oldest goes first. Bounded so
/// a script hammering /login cannot grow one session without limit.
const MAX_PENDING_LOGINS: usize = 4;

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends (rolling).
    pub idle_timeout: Duration,
    /// A login ends this long after it happened, however active.
    pub absolute_timeout: Duration,
}

impl SessionPolicy {
    /// Page views extend the idle expiry by rewriting the session, but only once this much of
    /// the idle window has passed: otherwise every page view would be a store write. The
    /// effective idle timeout is thus between 3/4 and all of `idle_timeout`.
    fn touch_interval(&self) -> i64 {
        (self.idle_timeout.as_secs() / 4).max(1) as i64
    }
}

/// The logged-in user after the session's lifetime rules: a login past the absolute timeout is
/// ended here, and the idle expiry is extended when it is due.
pub(crate) async fn current_user(
    session: &Session,
    policy: &SessionPolicy,
) -> Result<Option<AuthenticatedUser>, WebError> {
    let Some(user) = user(session).await? else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp();
    let absolute_end = user
        .authenticated_at
        .saturating_add(policy.absolute_timeout.as_secs() as i64);
    if now >= absolute_end {
        tracing::info!("session reached its absolute timeout; logging out");
        end(session).await?;
        return Ok(None);
    }
    let touched_at = session.get::<i64>(TOUCHED_AT).await?.unwrap_or(0);
    if now - touched_at >= policy.touch_interval() {
        touch(session, policy, now, absolute_end).await?;
    }
    Ok(Some(user))
}

/// Marks the session changed so the session layer saves it with a fresh idle expiry, capped at
/// the absolute end so the store drops it then even if no request ever comes.
async fn touch(
    session: &Session,
    policy: &SessionPolicy,
    now: i64,
    absolute_end: i64,
) -> Result<(), WebError> {
    let idle_end = now.saturating_add(policy.idle_timeout.as_secs() as i64);
    if idle_end > absolute_end
        && let Ok(cap) = time::OffsetDateTime::from_unix_timestamp(absolute_end)
    {
        session.set_expiry(Some(Expiry::AtDateTime(cap)));
    }
    session.insert(TOUCHED_AT, now).await?;
    Ok(())
}

/// The logged-in user, if any, as stored (no lifetime rules applied).
pub(crate) async fn user(session: &Session) -> Result<Option<AuthenticatedUser>, WebError> {
    Ok(session
        .get::<Packed<AuthenticatedUser>>(USER)
        .await?
        .map(|Packed(user)| user))
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
    session
        .insert(PENDING_LOGINS, Packed(pending_logins))
        .await?;
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
        session
            .insert(PENDING_LOGINS, Packed(pending_logins))
            .await?;
    }
    Ok(Some(pending))
}

/// Logs the user in: a new session ID (so an ID planted or seen before login is worthless),
/// no leftover pending logins, the user stored.
pub(crate) async fn log_in(session: &Session, user: &AuthenticatedUser) -> Result<(), WebError> {
    session.cycle_id().await?;
    session.remove_value(PENDING_LOGINS).await?;
    session.insert(USER, Packed(user)).await?;
    session.insert(TOUCHED_AT, user.authenticated_at).await?;
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
        .get::<Packed<Vec<PendingLogin>>>(PENDING_LOGINS)
        .await?
        .map(|Packed(pending)| pending)
        .unwrap_or_default())
}
