//! Each session's provider tokens: sealed at rest, kept beside the session record (never in
//! it), and refreshed at most once at a time per session, across requests and instances.
//!
//! Why beside: tower-sessions writes a record whole, so a request that loaded the session
//! before a refresh and saved it after (an idle touch) would write the rotated-away refresh
//! token back, and the next refresh would burn the login. The store keeps the tokens as a
//! versioned value replaced by compare-and-set instead (see `sesame_store::StoredTokens`).
//!
//! Why a lease: a provider that rotates refresh tokens accepts each one once. Two tabs or two
//! instances refreshing together would spend the same token twice, and the loser's `invalid_grant`
//! (or the provider's reuse detection) would end the login. One request per session takes the
//! store's lease and refreshes; the others wait for the new version and use it.

use crate::keys::{KeySet, Keys};
use crate::{LoginError, Sesame};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sesame_auth::{AuthError, AuthenticatedUser, TokenSet};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::session::Id;

const NONCE_LEN: usize = 12;

/// Seals `tokens` for session `id`: AES-256-GCM with a random nonce and the session ID as
/// associated data, so a sealed value copied to another session's slot does not open.
pub(crate) fn seal(keys: &KeySet, id: &Id, tokens: &TokenSet) -> Option<Vec<u8>> {
    let plain = serde_json::to_vec(tokens).ok()?;
    let cipher = Aes256Gcm::new_from_slice(&keys.token_seal).ok()?;
    let nonce: [u8; NONCE_LEN] = rand::random();
    let aad = associated_data(id);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .ok()?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Some(out)
}

/// Opens what [`seal`] made, with the current key or, during a rotation, the previous one.
pub(crate) fn unseal(keys: &Keys, id: &Id, sealed: &[u8]) -> Option<TokenSet> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let aad = associated_data(id);
    keys.all().find_map(|set| {
        let cipher = Aes256Gcm::new_from_slice(&set.token_seal).ok()?;
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    })
}

fn associated_data(id: &Id) -> Vec<u8> {
    format!("sesame tokens\0{id}").into_bytes()
}

