//! Why a mock provider could not be built.

/// Failure to create a [`crate::MockIdp`].
#[derive(Debug, thiserror::Error)]
pub enum MockIdpError {
    /// The configuration cannot describe a working provider; the message says which field is wrong.
    #[error("invalid mock IdP configuration: {0}")]
    InvalidConfig(String),
    /// RSA key generation failed (in practice only if the system RNG fails).
    #[error("could not generate an RSA signing key: {0}")]
    KeyGeneration(#[from] rsa::Error),
}
