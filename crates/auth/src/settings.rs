//! What the relying party needs to know about the provider and about itself.

use crate::Secret;
use std::time::Duration;
use url::Url;

/// Settings for one provider, already validated by the caller's configuration layer.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The issuer as configured (`OIDC_ISSUER`, or `https://{AUTH0_DOMAIN}/`). A trailing slash
    /// difference from what discovery declares is tolerated; the declared one is then used.
    pub issuer: Url,
    /// The OAuth client ID registered at the provider.
    pub client_id: String,
    /// The client secret registered at the provider.
    pub client_secret: Secret,
    /// Optional API audience, sent as `audience` on the authorization request (Auth0).
    pub audience: Option<String>,
    /// The scopes asked for at login (`openid` is always sent). `offline_access` asks for a
    /// refresh token (Auth0 issues one only then).
    pub scopes: Vec<String>,
    /// Where the provider sends the browser back: `{APP_BASE_URL}/callback`.
    pub redirect_url: Url,
    /// Where the provider sends the browser after logout: `{APP_BASE_URL}/`.
    pub post_logout_redirect_url: Url,
    /// Use Auth0's `/v2/logout` when discovery has no `end_session_endpoint`.
    pub auth0_logout_fallback: bool,
    /// Clock skew tolerated on `exp` and `iat`.
    pub clock_leeway: Duration,
    /// Upper bound for any single call to the provider (discovery, JWKS, token, userinfo).
    pub http_timeout: Duration,
    /// How long a pending login stays valid between `/login` and `/callback`.
    pub pending_login_max_age: Duration,
    /// The shortest interval between two JWKS refetches triggered by an unknown `kid`, so a
    /// stream of hostile tokens cannot make us hammer the provider.
    pub jwks_refetch_interval: Duration,
}

impl ProviderSettings {
    /// The scopes asked for unless configured otherwise: the quickstart's.
    pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

    /// Settings with the usual defaults for the tunables, no audience and no Auth0 fallback.
    pub fn new(
        issuer: Url,
        client_id: impl Into<String>,
        client_secret: Secret,
        redirect_url: Url,
        post_logout_redirect_url: Url,
    ) -> Self {
        Self {
            issuer,
            client_id: client_id.into(),
            client_secret,
            audience: None,
            scopes: Self::DEFAULT_SCOPES.map(str::to_owned).to_vec(),
            redirect_url,
            post_logout_redirect_url,
            auth0_logout_fallback: false,
            clock_leeway: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
            pending_login_max_age: Duration::from_secs(15 * 60),
            jwks_refetch_interval: Duration::from_secs(10),
        }
    }
}
