//! Refresh tokens with rotation and reuse detection, as Auth0 does them: every use of a refresh
//! token answers with a new one and retires the old; presenting a retired token again is taken as
//! theft, so the whole family (every token descended from the same login) is revoked at once.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::grants::lock;
use crate::keys::random_token;

/// What a refresh token stands for: the login it descends from.
#[derive(Clone, Debug)]
pub(crate) struct RefreshGrant {
    /// Client the token was issued to.
    pub(crate) client_id: String,
    /// Whose token it is.
    pub(crate) username: String,
    /// The provider session of the original login, repeated as `sid` in refreshed ID tokens.
    pub(crate) sid: String,
    /// Scope granted at login; a refresh may narrow it (RFC 6749 §6), never widen it.
    pub(crate) scope: String,
    /// `auth_time` of the original login (OIDC Core §12.2 keeps it).
    pub(crate) auth_time: u64,
    /// Refreshes answer with an ID token for another user (`refresh-other-subject`).
    pub(crate) other_subject_on_refresh: bool,
}

/// Why a refresh token was refused; every case is `invalid_grant` on the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefreshError {
    /// Never issued here.
    Unknown,
    /// Revoked (explicitly, or because its family was).
    Revoked,
    /// Already rotated: a reuse, which has just revoked the family.
    Reused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// The newest token of its family: the only one that works.
    Active,
    /// Exchanged once already.
    Rotated,
    /// Dead for good.
    Revoked,
}

struct Entry {
    family: u64,
    status: Status,
    grant: RefreshGrant,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Entry>,
    next_family: u64,
}

impl State {
    /// Revokes every token of `family`; returns how many were still active.
    fn revoke_family(&mut self, family: u64) -> usize {
        let mut active = 0;
        for entry in self.tokens.values_mut().filter(|e| e.family == family) {
            if entry.status == Status::Active {
                active += 1;
            }
            entry.status = Status::Revoked;
        }
        active
    }
}

/// Every refresh token ever issued (retired ones too, so reuse can be recognised). Never swept:
/// tokens are issued only for `offline_access` logins, which tests and demos make few of.
#[derive(Default)]
pub(crate) struct RefreshTokens {
    state: Mutex<State>,
}

impl RefreshTokens {
    /// Issues the first token of a new family, for a login.
    pub(crate) fn issue(&self, grant: RefreshGrant) -> String {
        let mut state = lock(&self.state);
        let family = state.next_family;
        state.next_family += 1;
        let token = random_token(32);
        state.tokens.insert(
            token.clone(),
            Entry {
                family,
                status: Status::Active,
                grant,
            },
        );
        token
    }

    /// What `token` stands for, whatever its status (unknown tokens give `None`).
    pub(crate) fn peek(&self, token: &str) -> Option<RefreshGrant> {
        lock(&self.state).tokens.get(token).map(|e| e.grant.clone())
    }

    /// Exchanges `token` for its successor in one step (one lock), so two concurrent uses of the
    /// same token cannot both succeed. A reuse revokes the family before answering.
    pub(crate) fn rotate(&self, token: &str) -> Result<(String, RefreshGrant), RefreshError> {
        let mut state = lock(&self.state);
        let (family, status) = match state.tokens.get(token) {
            None => return Err(RefreshError::Unknown),
            Some(entry) => (entry.family, entry.status),
        };
        match status {
            Status::Revoked => Err(RefreshError::Revoked),
            Status::Rotated => {
                state.revoke_family(family);
                Err(RefreshError::Reused)
            }
            Status::Active => {
                let Some(entry) = state.tokens.get_mut(token) else {
                    return Err(RefreshError::Unknown);
                };
                entry.status = Status::Rotated;
                let grant = entry.grant.clone();
                let next = random_token(32);
                state.tokens.insert(
                    next.clone(),
                    Entry {
                        family,
                        status: Status::Active,
                        grant: grant.clone(),
                    },
                );
                Ok((next, grant))
            }
        }
    }

    /// RFC 7009 revocation of `token` (any member of a family): revokes the family. Returns the
    /// client it was issued to, or `None` for a token never issued here.
    pub(crate) fn revoke(&self, token: &str) -> Option<String> {
        let mut state = lock(&self.state);
        let (family, client_id) = state
            .tokens
            .get(token)
            .map(|e| (e.family, e.grant.client_id.clone()))?;
        state.revoke_family(family);
        Some(client_id)
    }

    /// Revokes every family of `username`; returns how many tokens were still usable.
    pub(crate) fn revoke_user(&self, username: &str) -> usize {
        let mut state = lock(&self.state);
        let families: Vec<u64> = state
            .tokens
            .values()
            .filter(|e| e.grant.username == username)
            .map(|e| e.family)
            .collect();
        families.into_iter().map(|f| state.revoke_family(f)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(username: &str) -> RefreshGrant {
        RefreshGrant {
            client_id: "c".to_owned(),
            username: username.to_owned(),
            sid: "s".to_owned(),
            scope: "openid offline_access".to_owned(),
            auth_time: 0,
            other_subject_on_refresh: false,
        }
    }

    #[test]
    fn rotation_retires_the_old_token_and_reuse_kills_the_family() {
        let store = RefreshTokens::default();
        let first = store.issue(grant("alice"));
        let (second, _) = store.rotate(&first).unwrap();
        let (third, _) = store.rotate(&second).unwrap();
        assert_eq!(store.rotate(&first).unwrap_err(), RefreshError::Reused);
        // The newest descendant died with the family.
        assert_eq!(store.rotate(&third).unwrap_err(), RefreshError::Revoked);
        assert_eq!(store.rotate("nope").unwrap_err(), RefreshError::Unknown);
    }

    #[test]
    fn revocation_by_token_or_user() {
        let store = RefreshTokens::default();
        let a = store.issue(grant("alice"));
        let b = store.issue(grant("bob"));
        assert_eq!(store.revoke(&a).as_deref(), Some("c"));
        assert_eq!(store.rotate(&a).unwrap_err(), RefreshError::Revoked);
        assert_eq!(store.revoke("nope"), None);
        assert_eq!(store.revoke_user("bob"), 1);
        assert_eq!(store.rotate(&b).unwrap_err(), RefreshError::Revoked);
    }
}
