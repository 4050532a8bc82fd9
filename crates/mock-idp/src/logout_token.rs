//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4), both the valid ones
//! the provider delivers and deliberately flawed ones a test can post to a relying party itself.
//! Each [`LogoutTokenFlaw`] changes exactly one thing, so a refusal proves that one check.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::grants::{Grant, unix_now};
use crate::id_token::{self, IdTokenInput};
use crate::jwt::{self, JwtError, Signature};
use crate::keys::random_token;
use crate::{Misbehaviour, MockIdp, users};

/// The event a logout token must carry (§2.4).
pub(crate) const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The explicit type §2.4 recommends for the JOSE header.
const TYP: &str = "logout+jwt";
/// How long a logout token is valid: two minutes is plenty for an immediate POST.
const LIFETIME: u64 = 120;

/// One way for a minted logout token to be wrong. Spelled in kebab-case on the wire
/// (`POST {issuer}/admin/logout-token` with `flaw=wrong-aud`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogoutTokenFlaw {
    /// A valid logout token.
    #[default]
    None,
    /// RS256 signature bytes flipped.
    BadSignature,
    /// `alg: none` and an empty signature.
    AlgNone,
    /// Signed HS256 with the client secret instead of RS256 with a published key.
    Hs256,
    /// `iss` is another issuer.
    WrongIss,
    /// `aud` is another client.
    WrongAud,
    /// A `nonce` claim is present (§2.4 forbids it, so ID tokens cannot pass as logout tokens).
    Nonce,
    /// No `events` claim.
    NoEvents,
    /// `events` without the back-channel logout event.
    WrongEvent,
    /// Neither `sid` nor `sub`.
    NoSidOrSub,
    /// No `jti`.
    NoJti,
    /// Expired: issued five minutes ago, `exp` three minutes ago.
    Expired,
    /// `iat` ten minutes ago (and `exp` still in the future): too old to accept.
    StaleIat,
    /// An actual ID token for the user (`typ: JWT`, a `nonce`, no `events`).
    IdToken,
    /// Header `typ` is `at+jwt` (an access token's, RFC 9068) instead of `logout+jwt`.
    WrongTyp,
    /// Signed by a key that is in no JWKS.
    UnknownKey,
}

impl LogoutTokenFlaw {
    /// Every value, `None` first.
    pub const ALL: [LogoutTokenFlaw; 16] = [
        LogoutTokenFlaw::None,
        LogoutTokenFlaw::BadSignature,
        LogoutTokenFlaw::AlgNone,
        LogoutTokenFlaw::Hs256,
        LogoutTokenFlaw::WrongIss,
        LogoutTokenFlaw::WrongAud,
        LogoutTokenFlaw::Nonce,
        LogoutTokenFlaw::NoEvents,
        LogoutTokenFlaw::WrongEvent,
        LogoutTokenFlaw::NoSidOrSub,
        LogoutTokenFlaw::NoJti,
        LogoutTokenFlaw::Expired,
        LogoutTokenFlaw::StaleIat,
        LogoutTokenFlaw::IdToken,
        LogoutTokenFlaw::WrongTyp,
        LogoutTokenFlaw::UnknownKey,
    ];

    /// The kebab-case name used in the `flaw` form field.
    pub fn as_str(self) -> &'static str {
        match self {
            LogoutTokenFlaw::None => "none",
            LogoutTokenFlaw::BadSignature => "bad-signature",
            LogoutTokenFlaw::AlgNone => "alg-none",
            LogoutTokenFlaw::Hs256 => "hs256",
            LogoutTokenFlaw::WrongIss => "wrong-iss",
            LogoutTokenFlaw::WrongAud => "wrong-aud",
            LogoutTokenFlaw::Nonce => "nonce",
            LogoutTokenFlaw::NoEvents => "no-events",
            LogoutTokenFlaw::WrongEvent => "wrong-event",
            LogoutTokenFlaw::NoSidOrSub => "no-sid-or-sub",
            LogoutTokenFlaw::NoJti => "no-jti",
            LogoutTokenFlaw::Expired => "expired",
            LogoutTokenFlaw::StaleIat => "stale-iat",
            LogoutTokenFlaw::IdToken => "id-token",
            LogoutTokenFlaw::WrongTyp => "wrong-typ",
            LogoutTokenFlaw::UnknownKey => "unknown-key",
        }
    }
}

impl fmt::Display for LogoutTokenFlaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unrecognised `flaw` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown logout token flaw {0:?}")]
pub struct UnknownLogoutTokenFlaw(pub String);

impl FromStr for LogoutTokenFlaw {
    type Err = UnknownLogoutTokenFlaw;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogoutTokenFlaw::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownLogoutTokenFlaw(s.to_owned()))
    }
}

