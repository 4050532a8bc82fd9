//! Every way discovery or a login can fail, one documented variant each.
//!
//! Messages name what went wrong and where (URLs, claim names), never a token or a secret:
//! they are logged as they are.

/// A failure of the relying party. Startup failures come from [`crate::RelyingParty::discover`];
/// the rest are refusals of one login, which the web layer turns into an error page.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The discovery document could not be fetched or parsed.
    #[error("OpenID Connect discovery failed at {url}: {reason}")]
    Discovery {
        /// The discovery URL that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The provider declares an issuer other than the configured one: tokens it signs would carry
    /// an `iss` we could not trust, so we refuse to start.
    #[error("the provider at {url} declares issuer `{declared}`, but `{configured}` is configured")]
    IssuerMismatch {
        /// The discovery URL that was tried.
        url: String,
        /// The issuer from configuration.
        configured: String,
        /// The issuer the discovery document declares.
        declared: String,
    },
    /// The provider's signing keys (JWKS) could not be fetched or parsed.
    #[error("fetching the provider's signing keys from {url} failed: {reason}")]
    Jwks {
        /// The `jwks_uri` that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The callback carries an OAuth error from the provider (e.g. `access_denied`).
    // Debug formatting quotes and escapes the provider's text: it is untrusted, and a raw
    // newline in it could forge log lines.
    #[error("the provider returned {error:?}: {description:?}")]
    ProviderRefused {
        /// The OAuth error code.
        error: String,
        /// The provider's human-readable description, untrusted text.
        description: Option<String>,
    },
    /// The callback has no `code` parameter.
    #[error("the callback has no authorization code")]
    MissingCode,
    /// The callback's `state` is missing or matches no login this browser started: a bookmark,
    /// a replay, a forged or crossed callback (CSRF protection), or a login started in a browser
    /// session that has since ended.
    #[error("callback with no matching pending login")]
    NoPendingLogin,
    /// The pending login is older than allowed.
    #[error("the pending login is too old")]
    LoginExpired,
    /// The token request failed: network, timeout, an error status, or an OAuth error response.
    #[error("the token request failed: {0}")]
    TokenExchange(String),
    /// The token response is not a valid token response (bad JSON, or an ID token that does not
    /// even parse as a JWT with the required claims).
    #[error("the token response is malformed: {0}")]
    MalformedTokenResponse(String),
    /// The token response carries no ID token.
    #[error("the token response has no id_token")]
    MissingIdToken,
    /// The ID token's `iss` is not the provider's issuer.
    #[error("ID token issuer is wrong: {0}")]
    InvalidIssuer(String),
    /// The ID token's `aud` does not contain our client ID, or lists untrusted audiences.
    #[error("ID token audience is wrong: {0}")]
    InvalidAudience(String),
    /// The ID token's `azp` is not our client ID, or is missing with several audiences.
    #[error("ID token authorized party is wrong: {0}")]
    InvalidAuthorizedParty(String),
    /// The ID token has expired (past `exp` plus leeway).
    #[error("ID token has expired: {0}")]
    Expired(String),
    /// The ID token's `iat` is in the future (beyond leeway).
    #[error("ID token was issued in the future: {0}")]
    IssuedInFuture(String),
    /// The ID token's `nonce` is missing or differs from the one this login sent (replay).
    #[error("ID token nonce is wrong: {0}")]
    InvalidNonce(String),
    /// The ID token's signature does not verify, or its algorithm is not allowed (e.g. `none`).
    #[error("ID token signature is invalid: {0}")]
    InvalidSignature(String),
    /// No key in the provider's JWKS matches the ID token, even after refetching it; or the token
    /// names no `kid` while several keys could match.
    #[error("no signing key matches the ID token: {0}")]
    UnknownSigningKey(String),
    /// The ID token's `at_hash` does not match the access token.
    #[error("ID token at_hash does not match the access token")]
    InvalidAccessTokenHash,
    /// Another ID token claim check failed.
    #[error("ID token is invalid: {0}")]
    InvalidIdToken(String),
    /// The userinfo request failed or its answer was not valid.
    #[error("the userinfo request failed: {0}")]
    UserInfo(String),
    /// Userinfo describes a different subject than the ID token (token substitution).
    #[error("userinfo `sub` differs from the ID token's")]
    UserInfoSubjectMismatch,
    /// A refresh was asked for, but the login has no refresh token (the provider issued none:
    /// Auth0 needs the `offline_access` scope).
    #[error("the login has no refresh token")]
    NoRefreshToken,
    /// The provider refused the refresh token (`invalid_grant`: revoked, expired, or a rotated
    /// one presented again). The login cannot be kept going; the user must log in again.
    #[error("the provider refused the refresh token (invalid_grant)")]
    RefreshRefused,
    /// The ID token of a refresh response does not describe the same login (OpenID Connect
    /// Core §12.2).
    #[error("the refreshed ID token does not match the login: {0}")]
    RefreshedIdTokenMismatch(String),
    /// Revoking the refresh token at the provider failed.
    #[error("revoking the refresh token failed: {0}")]
    Revocation(String),
    /// A back-channel `logout_token` failed verification (Back-Channel Logout 1.0 §2.6).
    #[error("the logout token is invalid: {0}")]
    InvalidLogoutToken(String),
}

impl AuthError {
    /// The variant's name in snake case: a fixed word per kind of failure, for a metric label
    /// or a count. Never the message, which quotes what the provider or the client sent.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Discovery { .. } => "discovery",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::Jwks { .. } => "jwks",
            Self::ProviderRefused { .. } => "provider_refused",
            Self::MissingCode => "missing_code",
            Self::NoPendingLogin => "no_pending_login",
            Self::LoginExpired => "login_expired",
            Self::TokenExchange(_) => "token_exchange",
            Self::MalformedTokenResponse(_) => "malformed_token_response",
            Self::MissingIdToken => "missing_id_token",
            Self::InvalidIssuer(_) => "invalid_issuer",
            Self::InvalidAudience(_) => "invalid_audience",
            Self::InvalidAuthorizedParty(_) => "invalid_authorized_party",
            Self::Expired(_) => "expired",
            Self::IssuedInFuture(_) => "issued_in_future",
            Self::InvalidNonce(_) => "invalid_nonce",
            Self::InvalidSignature(_) => "invalid_signature",
            Self::UnknownSigningKey(_) => "unknown_signing_key",
            Self::InvalidAccessTokenHash => "invalid_access_token_hash",
            Self::InvalidIdToken(_) => "invalid_id_token",
            Self::UserInfo(_) => "userinfo",
            Self::UserInfoSubjectMismatch => "userinfo_subject_mismatch",
            Self::NoRefreshToken => "no_refresh_token",
            Self::RefreshRefused => "refresh_refused",
            Self::RefreshedIdTokenMismatch(_) => "refreshed_id_token_mismatch",
            Self::Revocation(_) => "revocation",
            Self::InvalidLogoutToken(_) => "invalid_logout_token",
        }
    }
}
