//! Sessions found by who they belong to: each login is filed in the store's index under its
//! user (`sub`) and its provider session (`sid`), hashed, so a back-channel logout or the host
//! app can end exactly those sessions on every instance sharing the store, without a scan.
//!
//! An index entry can outlive its session (an idle expiry, a logout elsewhere); every session
//! found is therefore loaded and checked against the user or provider session before it is
//! ended, so a stale entry can never end someone else's session.

use crate::{Sesame, session, tokens};
use sesame_auth::AuthenticatedUser;
use sesame_store::StoreError;
use sha2::{Digest, Sha256};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

/// The index key of a user: `sub:` and a hash, so no identifier appears in the store's keys.
pub(crate) fn subject_key(subject: &str) -> String {
    hashed_key("sub", subject)
}

/// The index key of a provider session (`sid`).
pub(crate) fn provider_session_key(sid: &str) -> String {
    hashed_key("sid", sid)
}

fn hashed_key(kind: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update(b"\0");
    hasher.update(value.as_bytes());
    format!("{kind}:{:x}", hasher.finalize())
}

fn index_keys(user: &AuthenticatedUser) -> impl Iterator<Item = String> {
    std::iter::once(subject_key(user.subject()))
        .chain(user.provider_session.as_deref().map(provider_session_key))
}

/// Files a new login's session under its user and provider session.
pub(crate) async fn index_login(
    sesame: &Sesame,
    id: &Id,
    user: &AuthenticatedUser,
) -> Result<(), StoreError> {
    let lapses = tokens::tokens_lapse_at(sesame, user);
    for key in index_keys(user) {
        sesame.store().index_session(&key, id, lapses).await?;
    }
    Ok(())
}

/// Ends session `id` in the store: the record (so its cookie is worthless), its tokens, and
/// (when the user is known) its index entries.
pub(crate) async fn end_by_id(
    sesame: &Sesame,
    id: &Id,
    user: Option<&AuthenticatedUser>,
) -> Result<(), StoreError> {
    let store = sesame.store();
    store.delete(id).await.map_err(store_error)?;
    store.delete_tokens(id).await?;
    for key in user.into_iter().flat_map(index_keys) {
        store.unindex_session(&key, id).await?;
    }
    Ok(())
}

/// Ends every session filed under `key` whose user passes `belongs`, one at a time (in Redis
/// Cluster each is a command on its own slot). Returns how many were ended.
pub(crate) async fn end_indexed(
    sesame: &Sesame,
    key: &str,
    belongs: impl Fn(&AuthenticatedUser) -> bool,
) -> Result<usize, StoreError> {
    let store = sesame.store();
    let mut ended = 0;
    for id in store.indexed_sessions(key).await? {
        let user = store
            .load(&id)
            .await
            .map_err(store_error)?
            .and_then(|record| session::user_of_record(&record));
        match user {
            Some(user) if belongs(&user) => {
                end_by_id(sesame, &id, Some(&user)).await?;
                ended += 1;
            }
            // Not this user's (only a hash collision could do that): leave it alone.
            Some(_) => {}
            // The session is gone already: drop the stale entry.
            None => {
                store.unindex_session(key, &id).await?;
                store.delete_tokens(&id).await?;
            }
        }
    }
    Ok(ended)
}

/// Every session of the user with this `sub`.
pub(crate) async fn end_user(sesame: &Sesame, subject: &str) -> Result<usize, StoreError> {
    end_indexed(sesame, &subject_key(subject), |user| {
        user.subject() == subject
    })
    .await
}

/// Every session of the provider session `sid` (and, when given, of user `sub`).
pub(crate) async fn end_provider_session(
    sesame: &Sesame,
    sid: &str,
    subject: Option<&str>,
) -> Result<usize, StoreError> {
    end_indexed(sesame, &provider_session_key(sid), |user| {
        user.provider_session.as_deref() == Some(sid)
            && subject.is_none_or(|subject| user.subject() == subject)
    })
    .await
}

fn store_error(err: tower_sessions::session_store::Error) -> StoreError {
    StoreError::Unavailable(err.to_string())
}
