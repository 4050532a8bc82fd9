//! Why a mock provider could not be built, or could not mint a token it was asked for.

/// Failure to create a [`crate::MockIdp`] or to mint a token with it.
#[derive(Debug, thiserror::Error)]
pub enum MockIdpError {
    /// The configuration cannot describe a working provider; the message says which field is wrong.
    #[error("invalid mock IdP configuration: {0}")]
    InvalidConfig(String),
    /// RSA key generation failed (in practice only if the system RNG fails).
    #[error("could not generate an RSA signing key: {0}")]
    KeyGeneration(#[from] rsa::Error),
    /// The HTTP client that delivers back-channel logout tokens could not be built.
    #[error("could not build the back-channel HTTP client: {0}")]
    HttpClient(String),
    /// A token could not be minted (signing failed).
    #[error("could not mint a token: {0}")]
    Token(String),
}
