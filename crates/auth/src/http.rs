//! The HTTP client used to talk to the provider.

use crate::AuthError;
use openidconnect::reqwest;
use std::time::Duration;

/// Builds the client for every provider call. Redirects are never followed: a provider endpoint
/// that redirects could otherwise point our server at internal addresses (SSRF), and the OIDC
/// endpoints we call have no business redirecting.
pub(crate) fn provider_client(timeout: Duration) -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| AuthError::Discovery {
            url: String::new(),
            reason: format!("could not build the HTTP client: {err}"),
        })
}