/// When a session's tokens lapse from the store: with the login's absolute end, after which no
/// session can use them.
pub(crate) fn tokens_lapse_at(sesame: &Sesame, user: &AuthenticatedUser) -> OffsetDateTime {
    let end = user.authenticated_at.saturating_add(
        i64::try_from(sesame.session_policy().absolute_timeout.as_secs()).unwrap_or(i64::MAX),
    );
    OffsetDateTime::from_unix_timestamp(end).unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// Stores a new login's tokens (version 1).
pub(crate) async fn store_new(
    sesame: &Sesame,
    id: &Id,
    user: &AuthenticatedUser,
    tokens: &TokenSet,
) -> Result<(), LoginError> {
    let sealed = seal(&sesame.keys().current, id, tokens).ok_or(LoginError::LoginNotStarted)?;
    sesame
        .store()
        .put_tokens(id, &sealed, tokens_lapse_at(sesame, user))
        .await?;
    Ok(())
}

/// The session's tokens as stored, with their version; `None` when there are none (a session
/// from before tokens were kept) or they no longer open (the key changed with no rotation).
pub(crate) async fn load(sesame: &Sesame, id: &Id) -> Result<Option<(u64, TokenSet)>, LoginError> {
    let Some(stored) = sesame.store().load_tokens(id).await? else {
        return Ok(None);
    };
    match unseal(sesame.keys(), id, &stored.sealed) {
        Some(tokens) => Ok(Some((stored.version, tokens))),
        None => {
            tracing::warn!("a session's tokens do not open with the current or previous key");
            Ok(None)
        }
    }
}

/// Why no usable access token could be had.
#[derive(Debug)]
pub(crate) enum NoAccessToken {
    /// The user must log in again: no tokens, or an expired access token and no way to renew
    /// it, or the provider refused the refresh token (the session was ended).
    LoginRequired,
    /// Something failed that a later request may not hit: the store, the provider.
    Failed(LoginError),
}

impl From<LoginError> for NoAccessToken {
    fn from(err: LoginError) -> Self {
        Self::Failed(err)
    }
}

impl From<sesame_store::StoreError> for NoAccessToken {
    fn from(err: sesame_store::StoreError) -> Self {
        Self::Failed(LoginError::Store(err))
    }
}

/// The session's tokens with an access token good for `min(30 s, half its lifetime)` more,
/// refreshed first if needed (or always, with `force`). At most one refresh per session runs at
/// a time: within this process concurrent callers queue on one gate; across instances the one
/// holding the store's lease refreshes and the others wait for its new version.
pub(crate) async fn fresh(
    sesame: &Sesame,
    id: &Id,
    user: &AuthenticatedUser,
    force: bool,
) -> Result<TokenSet, NoAccessToken> {
    let Some((seen_version, tokens)) = load(sesame, id).await? else {
        return Err(NoAccessToken::LoginRequired);
    };
    if !force && tokens.access_token_is_fresh(now()) {
        return Ok(tokens);
    }
    let gate = sesame.refresh_gate(id);
    let _in_process_turn = gate.lock().await;
    let lease_ttl = sesame.refresh_lease_ttl();
    let holder = format!("{:032x}", rand::random::<u128>());
    let waited_since = Instant::now();
    loop {
        let current = load(sesame, id)
            .await?
            .ok_or(NoAccessToken::LoginRequired)?;
        if current.0 != seen_version {
            // Someone refreshed while we waited: theirs is new, use it.
            return Ok(current.1);
        }
        if sesame.store().acquire_lease(id, &holder, lease_ttl).await? {
            // Read again under the lease: another instance may have refreshed and released it
            // between our read and our taking it, and its old refresh token is spent.
            let outcome = match load(sesame, id).await {
                Ok(Some(latest)) if latest.0 != seen_version => Ok(latest.1),
                Ok(Some(latest)) => refresh_holding_lease(sesame, id, user, latest).await,
                Ok(None) => Err(NoAccessToken::LoginRequired),
                Err(err) => Err(err.into()),
            };
            if let Err(err) = sesame.store().release_lease(id, &holder).await {
                // It lapses by itself within the lease's TTL.
                tracing::warn!(error = ?err.to_string(), "releasing a refresh lease failed");
            }
            return outcome;
        }
        if waited_since.elapsed() > lease_ttl {
            return Err(NoAccessToken::Failed(LoginError::TokenRenewalBusy));
        }
        tokio::time::sleep(LEASE_POLL).await;
    }
}

/// How often a request waiting on another's refresh looks for its result.
const LEASE_POLL: Duration = Duration::from_millis(25);

async fn refresh_holding_lease(
    sesame: &Sesame,
    id: &Id,
    user: &AuthenticatedUser,
    (version, tokens): (u64, TokenSet),
) -> Result<TokenSet, NoAccessToken> {
    if tokens.refresh_token.is_none() {
        return if tokens.access_token_has_expired(now()) {
            Err(NoAccessToken::LoginRequired)
        } else {
            // Still valid, only not for long: the best there is without a refresh token.
            Ok(tokens)
        };
    }
    match sesame.relying_party().refresh(&tokens).await {
        Ok(renewed) => {
            let sealed = seal(&sesame.keys().current, id, &renewed)
                .ok_or(NoAccessToken::Failed(LoginError::LoginNotStarted))?;
            let lapses = tokens_lapse_at(sesame, user);
            if sesame
                .store()
                .replace_tokens(id, version, &sealed, lapses)
                .await?
            {
                tracing::info!("access token refreshed");
                crate::metrics::token_refresh("refreshed");
                Ok(renewed)
            } else {
                crate::metrics::token_refresh("superseded");
                // Gone (a logout) or replaced (our lease lapsed mid-refresh): the store's
                // version is the truth.
                match load(sesame, id).await? {
                    Some((_, stored)) => Ok(stored),
                    None => Err(NoAccessToken::LoginRequired),
                }
            }
        }
        Err(AuthError::RefreshRefused) => {
            crate::metrics::token_refresh("refused");
            tracing::info!("the provider refused the refresh token; ending the session");
            crate::sessions::end_by_id(sesame, id, Some(user)).await?;
            Err(NoAccessToken::LoginRequired)
        }
        Err(err @ AuthError::RefreshedIdTokenMismatch(_)) => {
            // The refresh token was spent (rotated) on an answer we cannot trust, so this login
            // cannot go on: end it rather than keep tokens that describe someone else.
            tracing::error!(reason = ?err.to_string(), "refused a refresh answer; ending the session");
            crate::sessions::end_by_id(sesame, id, Some(user)).await?;
            Err(NoAccessToken::LoginRequired)
        }
        Err(err) if !tokens.access_token_has_expired(now()) => {
            crate::metrics::token_refresh("failed");
            tracing::warn!(reason = ?err.to_string(), "refresh failed; the current access token is still valid");
            Ok(tokens)
        }
        Err(err) => {
            crate::metrics::token_refresh("failed");
            Err(NoAccessToken::Failed(LoginError::TokenRenewal(err)))
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One gate per session being refreshed in this process, so concurrent requests of one session
/// make one trip to the store's lease rather than a polling crowd.
#[derive(Default)]
pub(crate) struct RefreshGates(Mutex<HashMap<Id, Weak<tokio::sync::Mutex<()>>>>);

impl RefreshGates {
    pub(crate) fn gate(&self, id: &Id) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(gate) = gates.get(id).and_then(Weak::upgrade) {
            return gate;
        }
        if gates.len() >= 1024 {
            gates.retain(|_, gate| gate.strong_count() > 0);
        }
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        gates.insert(*id, Arc::downgrade(&gate));
        gate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_auth::Secret;

    fn tokens() -> TokenSet {
        TokenSet {
            access_token: Secret::new("access-token-value"),
            access_token_expires_at: Some(100),
            obtained_at: 0,
            refresh_token: Some(Secret::new("refresh-token-value")),
            id_token: Secret::new("id-token-value"),
        }
    }

    #[test]
    fn sealed_tokens_open_only_for_their_session_and_key() {
        let keys = Keys::new(&"k".repeat(40), None);
        let id = Id::default();
        let sealed = seal(&keys.current, &id, &tokens()).unwrap();
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("token-value"), "sealed bytes hold no token");
        assert_eq!(unseal(&keys, &id, &sealed), Some(tokens()));
        assert_eq!(
            unseal(&keys, &Id::default(), &sealed),
            None,
            "another session"
        );
        let other = Keys::new(&"o".repeat(40), None);
        assert_eq!(unseal(&other, &id, &sealed), None, "another key");
        let rotated = Keys::new(&"o".repeat(40), Some(&"k".repeat(40)));
        assert_eq!(
            unseal(&rotated, &id, &sealed),
            Some(tokens()),
            "previous key"
        );
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(unseal(&keys, &id, &tampered), None);
        assert_eq!(unseal(&keys, &id, &sealed[..5]), None);
    }
}
