//! What Sesame keeps in a session, with typed access.
//!
//! Three keys: `user` (who is logged in), `touched_at` (when the idle expiry was last extended)
//! and `access_token_expires_at` (a display hint; the tokens are kept beside the record).
//! The cookie carries only the signed session ID; all of this stays server-side. A host app may
//! keep its own keys in the same session. Logins in progress are not here: they live in
//! cookies of their own (see [`crate::pending`]), so a stranger never makes a session.

use crate::SessionPolicy;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sesame_auth::AuthenticatedUser;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};
use tower_sessions::session::Error;
use tower_sessions::{Expiry, Session};

const USER: &str = "user";
/// Unix seconds of the last write that extended the session's idle expiry.
const TOUCHED_AT: &str = "touched_at";
/// When the access token expires (unix seconds), for display: the tokens themselves are kept
/// beside the record (see [`crate::tokens`]), this is only a hint that costs no extra read.
const ACCESS_TOKEN_EXPIRES_AT: &str = "access_token_expires_at";

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

/// The logged-in user after the session's lifetime rules: a login past the absolute timeout is
/// ended here, and the idle expiry is extended when it is due.
pub(crate) async fn current_user(
    session: &Session,
    policy: &SessionPolicy,
) -> Result<Option<StoredUser>, Error> {
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
) -> Result<(), Error> {
    let idle_end = now.saturating_add(policy.idle_timeout.as_secs() as i64);
    if idle_end > absolute_end
        && let Ok(cap) = time::OffsetDateTime::from_unix_timestamp(absolute_end)
    {
        session.set_expiry(Some(Expiry::AtDateTime(cap)));
    }
    session.insert(TOUCHED_AT, now).await
}

/// The logged-in user, if any, as stored (no lifetime rules applied).
pub(crate) async fn user(session: &Session) -> Result<Option<StoredUser>, Error> {
    match session.get::<String>(USER).await? {
        Some(packed) => StoredUser::read(packed).map(Some),
        None => Ok(None),
    }
}

/// A login's user as the session stores it, decoded only when something asks for more than when
/// the login happened.
///
/// A login's user is written once and never changes, and most page views need only its login
/// time (for the absolute timeout) and something to key a cached page by. Decoding the claims
/// into a tree was the largest part of reading a session; keeping decoded users cost about
/// 1.5 KB each. So the first read of a stored text decodes it, checking it whole, and notes its
/// SHA-256 with the login time ([`KNOWN_LOGINS`], 40 bytes); later reads of the same text take
/// the login time from there and decode only if asked for the claims.
pub(crate) struct StoredUser {
    packed: String,
    fingerprint: [u8; 32],
    authenticated_at: i64,
    decoded: OnceLock<AuthenticatedUser>,
}

/// Login times of the stored users decoded lately, by the SHA-256 of their packed text. The
/// digest stands for the text: a hit is a text that decoded whole before, to this login time.
static KNOWN_LOGINS: LazyLock<Mutex<HashMap<[u8; 32], i64>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Logins noted at most (about 50 bytes each, so under 1 MB); when full, one makes room.
const KNOWN_LOGINS_KEPT: usize = 16_384;

