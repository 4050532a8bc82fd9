//! What the provider remembers between requests: outstanding authorization codes and issued
//! access tokens. In memory only; a restart forgets every login, which is what a test wants.
//! Provider sessions and refresh tokens live in [`crate::sessions`] and [`crate::refresh`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Misbehaviour;

/// Authorization codes are short-lived (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// ID tokens last an hour, and so do access tokens unless configured otherwise
/// ([`crate::MockIdpConfig::access_token_lifetime`]).
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Maps are not swept before they reach this size, so small tests never pay for sweeping.
const SWEEP_THRESHOLD: usize = 10_000;

/// An approved login waiting to be exchanged at the token endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    /// Client the code was issued to.
    pub(crate) client_id: String,
    /// `redirect_uri` exactly as sent to /authorize; the token request must repeat it.
    pub(crate) redirect_uri: String,
    /// PKCE S256 challenge.
    pub(crate) code_challenge: String,
    /// Nonce to echo in the ID token.
    pub(crate) nonce: Option<String>,
    /// Scope as requested.
    pub(crate) scope: String,
    /// Who signed in.
    pub(crate) username: String,
    /// The provider session the login belongs to, echoed as the ID token's `sid` so back-channel
    /// logout tokens can name it.
    pub(crate) sid: String,
    /// When they signed in (Unix seconds), for `auth_time`.
    pub(crate) auth_time: u64,
    /// How this login should go wrong.
    pub(crate) misbehaviour: Misbehaviour,
}

/// An access token the userinfo endpoint will honour.
#[derive(Clone, Debug)]
pub(crate) struct IssuedToken {
    /// Whose token it is.
    pub(crate) username: String,
    /// Carried so userinfo can misbehave for the same login.
    pub(crate) misbehaviour: Misbehaviour,
}

/// Why a code could not be redeemed. Both map to `invalid_grant`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RedeemError {
    /// Never issued, or already used.
    Unknown,
    /// Issued more than [`CODE_LIFETIME`] ago.
    Expired,
}

/// Codes and tokens, each map behind its own lock (held only for a lookup or insert).
#[derive(Default)]
pub(crate) struct Grants {
    codes: Mutex<ExpiringMap<Grant>>,
    tokens: Mutex<ExpiringMap<IssuedToken>>,
}

impl Grants {
    /// Remembers an approved login under `code`.
    pub(crate) fn insert_code(&self, code: String, grant: Grant) {
        lock(&self.codes).insert(code, grant, CODE_LIFETIME);
    }

    /// Takes the grant for `code` out of the store: a code works once, even if the exchange then
    /// fails.
    pub(crate) fn redeem_code(&self, code: &str) -> Result<Grant, RedeemError> {
        match lock(&self.codes).entries.remove(code) {
            None => Err(RedeemError::Unknown),
            Some((_, expires)) if Instant::now() >= expires => Err(RedeemError::Expired),
            Some((grant, _)) => Ok(grant),
        }
    }

    /// Remembers an access token for userinfo, valid for `lifetime` (the lifetime in force when
    /// it was issued, so changing the setting later does not change tokens already out there).
    pub(crate) fn insert_token(&self, token: String, issued: IssuedToken, lifetime: Duration) {
        lock(&self.tokens).insert(token, issued, lifetime);
    }

    /// Forgets the access token `token` (RFC 7009 revocation); whether it was known.
    pub(crate) fn revoke_token(&self, token: &str) -> bool {
        lock(&self.tokens).entries.remove(token).is_some()
    }

    /// The live token `token`, if it was issued here and has not expired.
    pub(crate) fn lookup_token(&self, token: &str) -> Option<IssuedToken> {
        lock(&self.tokens)
            .entries
            .get(token)
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(issued, _)| issued.clone())
    }
}

/// A poisoned lock only means another request panicked mid-insert; the map is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A map whose entries carry their expiry time (each its own, since access-token lifetimes can
/// change at runtime). Expired entries are swept when the map has doubled since the last sweep, so
/// a long benchmark stays bounded at amortised O(1) per insert.
struct ExpiringMap<T> {
    entries: HashMap<String, (T, Instant)>,
    next_sweep: usize,
}

impl<T> Default for ExpiringMap<T> {
    fn default() -> Self {
        ExpiringMap {
            entries: HashMap::new(),
            next_sweep: SWEEP_THRESHOLD,
        }
    }
}

impl<T> ExpiringMap<T> {
    fn insert(&mut self, key: String, value: T, lifetime: Duration) {
        let now = Instant::now();
        if self.entries.len() >= self.next_sweep {
            self.entries.retain(|_, (_, expires)| now < *expires);
            self.next_sweep = (self.entries.len() * 2).max(SWEEP_THRESHOLD);
        }
        self.entries.insert(key, (value, now + lifetime));
    }
}

/// Seconds since the Unix epoch, for JWT time claims. A clock before 1970 reads as 0.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
