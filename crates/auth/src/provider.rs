//! Discovery, and the [`RelyingParty`] that holds what it found.

use crate::http::provider_client;
use crate::jwks::KeyCache;
use crate::metrics::{Endpoint, ProviderHealth, observe};
use crate::{AuthError, ProviderSettings};
use openidconnect::core::{CoreClient, CoreClientAuthMethod, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthType, ClientId, ClientSecret, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    ProviderMetadataWithLogout, reqwest,
};
use std::error::Error;
use std::time::Instant;
use url::Url;

/// The client type that discovery gives: authorization endpoint known, token and userinfo
/// endpoints "maybe" (discovery documents may omit them).
pub(crate) type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A relying party bound to one provider, made once at startup and shared by all requests.
pub struct RelyingParty {
    pub(crate) settings: ProviderSettings,
    pub(crate) client: DiscoveredClient,
    pub(crate) http: reqwest::Client,
    /// The issuer exactly as the provider declares it; ID tokens' `iss` must equal this.
    pub(crate) issuer: openidconnect::IssuerUrl,
    pub(crate) keys: KeyCache,
    pub(crate) signing_algs: Vec<CoreJwsSigningAlgorithm>,
    pub(crate) end_session_endpoint: Option<EndSessionUrl>,
    /// Whether discovery carried [`MOCK_IDP_MARKER`]: the provider is Sesame's own test IdP.
    pub(crate) is_mock_idp: bool,
    /// The RFC 7009 revocation endpoint, when discovery names one.
    pub(crate) revocation_endpoint: Option<Url>,
    /// Whether the client authenticates in the request body (`client_secret_post`) rather than
    /// with HTTP Basic: the revocation request must do as the token request does.
    pub(crate) client_secret_post: bool,
    /// Whether discovery says the provider sends back-channel logout tokens.
    pub(crate) backchannel_logout_supported: bool,
    /// What the last calls to the provider saw, for readiness reports.
    pub(crate) health: ProviderHealth,
}

/// The discovery field by which Sesame's mock IdP identifies itself, so that demo-only settings
/// (the compose file's public key) are refused with any real provider. A real provider has no
/// reason to send it; one that did would only lose Sesame's refusal of those settings.
pub const MOCK_IDP_MARKER: &str = "x_sesame_mock_idp";

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// Reads the provider's discovery document and signing keys. Fails, naming the URL tried,
    /// when the provider is unreachable, its document is invalid, or it declares another issuer.
    pub async fn discover(settings: ProviderSettings) -> Result<Self, AuthError> {
        let http = provider_client(settings.http_timeout)?;
        let discovery_url = discovery_url(&settings.issuer);
        let started = Instant::now();
        let fetched = fetch_metadata(&http, &discovery_url).await;
        observe(Endpoint::Discovery, started, fetched.is_ok(), None);
        let (metadata, extras) = fetched?;

        let declared = metadata.issuer().as_str();
        if !same_issuer(declared, settings.issuer.as_str()) {
            return Err(AuthError::IssuerMismatch {
                url: discovery_url.to_string(),
                configured: settings.issuer.to_string(),
                declared: declared.to_owned(),
            });
        }
        let issuer = metadata.issuer().clone();

        let keys = KeyCache::load(
            metadata.jwks_uri().clone(),
            &http,
            settings.jwks_refetch_interval,
        )
        .await?;

        // Never let a provider talk us into unsigned or MAC-signed ID tokens: "none" is the
        // classic downgrade, and HS* would make the client secret a signing key.
        let signing_algs: Vec<_> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|alg| {
                !matches!(alg, CoreJwsSigningAlgorithm::None) && !alg_uses_shared_secret(alg)
            })
            .cloned()
            .collect();
        if signing_algs.is_empty() {
            return Err(AuthError::Discovery {
                url: discovery_url.to_string(),
                reason: "id_token_signing_alg_values_supported lists no asymmetric algorithm"
                    .to_owned(),
            });
        }

        let auth_type = client_auth_type(metadata.token_endpoint_auth_methods_supported());
        let end_session_endpoint = metadata.additional_metadata().end_session_endpoint.clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(
                settings.client_secret.expose().to_owned(),
            )),
        )
        .set_auth_type(auth_type.clone())
        .set_redirect_uri(openidconnect::RedirectUrl::from_url(
            settings.redirect_url.clone(),
        ));

        tracing::info!(
            issuer = issuer.as_str(),
            client_auth = ?auth_type,
            end_session = end_session_endpoint.is_some(),
            "OpenID Connect provider discovered"
        );
        Ok(Self {
            settings,
            client,
            http,
            issuer,
            keys,
            signing_algs,
            end_session_endpoint,
            is_mock_idp: extras.is_mock_idp,
            revocation_endpoint: extras.revocation_endpoint,
            client_secret_post: matches!(auth_type, AuthType::RequestBody),
            backchannel_logout_supported: extras.backchannel_logout_supported,
            health: ProviderHealth::answered_now(),
        })
    }

    /// Whether the provider's discovery says it sends back-channel logout tokens (the endpoint
    /// works either way; this is for telling the operator).
    pub fn backchannel_logout_supported(&self) -> bool {
        self.backchannel_logout_supported
    }

    /// Whether the provider is Sesame's bundled mock IdP (its discovery says so).
    pub fn is_mock_idp(&self) -> bool {
        self.is_mock_idp
    }

    /// The provider's userinfo endpoint, when discovery names one: an API every provider has,
    /// which takes the user's access token.
    pub fn userinfo_endpoint(&self) -> Option<&Url> {
        self.client.user_info_url().map(|endpoint| endpoint.url())
    }

    /// The bound on any one call to the provider (`OIDC_HTTP_TIMEOUT`).
    pub fn http_timeout(&self) -> std::time::Duration {
        self.settings.http_timeout
    }

    /// The issuer as the provider declares it.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The provider's state as the last calls to it saw it (discovery at startup, then logins,
    /// refreshes, key refetches and revocations), read from memory: no call is made.
    pub fn provider_status(&self) -> crate::ProviderStatus {
        self.health.status()
    }

    /// Records one call to `endpoint` that started at `started` (metrics and status).
    pub(crate) fn observe(&self, endpoint: Endpoint, started: Instant, ok: bool) {
        observe(endpoint, started, ok, Some(&self.health));
    }
}

