//! Verifying a back-channel `logout_token` (OpenID Connect Back-Channel Logout 1.0 §2.6).
//!
//! openidconnect verifies ID tokens only, so the JWS is checked here by hand: the same
//! asymmetric algorithms and the same cached JWKS (refetched, rate-limited, on an unknown `kid`)
//! as for ID tokens, with the signature checked by the key's own verifier. Then the claims a
//! logout token must and must not have. A token that passes names a provider session (`sid`)
//! and/or a user (`sub`); making it single-use (`jti`) is the caller's, who has the store.

use crate::{AuthError, RelyingParty};
use base64::Engine as _;
use chrono::Utc;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse, JwsSigningAlgorithm};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The event a logout token must carry (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old a logout token's `iat` may be (before leeway): the spec leaves it to the RP; two
/// minutes keeps the `jti` replay set small while tolerating a slow delivery.
pub const LOGOUT_TOKEN_MAX_AGE_SECS: i64 = 120;

/// A verified logout token: what to end, and what makes it single-use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// The provider session to end, when the token names one.
    pub sid: Option<String>,
    /// The user to log out, when the token names one (alone: every session of that user).
    pub sub: Option<String>,
    /// The token's unique ID, for the replay set.
    pub jti: String,
    /// When the token stops being acceptable (unix seconds): how long to remember its `jti`.
    pub acceptable_until: i64,
}

impl RelyingParty {
    /// Verifies a `logout_token` as Back-Channel Logout 1.0 §2.6 says. Every refusal is an
    /// [`AuthError::InvalidLogoutToken`] whose message names the check, never the token.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutToken, AuthError> {
        let jws = Jws::parse(token)?;
        let alg = self.allowed_alg(&jws.header)?;
        let keys = self.keys.current();
        match verify_signature(&jws, &alg, &keys) {
            Err(Unverified::NoKey) => {
                match self.keys.refetch(&keys, &self.http, &self.health).await? {
                    Some(fresh) => verify_signature(&jws, &alg, &fresh),
                    None => Err(Unverified::NoKey),
                }
            }
            other => other,
        }
        .map_err(|err| invalid(err.reason()))?;
        self.check_logout_claims(&jws.claims)
    }

    fn allowed_alg(
        &self,
        header: &Map<String, Value>,
    ) -> Result<CoreJwsSigningAlgorithm, AuthError> {
        if header.contains_key("crit") {
            return Err(invalid(
                "the header has `crit` extensions this RP does not understand",
            ));
        }
        // §2.4: explicit typing is recommended; when present it must say logout+jwt (or JWT,
        // which older providers send). Anything else is another kind of token.
        match header.get("typ") {
            None => {}
            Some(Value::String(typ))
                if ["jwt", "logout+jwt", "application/logout+jwt"]
                    .contains(&typ.to_ascii_lowercase().as_str()) => {}
            Some(_) => return Err(invalid("the header's `typ` is not logout+jwt")),
        }
        let alg: CoreJwsSigningAlgorithm = header
            .get("alg")
            .cloned()
            .and_then(|alg| serde_json::from_value(alg).ok())
            .ok_or_else(|| invalid("the header has no known `alg`"))?;
        // The list discovery allowed for ID tokens: never `none`, never an HMAC.
        if !self.signing_algs.contains(&alg) || alg.uses_shared_secret() {
            return Err(invalid("the signing algorithm is not allowed"));
        }
        Ok(alg)
    }

    fn check_logout_claims(&self, claims: &Map<String, Value>) -> Result<LogoutToken, AuthError> {
        let now = Utc::now().timestamp();
        let leeway = i64::try_from(self.settings.clock_leeway.as_secs()).unwrap_or(60);
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);

        if text("iss") != Some(self.issuer.as_str()) {
            return Err(invalid("`iss` is not the provider's issuer"));
        }
        let client_id = self.settings.client_id.as_str();
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == client_id,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(client_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(invalid("`aud` does not name this client"));
        }
        let iat = number("iat").ok_or_else(|| invalid("`iat` is missing"))?;
        if iat > now + leeway {
            return Err(invalid("`iat` is in the future"));
        }
        if now - iat > LOGOUT_TOKEN_MAX_AGE_SECS + leeway {
            return Err(invalid("`iat` is too old"));
        }
        let exp = number("exp").ok_or_else(|| invalid("`exp` is missing"))?;
        if exp + leeway <= now {
            return Err(invalid("the token has expired"));
        }
        let has_event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
            .is_some_and(Value::is_object);
        if !has_event {
            return Err(invalid("`events` lacks the back-channel logout event"));
        }
        // §2.4: a nonce is forbidden, so an ID token can never pass for a logout token.
        if claims.contains_key("nonce") {
            return Err(invalid("a `nonce` is present"));
        }
        let sid = text("sid").map(str::to_owned);
        let sub = text("sub").map(str::to_owned);
        if sid.is_none() && sub.is_none() {
            return Err(invalid("neither `sid` nor `sub` is present"));
        }
        let jti = text("jti")
            .filter(|jti| !jti.is_empty())
            .ok_or_else(|| invalid("`jti` is missing"))?;
        Ok(LogoutToken {
            sid,
            sub,
            jti: jti.to_owned(),
            acceptable_until: (iat + LOGOUT_TOKEN_MAX_AGE_SECS).min(exp) + leeway,
        })
    }
}

