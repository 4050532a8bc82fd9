//! Compact JWS serialisation (RFC 7515) for ID tokens, built by hand so the provider can also build
//! the malformed tokens its misbehaviours need.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    };
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(token)
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