impl StoredUser {
    fn read(packed: String) -> Result<Self, Error> {
        let lock = || {
            // A poisoned lock means a panic mid-insert; the map is still a map.
            KNOWN_LOGINS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        let fingerprint: [u8; 32] = Sha256::digest(packed.as_bytes()).into();
        let known = lock().get(&fingerprint).copied();
        let decoded = OnceLock::new();
        let authenticated_at = match known {
            Some(authenticated_at) => authenticated_at,
            None => {
                let user: AuthenticatedUser = serde_json::from_str(&packed)?;
                let authenticated_at = user.authenticated_at;
                let _ = decoded.set(user);
                let mut known = lock();
                if known.len() >= KNOWN_LOGINS_KEPT
                    && let Some(evicted) = known.keys().next().copied()
                {
                    known.remove(&evicted);
                }
                known.insert(fingerprint, authenticated_at);
                authenticated_at
            }
        };
        Ok(Self {
            packed,
            fingerprint,
            authenticated_at,
            decoded,
        })
    }

    /// The user, decoded on first use.
    pub(crate) fn user(&self) -> &AuthenticatedUser {
        self.decoded.get_or_init(|| {
            serde_json::from_str(&self.packed).unwrap_or_else(|err| {
                // Not expected: this very text decoded when its digest was noted. Should it
                // happen, the login stands and shows no claims rather than failing the page.
                tracing::error!(%err, "a stored user that decoded before does not now");
                AuthenticatedUser {
                    claims: serde_json::Map::new(),
                    provider_session: None,
                    authenticated_at: self.authenticated_at,
                }
            })
        })
    }

    /// The SHA-256 of the stored user: the same for every request of one login, another for
    /// another login or other claims.
    pub(crate) fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// When the user logged in (unix seconds).
    pub(crate) fn authenticated_at(&self) -> i64 {
        self.authenticated_at
    }
}

/// The user in a session record read straight from the store (not through a request's
/// session), if it has one.
pub(crate) fn user_of_record(
    record: &tower_sessions::session::Record,
) -> Option<AuthenticatedUser> {
    let value = record.data.get(USER)?;
    serde_json::from_value::<Packed<AuthenticatedUser>>(value.clone())
        .ok()
        .map(|Packed(user)| user)
}

/// Logs the user in: a new session ID (so an ID planted or seen before login is worthless),
/// the user stored, with the access token's expiry noted.
pub(crate) async fn log_in(
    session: &Session,
    user: &AuthenticatedUser,
    access_token_expires_at: Option<i64>,
) -> Result<(), Error> {
    session.cycle_id().await?;
    session.insert(USER, Packed(user)).await?;
    note_access_token_expiry(session, access_token_expires_at).await?;
    session.insert(TOUCHED_AT, user.authenticated_at).await
}

/// The access token's expiry as last noted.
pub(crate) async fn access_token_expiry(session: &Session) -> Option<i64> {
    session
        .get::<i64>(ACCESS_TOKEN_EXPIRES_AT)
        .await
        .ok()
        .flatten()
}

/// Notes the access token's expiry (or that it has none).
pub(crate) async fn note_access_token_expiry(
    session: &Session,
    expires_at: Option<i64>,
) -> Result<(), Error> {
    match expires_at {
        Some(at) => session.insert(ACCESS_TOKEN_EXPIRES_AT, at).await,
        None => session
            .remove_value(ACCESS_TOKEN_EXPIRES_AT)
            .await
            .map(|_| ()),
    }
}

/// Ends the session: deleted from the store, so a copy of the cookie is worth nothing.
pub(crate) async fn end(session: &Session) -> Result<(), Error> {
    session.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(packed: &str) -> Result<StoredUser, Error> {
        StoredUser::read(packed.to_owned())
    }

    #[test]
    fn a_stored_user_is_checked_once_decoded_when_asked_and_a_damaged_one_is_an_error() {
        let packed = r#"{"claims":{"sub":"decode|once","name":"Alice"},"authenticated_at":7}"#;
        let first = read(packed).unwrap();
        assert!(
            first.decoded.get().is_some(),
            "the first read decodes, checking it"
        );
        assert_eq!(first.user().name(), "Alice");
        let again = read(packed).unwrap();
        assert!(
            again.decoded.get().is_none(),
            "a known text is not decoded again"
        );
        assert_eq!(again.authenticated_at(), 7);
        assert_eq!(again.fingerprint(), first.fingerprint());
        assert_eq!(again.user().name(), "Alice");
        let renamed = read(&packed.replace("Alice", "Alicia")).unwrap();
        assert_ne!(renamed.fingerprint(), first.fingerprint());
        assert_eq!(renamed.user().name(), "Alicia");
        assert!(read(r#"{"claims":"#).is_err());
        assert!(read(r#"{"claims":{},"authenticated_at":"soon"}"#).is_err());
    }
}
