//! Compact JWS serialisation (RFC 7515) for ID and logout tokens, built by hand so the provider can
//! also build the malformed tokens its misbehaviours and logout-token flaws need.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::keys::SigningKeyPair;

/// How to produce the signature part of a token.
pub(crate) enum Signature<'a> {
    /// RS256 with this key.
    Rs256(&'a SigningKeyPair),
    /// RS256 with this key, then the signature bytes inverted so verification must fail.
    Corrupted(&'a SigningKeyPair),
    /// No signature at all (`alg: none`).
    Unsigned,
    /// HMAC-SHA256 with this secret (the client secret): what an RP must refuse when it expects RS256.
    Hs256(&'a [u8]),
}

/// Why a token could not be produced.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JwtError {
    /// Serialising the header or claims failed.
    #[error("could not serialise JWT: {0}")]
    Json(#[from] serde_json::Error),
    /// The RSA signer failed.
    #[error("could not sign JWT: {0}")]
    Sign(#[from] rsa::signature::Error),
    /// No key to sign with (the provider publishes none, which its config forbids).
    #[error("no signing key")]
    NoKey,
}

/// `base64url(header).base64url(claims).base64url(signature)`.
pub(crate) fn encode(
    header: &Value,
    claims: &Value,
    signature: Signature<'_>,
) -> Result<String, JwtError> {
    let mut token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let sig = match signature {
        Signature::Rs256(key) => key.sign(token.as_bytes())?,
        Signature::Corrupted(key) => {
            let mut sig = key.sign(token.as_bytes())?;
            // Invert a few bytes rather than one bit: no verifier can shrug this off.
            for byte in sig.iter_mut().take(8) {
                *byte = !*byte;
            }
            sig
        }
        Signature::Unsigned => Vec::new(),
        Signature::Hs256(secret) => {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| JwtError::NoKey)?;
            mac.update(token.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(token)
}

/// The claims of `token` if it is an RS256 JWS signed by one of `keys` (matched by `kid`), else
/// `None`. Only checks the signature: callers decide which claims matter.
pub(crate) fn verified_claims(token: &str, keys: &[SigningKeyPair]) -> Option<Value> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "RS256" {
        return None;
    }
    let kid = header.get("kid")?.as_str()?;
    let key = keys.iter().find(|k| k.kid == kid)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// OIDC Core §3.1.3.6 `at_hash` for RS256: base64url of the left half of SHA-256(access token).
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// RFC 7636 S256: base64url(SHA-256(code_verifier)).
pub(crate) fn pkce_s256(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn unsigned_token_has_empty_signature() {
        let t = encode(
            &serde_json::json!({"alg": "none"}),
            &serde_json::json!({}),
            Signature::Unsigned,
        )
        .unwrap();
        assert!(t.ends_with('.'));
        assert_eq!(t.matches('.').count(), 2);
    }
}
