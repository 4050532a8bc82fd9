//! What a mock provider instance is: its issuer, its one registered client and the knobs that
//! change what it advertises. Per-login misbehaviour lives in [`crate::Misbehaviour`] instead.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::MockIdpError;
use crate::grants::TOKEN_LIFETIME;

/// The longest access-token lifetime accepted (a year): longer would only hide mistakes, and
/// keeps expiry arithmetic far from overflow.
pub const MAX_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Client authentication methods advertised (and accepted) unless told otherwise.
pub const DEFAULT_TOKEN_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The only client authentication methods this provider knows how to check.
const KNOWN_TOKEN_AUTH_METHODS: [&str; 2] = DEFAULT_TOKEN_AUTH_METHODS;

/// Configuration of one mock provider.
#[derive(Clone)]
pub struct MockIdpConfig {
    /// Public issuer URL. For a bare origin (`http://127.0.0.1:9000` or with a `/`), the issuer string
    /// is the origin *without* a trailing slash, because `url::Url` cannot remember whether one was
    /// typed; with a path (`http://h:1/t/x`) the path is kept exactly as given.
    /// [`crate::MockIdp::issuer`] returns the exact string published as `iss`.
    pub issuer: Url,
    /// The one registered client's ID.
    pub client_id: String,
    /// The one registered client's secret.
    pub client_secret: String,
    /// Registered redirect URIs, matched exactly. Empty accepts any http(s) URI: it is a test provider.
    pub redirect_uris: Vec<Url>,
    /// How many RSA keys the JWKS publishes; ID tokens are signed by the first.
    pub key_count: usize,
    /// Advertised `token_endpoint_auth_methods_supported`; only these are accepted at the token endpoint.
    pub token_auth_methods: Vec<String>,
    /// When set, discovery advertises this issuer instead of the real one (RPs must refuse it).
    pub discovery_issuer_override: Option<String>,
    /// Advertise `end_session_endpoint`. `false` behaves like Auth0, which only offers `/v2/logout`.
    pub end_session: bool,
    /// Say "I am Sesame's mock IdP" in discovery (`x_sesame_mock_idp`). `false` makes it look like
    /// any real provider, for tests of what Sesame accepts only with its own test IdP.
    pub identify_as_mock: bool,
    /// How long access tokens last (`expires_in`, and how long userinfo honours them); an hour by
    /// default. Zero is allowed (tokens expire at once, so an RP refreshes on every use); at most
    /// [`MAX_ACCESS_TOKEN_LIFETIME`]. Changeable at runtime with
    /// [`crate::MockIdp::set_access_token_lifetime`].
    pub access_token_lifetime: Duration,
    /// Back-channel logout URIs (OIDC Back-Channel Logout 1.0): every logout at the provider posts
    /// a logout token to each. More can be added at runtime with
    /// [`crate::MockIdp::add_backchannel_logout_uri`].
    pub backchannel_logout_uris: Vec<Url>,
}

impl Default for MockIdpConfig {
    fn default() -> Self {
        MockIdpConfig {
            issuer: Url::parse("http://localhost:9000").unwrap_or_else(|_| unreachable!()),
            client_id: "sesame".to_owned(),
            client_secret: "sesame-secret".to_owned(),
            redirect_uris: Vec::new(),
            key_count: 1,
            token_auth_methods: DEFAULT_TOKEN_AUTH_METHODS.map(String::from).to_vec(),
            discovery_issuer_override: None,
            end_session: true,
            identify_as_mock: true,
            access_token_lifetime: TOKEN_LIFETIME,
            backchannel_logout_uris: Vec::new(),
        }
    }
}

impl fmt::Debug for MockIdpConfig {
    // Hand-written so the client secret never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockIdpConfig")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field(
                "redirect_uris",
                &self
                    .redirect_uris
                    .iter()
                    .map(Url::as_str)
                    .collect::<Vec<_>>(),
            )
            .field("key_count", &self.key_count)
            .field("token_auth_methods", &self.token_auth_methods)
            .field("discovery_issuer_override", &self.discovery_issuer_override)
            .field("end_session", &self.end_session)
            .field("identify_as_mock", &self.identify_as_mock)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field(
                "backchannel_logout_uris",
                &self
                    .backchannel_logout_uris
                    .iter()
                    .map(Url::as_str)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl MockIdpConfig {
    /// Refuses configurations that could only produce a broken provider, before any key is made.
    pub(crate) fn validate(&self) -> Result<(), MockIdpError> {
        let invalid = |msg: String| Err(MockIdpError::InvalidConfig(msg));
        if !matches!(self.issuer.scheme(), "http" | "https") {
            return invalid(format!("issuer must be http(s), got {}", self.issuer));
        }
        if self.issuer.query().is_some() || self.issuer.fragment().is_some() {
            // OIDC Discovery §3: the issuer has no query or fragment.
            return invalid(format!(
                "issuer must not have a query or fragment: {}",
                self.issuer
            ));
        }
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return invalid("client_id and client_secret must not be empty".to_owned());
        }
        if self.key_count == 0 {
            return invalid("key_count must be at least 1".to_owned());
        }
        if self.token_auth_methods.is_empty() {
            return invalid("token_auth_methods must not be empty".to_owned());
        }
        if let Some(unknown) = self
            .token_auth_methods
            .iter()
            .find(|m| !KNOWN_TOKEN_AUTH_METHODS.contains(&m.as_str()))
        {
            return invalid(format!(
                "unsupported token auth method {unknown:?} (known: {})",
                KNOWN_TOKEN_AUTH_METHODS.join(", ")
            ));
        }
        if let Some(bad) = self
            .redirect_uris
            .iter()
            .find(|u| !matches!(u.scheme(), "http" | "https") || u.fragment().is_some())
        {
            return invalid(format!(
                "redirect URI must be http(s) without a fragment: {bad}"
            ));
        }
        if let Some(bad) = self
            .backchannel_logout_uris
            .iter()
            .find(|u| !matches!(u.scheme(), "http" | "https") || u.fragment().is_some())
        {
            // Back-Channel Logout §2.2: an absolute http(s) URI without a fragment.
            return invalid(format!(
                "back-channel logout URI must be http(s) without a fragment: {bad}"
            ));
        }
        if self.access_token_lifetime > MAX_ACCESS_TOKEN_LIFETIME {
            return invalid(format!(
                "access_token_lifetime must be at most {} seconds, got {}",
                MAX_ACCESS_TOKEN_LIFETIME.as_secs(),
                self.access_token_lifetime.as_secs()
            ));
        }
        Ok(())
    }

    /// The exact issuer string (see [`MockIdpConfig::issuer`] for the trailing-slash rule).
    pub(crate) fn issuer_string(&self) -> String {
        let s = self.issuer.as_str();
        if self.issuer.path() == "/" {
            s.trim_end_matches('/').to_owned()
        } else {
            s.to_owned()
        }
    }

    /// The issuer's path without a trailing slash ("" at the root): where the router is nested.
    pub(crate) fn path_prefix(&self) -> String {
        self.issuer.path().trim_end_matches('/').to_owned()
    }

    /// Whether the client may authenticate at the token endpoint with `method`.
    pub(crate) fn accepts_auth_method(&self, method: &str) -> bool {
        self.token_auth_methods.iter().any(|m| m == method)
    }
}