fn invalid(reason: &str) -> AuthError {
    AuthError::InvalidLogoutToken(reason.to_owned())
}

/// A compact JWS, split and decoded (but not yet trusted).
struct Jws {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    fn parse(token: &str) -> Result<Self, AuthError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        // Five parts would be an encrypted JWT (JWE), which this RP does not accept.
        let [header, payload, signature] = parts.as_slice() else {
            return Err(invalid("not a signed JWT (three dot-separated parts)"));
        };
        let decode = |part: &str, what: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| invalid(&format!("the {what} is not base64url")))
        };
        let object = |bytes: Vec<u8>, what: &str| {
            serde_json::from_slice::<Map<String, Value>>(&bytes)
                .map_err(|_| invalid(&format!("the {what} is not a JSON object")))
        };
        Ok(Self {
            header: object(decode(header, "header")?, "header")?,
            claims: object(decode(payload, "payload")?, "payload")?,
            signing_input: format!("{header}.{payload}"),
            signature: decode(signature, "signature")?,
        })
    }
}

enum Unverified {
    /// No published key can have made it (unknown `kid`): worth one JWKS refetch.
    NoKey,
    /// Several keys could have made it and the token names none.
    AmbiguousKey,
    BadSignature,
}

impl Unverified {
    fn reason(&self) -> &'static str {
        match self {
            Self::NoKey => "no published key matches the token",
            Self::AmbiguousKey => "the token names no `kid` and several keys could match",
            Self::BadSignature => "the signature does not verify",
        }
    }
}

fn verify_signature(
    jws: &Jws,
    alg: &CoreJwsSigningAlgorithm,
    keys: &Arc<CoreJsonWebKeySet>,
) -> Result<(), Unverified> {
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&CoreJsonWebKey> = keys
        .keys()
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.key_id().map(|id| id.as_str()) == Some(kid)))
        .filter(|key| can_verify(key, alg))
        .collect();
    let key = match candidates.as_slice() {
        [] => return Err(Unverified::NoKey),
        [key] => *key,
        _ => return Err(Unverified::AmbiguousKey),
    };
    key.verify_signature(alg, jws.signing_input.as_bytes(), &jws.signature)
        .map_err(|_| Unverified::BadSignature)
}

/// Whether `key` may verify a signature made with `alg`: usable for signatures, of the
/// algorithm's key type, and not pinned to another algorithm.
fn can_verify(key: &CoreJsonWebKey, alg: &CoreJwsSigningAlgorithm) -> bool {
    let usable = key
        .key_use()
        .is_none_or(|key_use| key_use.allows_signature());
    let right_type = alg.key_type().as_ref() == Some(key.key_type());
    let right_alg = match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => true,
        JsonWebKeyAlgorithm::Algorithm(pinned) => pinned == alg,
        JsonWebKeyAlgorithm::Unsupported => false,
    };
    usable && right_type && right_alg
}