/// Whom a logout token is about: at least one of the two (§2.4), except for the `no-sid-or-sub` flaw.
#[derive(Clone, Debug, Default)]
pub(crate) struct Subject {
    /// The username (the `sub` claim is derived from it as at login).
    pub(crate) username: Option<String>,
    /// The provider session.
    pub(crate) sid: Option<String>,
}

/// Signs a logout token about `who` with the provider's current key, bent by `flaw`.
pub(crate) fn mint(
    idp: &MockIdp,
    who: &Subject,
    flaw: LogoutTokenFlaw,
) -> Result<String, JwtError> {
    let keys = idp.signing_keys();
    let Some(key) = keys.first() else {
        return Err(JwtError::NoKey);
    };
    let now = unix_now();
    if flaw == LogoutTokenFlaw::IdToken {
        let grant = Grant {
            client_id: idp.config().client_id.clone(),
            redirect_uri: String::new(),
            code_challenge: String::new(),
            nonce: Some(random_token(16)),
            scope: "openid".to_owned(),
            username: who.username.clone().unwrap_or_default(),
            sid: who.sid.clone().unwrap_or_default(),
            auth_time: now,
            misbehaviour: Misbehaviour::None,
        };
        return id_token::mint(&IdTokenInput {
            issuer: idp.issuer(),
            grant: &grant,
            access_token: &random_token(32),
            now,
            key,
            stray_key: idp.stray_key(),
        });
    }

    let mut claims = Map::new();
    let mut set = |k: &str, v: Value| claims.insert(k.to_owned(), v);
    set("iss", json!(idp.issuer()));
    set("aud", json!(idp.config().client_id));
    set("iat", json!(now));
    set("exp", json!(now + LIFETIME));
    set("jti", json!(random_token(16)));
    set("events", json!({ BACKCHANNEL_EVENT: {} }));
    if let Some(username) = &who.username {
        set("sub", json!(users::subject(username)));
    }
    if let Some(sid) = &who.sid {
        set("sid", json!(sid));
    }
    match flaw {
        LogoutTokenFlaw::WrongIss => {
            set("iss", json!("https://wrong-issuer.example.com"));
        }
        LogoutTokenFlaw::WrongAud => {
            set("aud", json!("some-other-client"));
        }
        LogoutTokenFlaw::Nonce => {
            set("nonce", json!(random_token(16)));
        }
        LogoutTokenFlaw::NoEvents => {
            claims.remove("events");
        }
        LogoutTokenFlaw::WrongEvent => {
            set(
                "events",
                json!({ "http://schemas.openid.net/event/some-other-event": {} }),
            );
        }
        LogoutTokenFlaw::NoSidOrSub => {
            claims.remove("sid");
            claims.remove("sub");
        }
        LogoutTokenFlaw::NoJti => {
            claims.remove("jti");
        }
        LogoutTokenFlaw::Expired => {
            set("iat", json!(now.saturating_sub(300)));
            set("exp", json!(now.saturating_sub(300) + LIFETIME));
        }
        LogoutTokenFlaw::StaleIat => {
            set("iat", json!(now.saturating_sub(600)));
            set("exp", json!(now + LIFETIME));
        }
        _ => {}
    }

    let secret = idp.config().client_secret.as_bytes();
    let (header, signature) = match flaw {
        LogoutTokenFlaw::AlgNone => (json!({"alg": "none", "typ": TYP}), Signature::Unsigned),
        LogoutTokenFlaw::Hs256 => (
            json!({"alg": "HS256", "typ": TYP}),
            Signature::Hs256(secret),
        ),
        LogoutTokenFlaw::BadSignature => (
            json!({"alg": "RS256", "typ": TYP, "kid": key.kid}),
            Signature::Corrupted(key),
        ),
        LogoutTokenFlaw::UnknownKey => {
            let stray = idp.stray_key();
            (
                json!({"alg": "RS256", "typ": TYP, "kid": stray.kid}),
                Signature::Rs256(stray),
            )
        }
        LogoutTokenFlaw::WrongTyp => (
            json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}),
            Signature::Rs256(key),
        ),
        _ => (
            json!({"alg": "RS256", "typ": TYP, "kid": key.kid}),
            Signature::Rs256(key),
        ),
    };
    jwt::encode(&header, &Value::Object(claims), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for f in LogoutTokenFlaw::ALL {
            assert_eq!(f.to_string().parse::<LogoutTokenFlaw>(), Ok(f));
        }
        let mut names: Vec<_> = LogoutTokenFlaw::ALL.iter().map(|f| f.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LogoutTokenFlaw::ALL.len());
        assert!("nope".parse::<LogoutTokenFlaw>().is_err());
    }
}