/// `{issuer}/.well-known/openid-configuration`, keeping any path the issuer has
/// (OpenID Connect Discovery 1.0 §4: append, don't replace).
fn discovery_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = format!(
        "{}/.well-known/openid-configuration",
        issuer.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url
}

/// What discovery says beyond what openidconnect's metadata type reads.
struct DiscoveryExtras {
    is_mock_idp: bool,
    revocation_endpoint: Option<Url>,
    backchannel_logout_supported: bool,
}

async fn fetch_metadata(
    http: &reqwest::Client,
    url: &Url,
) -> Result<(ProviderMetadataWithLogout, DiscoveryExtras), AuthError> {
    let failed = |reason: String| AuthError::Discovery {
        url: url.to_string(),
        reason,
    };
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|err| failed(error_chain(&err)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("HTTP status {status}")));
    }
    let body = response
        .bytes()
        .await
        .map_err(|err| failed(error_chain(&err)))?;
    let metadata = serde_json::from_slice(&body)
        .map_err(|err| failed(format!("not a valid discovery document: {err}")))?;
    let document = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let flag = |name: &str| {
        document
            .get(name)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    let revocation_endpoint = document
        .get("revocation_endpoint")
        .and_then(|v| v.as_str())
        .and_then(|text| Url::parse(text).ok())
        .filter(|endpoint| matches!(endpoint.scheme(), "https" | "http"));
    let extras = DiscoveryExtras {
        is_mock_idp: flag(MOCK_IDP_MARKER),
        revocation_endpoint,
        backchannel_logout_supported: flag("backchannel_logout_supported"),
    };
    Ok((metadata, extras))
}

/// Issuers compare exactly, except that a trailing slash is tolerated: people write
/// `https://tenant.auth0.com` for an issuer declared as `https://tenant.auth0.com/`, and Keycloak
/// declares `.../realms/x` without one. The declared value is the one tokens are checked against.
fn same_issuer(declared: &str, configured: &str) -> bool {
    declared.trim_end_matches('/') == configured.trim_end_matches('/')
}

fn alg_uses_shared_secret(alg: &CoreJwsSigningAlgorithm) -> bool {
    matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
    )
}

/// `client_secret_basic` is the spec's default when the provider says nothing; `_post` only when
/// it is advertised and basic is not.
fn client_auth_type(advertised: Option<&Vec<CoreClientAuthMethod>>) -> AuthType {
    match advertised {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

/// An error and its sources on one line, so "error sending request" says *why*.
pub(crate) fn error_chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_keeps_the_issuer_path() {
        let cases = [
            (
                "https://t.auth0.com/",
                "https://t.auth0.com/.well-known/openid-configuration",
            ),
            (
                "https://t.auth0.com",
                "https://t.auth0.com/.well-known/openid-configuration",
            ),
            (
                "http://kc:8080/realms/demo",
                "http://kc:8080/realms/demo/.well-known/openid-configuration",
            ),
            (
                "http://kc:8080/realms/demo/",
                "http://kc:8080/realms/demo/.well-known/openid-configuration",
            ),
        ];
        for (issuer, expected) in cases {
            let issuer = Url::parse(issuer).unwrap();
            assert_eq!(discovery_url(&issuer).as_str(), expected);
        }
    }

    #[test]
    fn issuers_match_up_to_a_trailing_slash_only() {
        assert!(same_issuer("https://a.example/", "https://a.example"));
        assert!(same_issuer(
            "https://a.example/realms/x",
            "https://a.example/realms/x/"
        ));
        assert!(!same_issuer("https://a.example/x", "https://a.example/y"));
        assert!(!same_issuer("https://evil.example/", "https://a.example/"));
    }

    #[test]
    fn basic_auth_unless_only_post_is_advertised() {
        use CoreClientAuthMethod::{ClientSecretBasic, ClientSecretPost};
        assert!(matches!(client_auth_type(None), AuthType::BasicAuth));
        assert!(matches!(
            client_auth_type(Some(&vec![ClientSecretPost, ClientSecretBasic])),
            AuthType::BasicAuth
        ));
        assert!(matches!(
            client_auth_type(Some(&vec![ClientSecretPost])),
            AuthType::RequestBody
        ));
    }
}
