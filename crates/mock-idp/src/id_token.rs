//! The ID token for one login (OIDC Core §2), including every way its misbehaviour bends it.

use serde_json::{Value, json};

use crate::Misbehaviour;
use crate::grants::{Grant, TOKEN_LIFETIME};
use crate::jwt::{self, JwtError, Signature};
use crate::keys::SigningKeyPair;
use crate::users;

/// An hour, the skew used by the time-travel misbehaviours: far beyond any RP's leeway.
const HOUR: u64 = 3600;

/// Everything needed to mint one ID token.
pub(crate) struct IdTokenInput<'a> {
    /// Exact issuer string.
    pub(crate) issuer: &'a str,
    /// The exchanged login.
    pub(crate) grant: &'a Grant,
    /// The access token issued alongside, for `at_hash`.
    pub(crate) access_token: &'a str,
    /// Current Unix time.
    pub(crate) now: u64,
    /// The published key that signs well-behaved tokens.
    pub(crate) key: &'a SigningKeyPair,
    /// A key absent from the JWKS, used only for [`Misbehaviour::UnknownKey`].
    pub(crate) stray_key: &'a SigningKeyPair,
}

/// Builds and signs the ID token.
pub(crate) fn mint(input: &IdTokenInput<'_>) -> Result<String, JwtError> {
    let grant = input.grant;
    let mut claims = users::profile_claims(input.issuer, &grant.username);
    let now = input.now;
    let exp = now + TOKEN_LIFETIME.as_secs();
    for (k, v) in [
        ("iss", json!(input.issuer)),
        ("aud", json!(grant.client_id)),
        // azp is only required with several audiences, but Auth0 always sends it and RPs check it.
        ("azp", json!(grant.client_id)),
        ("iat", json!(now)),
        ("exp", json!(exp)),
        ("auth_time", json!(grant.auth_time)),
        ("at_hash", json!(jwt::at_hash(input.access_token))),
    ] {
        claims.insert(k.to_owned(), v);
    }
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".to_owned(), json!(nonce));
    }
    if !grant.sid.is_empty() {
        // Back-Channel Logout §2.1: lets the RP match a later logout token to this login.
        claims.insert("sid".to_owned(), json!(grant.sid));
    }

    match grant.misbehaviour {
        Misbehaviour::WrongIss => {
            claims.insert("iss".to_owned(), json!("https://wrong-issuer.example.com"));
        }
        Misbehaviour::WrongAud => {
            claims.insert("aud".to_owned(), json!("some-other-client"));
            claims.insert("azp".to_owned(), json!("some-other-client"));
        }
        Misbehaviour::MissingAud => {
            claims.remove("aud");
        }
        Misbehaviour::MissingSub => {
            claims.remove("sub");
        }
        Misbehaviour::LogForgingSub => {
            let forged = users::log_forging_subject(&grant.username);
            claims.insert("sub".to_owned(), json!(forged));
        }
        Misbehaviour::MissingIat => {
            claims.remove("iat");
        }
        Misbehaviour::Expired => {
            claims.insert("iat".to_owned(), json!(now.saturating_sub(2 * HOUR)));
            claims.insert("exp".to_owned(), json!(now.saturating_sub(HOUR)));
        }
        Misbehaviour::IatFuture => {
            claims.insert("iat".to_owned(), json!(now + HOUR));
            claims.insert(
                "exp".to_owned(),
                json!(now + HOUR + TOKEN_LIFETIME.as_secs()),
            );
        }
        Misbehaviour::WrongNonce => {
            claims.insert("nonce".to_owned(), json!("not-the-nonce-you-sent"));
        }
        Misbehaviour::MissingNonce => {
            claims.remove("nonce");
        }
        Misbehaviour::WrongAtHash => {
            claims.insert(
                "at_hash".to_owned(),
                json!(jwt::at_hash("some other access token")),
            );
        }
        _ => {}
    }

    let signing_key = match grant.misbehaviour {
        Misbehaviour::UnknownKey => input.stray_key,
        _ => input.key,
    };
    let header = match grant.misbehaviour {
        Misbehaviour::AlgNone => json!({"alg": "none", "typ": "JWT"}),
        Misbehaviour::NoKid => json!({"alg": "RS256", "typ": "JWT"}),
        _ => json!({"alg": "RS256", "typ": "JWT", "kid": signing_key.kid}),
    };
    let signature = match grant.misbehaviour {
        Misbehaviour::AlgNone => Signature::Unsigned,
        Misbehaviour::BadSignature => Signature::Corrupted(signing_key),
        _ => Signature::Rs256(signing_key),
    };
    jwt::encode(&header, &Value::Object(claims), signature)
}
