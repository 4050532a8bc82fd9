//! Keeping a login's tokens current: the refresh grant (with the refreshed ID token checked as
//! OpenID Connect Core §12.2 asks) and revocation of the refresh token at logout (RFC 7009).

use crate::callback::{
    ExpectedNonce, TokenEndpointClient, describe_token_error, provider_answered, token_set,
};
use crate::metrics::Endpoint;
use crate::provider::error_chain;
use crate::{AuthError, RelyingParty, Secret, TokenSet};
use base64::Engine as _;
use openidconnect::core::{CoreErrorResponseType, CoreIdToken};
use openidconnect::{OAuth2TokenResponse, RefreshToken, RequestTokenError, TokenResponse};
use serde_json::Value;
use std::str::FromStr;
use std::time::Instant;

impl RelyingParty {
    /// Trades `tokens`' refresh token for new tokens. A new ID token in the answer is verified
    /// like a login's (signature, `iss`, `aud`, `azp`, `exp`, `at_hash`) and must describe the
    /// same login: same `sub`, same `auth_time` when the first had one, and no `nonce` other
    /// than the first one's. A provider that does not rotate refresh tokens keeps the old one.
    ///
    /// [`AuthError::RefreshRefused`] means the provider will not refresh this login any more
    /// (`invalid_grant`: revoked, expired, or a rotated token presented again): the caller ends
    /// the session. Other errors are transient (network, 5xx) and worth a retry later.
    pub async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, AuthError> {
        let refresh_token = tokens
            .refresh_token
            .as_ref()
            .ok_or(AuthError::NoRefreshToken)?;
        let refresh_token_value = RefreshToken::new(refresh_token.expose().to_owned());
        let request = self
            .client
            .exchange_refresh_token(&refresh_token_value)
            .map_err(|err| AuthError::TokenExchange(err.to_string()))?;
        let started = Instant::now();
        let response = request
            .request_async(&TokenEndpointClient(&self.http))
            .await;
        self.observe(Endpoint::Token, started, provider_answered(&response));
        let response = response.map_err(|err| match err {
            RequestTokenError::ServerResponse(response)
                if *response.error() == CoreErrorResponseType::InvalidGrant =>
            {
                AuthError::RefreshRefused
            }
            other => describe_token_error(other),
        })?;

        let original = unverified_claims(tokens.id_token.expose());
        let id_token = match response.id_token() {
            Some(fresh) => {
                self.check_refreshed_id_token(fresh, response.access_token(), &original)
                    .await?;
                fresh.clone()
            }
            None => CoreIdToken::from_str(tokens.id_token.expose())
                .map_err(|err| AuthError::MalformedTokenResponse(err.to_string()))?,
        };
        Ok(token_set(&response, &id_token, Some(refresh_token)))
    }

    async fn check_refreshed_id_token(
        &self,
        fresh: &CoreIdToken,
        access_token: &openidconnect::AccessToken,
        original: &serde_json::Map<String, Value>,
    ) -> Result<(), AuthError> {
        let original_nonce = original.get("nonce").and_then(Value::as_str);
        let claims = self
            .verify_id_token(fresh, access_token, ExpectedNonce::AbsentOr(original_nonce))
            .await?;
        let original_subject = original.get("sub").and_then(Value::as_str);
        if original_subject != Some(claims.subject().as_str()) {
            return Err(AuthError::RefreshedIdTokenMismatch(
                "its `sub` is not the login's".to_owned(),
            ));
        }
        let original_auth_time = original.get("auth_time").and_then(Value::as_i64);
        let fresh_auth_time = claims.auth_time().map(|at| at.timestamp());
        if original_auth_time.is_some() && fresh_auth_time != original_auth_time {
            return Err(AuthError::RefreshedIdTokenMismatch(
                "its `auth_time` is not the login's".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether the provider offers token revocation (RFC 7009).
    pub fn can_revoke(&self) -> bool {
        self.revocation_endpoint.is_some()
    }

    /// Revokes `refresh_token` at the provider's revocation endpoint (RFC 7009), authenticated
    /// as at the token endpoint; does nothing when the provider has none. A provider answers 200
    /// even for a token it does not know, so an error here is a transport or auth problem.
    pub async fn revoke_refresh_token(&self, refresh_token: &Secret) -> Result<(), AuthError> {
        let Some(endpoint) = &self.revocation_endpoint else {
            return Ok(());
        };
        let failed = |reason: String| AuthError::Revocation(reason);
        let client_id = &self.settings.client_id;
        let client_secret = self.settings.client_secret.expose();
        let mut form = vec![
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ];
        let mut request = self.http.post(endpoint.clone());
        if self.client_secret_post {
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret));
        } else {
            // RFC 6749 §2.3.1: both halves form-encoded before Basic encoding.
            let encode = |text: &str| {
                url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
            };
            let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(client_id),
                encode(client_secret)
            ));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        let started = Instant::now();
        let response = request.form(&form).send().await;
        let answered = response
            .as_ref()
            .is_ok_and(|response| response.status().is_success());
        self.observe(Endpoint::Revocation, started, answered);
        let response = response.map_err(|err| failed(error_chain(&err)))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failed(format!(
                "the provider answered HTTP {}",
                response.status()
            )))
        }
    }
}

/// The claims of a JWT whose signature was verified already (at login, or just now), read
/// without verifying again. Empty when unreadable.
pub(crate) fn unverified_claims(jwt: &str) -> serde_json::Map<String, Value> {
    jwt.split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
