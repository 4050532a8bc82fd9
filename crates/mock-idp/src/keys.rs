//! RSA signing keys and their public JWK form.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{Keypair as _, SignatureEncoding as _, Signer as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::MockIdpError;

/// RSA modulus size; 2048 is what real providers use and what RPs expect.
const KEY_BITS: usize = 2048;

/// One RS256 signing key with its key ID.
pub(crate) struct SigningKeyPair {
    /// Key ID published in the JWKS and in token headers.
    pub(crate) kid: String,
    signer: SigningKey<Sha256>,
    jwk: Value,
}

impl SigningKeyPair {
    /// Makes a fresh RSA-2048 key with a random short kid. Slow (tens to hundreds of ms): callers on
    /// an async runtime should run it on a blocking thread.
    pub(crate) fn generate() -> Result<SigningKeyPair, MockIdpError> {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)?;
        let kid = random_token(6);
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        Ok(SigningKeyPair {
            kid,
            signer: SigningKey::new(private),
            jwk,
        })
    }

    /// The public key as a JWK (RFC 7517/7518).
    pub(crate) fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RS256) over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rsa::signature::Error> {
        Ok(self.signer.try_sign(message)?.to_vec())
    }

    /// Whether `signature` is this key's RS256 signature over `message`: how the logout endpoints
    /// trust the `sid` in an `id_token_hint` the provider signed itself.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        rsa::pkcs1v15::Signature::try_from(signature)
            .is_ok_and(|sig| self.signer.verifying_key().verify(message, &sig).is_ok())
    }
}

/// Makes `count` keys, in parallel because each takes a noticeable while.
pub(crate) fn generate_keys(count: usize) -> Result<Vec<SigningKeyPair>, MockIdpError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(SigningKeyPair::generate))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The key behind the `unknown-key` misbehaviour. It only has to be absent from every JWKS, so
/// one per process is enough, and tests that start many providers make one key fewer each.
static STRAY_KEY: OnceLock<Arc<SigningKeyPair>> = OnceLock::new();

/// `count` keys to publish, plus the never-published key. The stray key is made up front (with the
/// others, in parallel) rather than on first use, which would stall that token request long
/// enough to trip an RP's timeout.
pub(crate) fn generate_keys_and_stray(
    count: usize,
) -> Result<(Vec<SigningKeyPair>, Arc<SigningKeyPair>), MockIdpError> {
    if let Some(stray) = STRAY_KEY.get() {
        return Ok((generate_keys(count)?, stray.clone()));
    }
    let mut keys = generate_keys(count + 1)?;
    let made = keys.pop().map(Arc::new);
    // Another provider may have set it meanwhile; either key will do.
    let stray = match made {
        Some(made) => STRAY_KEY.get_or_init(|| made).clone(),
        None => Arc::new(SigningKeyPair::generate()?),
    };
    Ok((keys, stray))
}

/// `bytes` random bytes from the OS-seeded thread RNG, base64url without padding: used for kids,
/// authorization codes and access tokens.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}
