//! The provider's tokens for one login: kept apart from the user's profile, because they change
//! (a refresh replaces them) while the profile stays what the login established.

use crate::Secret;
use serde::{Deserialize, Serialize};

/// The access token shortest "still fresh" margin: a token is handed out only while it has at
/// least `min(this, half its lifetime)` left, so a call made with it does not expire in flight.
const FRESHNESS_MARGIN_SECS: i64 = 30;

/// The tokens the provider issued at login or at the last refresh. Every token is a [`Secret`]:
/// `Debug` shows none of them. The caller keeps this encrypted, never in a page or a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token, to present to APIs as `Authorization: Bearer …`.
    pub access_token: Secret,
    /// When the access token expires (unix seconds), if the provider said (`expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<i64>,
    /// When these tokens were obtained (unix seconds): with the expiry, the token's lifetime.
    pub obtained_at: i64,
    /// The refresh token, if the provider issued one (Auth0: with the `offline_access` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The latest ID token: the `id_token_hint` for logout, and the reference a refreshed ID
    /// token is checked against (OpenID Connect Core §12.2).
    pub id_token: Secret,
}

impl TokenSet {
    /// Whether the access token is good for at least `min(30 s, half its lifetime)` more at
    /// `now` (unix seconds). A token without a known expiry counts as fresh: there is nothing to
    /// refresh it ahead of.
    pub fn access_token_is_fresh(&self, now: i64) -> bool {
        let Some(expires_at) = self.access_token_expires_at else {
            return true;
        };
        let lifetime = expires_at.saturating_sub(self.obtained_at).max(0);
        let margin = FRESHNESS_MARGIN_SECS.min(lifetime / 2);
        expires_at.saturating_sub(now) >= margin.max(1)
    }

    /// Whether the access token has expired at `now` (unix seconds). Never, without an expiry.
    pub fn access_token_has_expired(&self, now: i64) -> bool {
        self.access_token_expires_at
            .is_some_and(|expires_at| now >= expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::{Secret, TokenSet};

    fn tokens(obtained_at: i64, expires_at: Option<i64>) -> TokenSet {
        TokenSet {
            access_token: Secret::new("at"),
            access_token_expires_at: expires_at,
            obtained_at,
            refresh_token: None,
            id_token: Secret::new("it"),
        }
    }

    #[test]
    fn fresh_means_min_of_thirty_seconds_and_half_the_lifetime_left() {
        // An hour-long token is refreshed in its last 30 s.
        let hour = tokens(0, Some(3600));
        assert!(hour.access_token_is_fresh(3570));
        assert!(!hour.access_token_is_fresh(3571));
        // A 20 s token is refreshed in its second half.
        let short = tokens(0, Some(20));
        assert!(short.access_token_is_fresh(10));
        assert!(!short.access_token_is_fresh(11));
        assert!(!short.access_token_has_expired(19));
        assert!(short.access_token_has_expired(20));
    }

    #[test]
    fn without_an_expiry_a_token_is_never_refreshed_ahead() {
        let forever = tokens(0, None);
        assert!(forever.access_token_is_fresh(i64::MAX));
        assert!(!forever.access_token_has_expired(i64::MAX));
    }

    #[test]
    fn debug_shows_no_token() {
        let text = format!("{:?}", tokens(0, Some(1)));
        assert!(
            !text.contains("\"at\"") && !text.contains("\"it\""),
            "{text}"
        );
    }
}
