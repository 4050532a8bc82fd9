//! Where to send the browser to end the provider's session too.

use crate::RelyingParty;
use url::Url;

impl RelyingParty {
    /// The provider logout URL: the discovered `end_session_endpoint` (RP-Initiated Logout 1.0)
    /// with `id_token_hint`, `post_logout_redirect_uri` and `client_id`; else Auth0's
    /// `/v2/logout?returnTo=&client_id=` when configured for Auth0; else `None`, and the caller
    /// just returns home (the provider's session stays, which is all such a provider allows).
    pub fn logout_url(&self, id_token_hint: Option<&str>) -> Option<Url> {
        let return_to = self.settings.post_logout_redirect_url.as_str();
        let client_id = self.settings.client_id.as_str();
        if let Some(endpoint) = &self.end_session_endpoint {
            let mut url = endpoint.url().clone();
            {
                let mut query = url.query_pairs_mut();
                if let Some(hint) = id_token_hint {
                    query.append_pair("id_token_hint", hint);
                }
                query
                    .append_pair("post_logout_redirect_uri", return_to)
                    .append_pair("client_id", client_id);
            }
            return Some(url);
        }
        if self.settings.auth0_logout_fallback {
            let mut url = Url::parse(self.issuer.as_str()).ok()?;
            url.set_path("/v2/logout");
            url.query_pairs_mut()
                .append_pair("returnTo", return_to)
                .append_pair("client_id", client_id);
            return Some(url);
        }
        None
    }
}
