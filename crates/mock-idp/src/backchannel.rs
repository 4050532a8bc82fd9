//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0 §2.5): the provider POSTs a
//! logout token to every registered back-channel URI and waits for the answers, so that by the
//! time the browser is redirected back, each relying party has already ended its sessions.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use crate::MockIdp;
use crate::logout_token::{self, LogoutTokenFlaw, Subject};

/// How long one delivery may take. §2.5 leaves it to the OP; five seconds is long for a loopback
/// test yet short enough that a dead RP cannot stall a logout for long.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of posting one logout token to one back-channel URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Where it was posted.
    pub uri: String,
    /// The relying party's HTTP status, or `None` if no answer came (see `error`).
    pub status: Option<u16>,
    /// Why no answer came (connection refused, timeout), if so.
    pub error: Option<String>,
}

impl Delivery {
    /// `{"uri": .., "status": 200}`, with `"error"` when there was no status.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({ "uri": self.uri, "status": self.status });
        if let Some(error) = &self.error {
            v["error"] = json!(error);
        }
        v
    }
}

/// Builds the client that delivers logout tokens: no redirects (§2.5 has the RP answer directly)
/// and a bounded wait.
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Delivers a valid logout token about `who` to every registered URI, concurrently, and returns
/// the outcomes in registration order. Each URI gets a token of its own (its own `jti`), so RPs
/// that share a replay cache do not mistake the second copy for a replay.
pub(crate) async fn deliver(idp: &MockIdp, who: &Subject) -> Vec<Delivery> {
    let uris = idp.backchannel_logout_uris();
    let mut pending = Vec::with_capacity(uris.len());
    for uri in uris {
        let token = logout_token::mint(idp, who, LogoutTokenFlaw::None);
        let http = idp.http().clone();
        pending.push((
            uri.to_string(),
            tokio::spawn(async move { post(&http, uri, token).await }),
        ));
    }
    let mut deliveries = Vec::with_capacity(pending.len());
    for (uri, task) in pending {
        let (status, error) = match task.await {
            Ok(result) => result,
            Err(err) => (None, Some(format!("delivery task failed: {err}"))),
        };
        idp.count_backchannel_delivery();
        match (&status, &error) {
            (Some(status), _) => {
                tracing::info!(%uri, status, "mock-idp delivered a back-channel logout token");
            }
            (None, error) => {
                tracing::warn!(%uri, ?error, "mock-idp could not deliver a back-channel logout token");
            }
        }
        deliveries.push(Delivery { uri, status, error });
    }
    deliveries
}

/// One POST of `logout_token=...` (§2.5). Errors are described without the token.
async fn post(
    http: &reqwest::Client,
    uri: Url,
    token: Result<String, crate::jwt::JwtError>,
) -> (Option<u16>, Option<String>) {
    let token = match token {
        Ok(token) => token,
        Err(err) => {
            return (
                None,
                Some(format!("could not mint the logout token: {err}")),
            );
        }
    };
    match http.post(uri).form(&[("logout_token", token)]).send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        // without_url: the error's text then names the failure, not the address twice.
        Err(err) => (None, Some(err.without_url().to_string())),
    }
}
