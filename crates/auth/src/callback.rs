//! Completing a login: the callback checks, the code exchange, ID token verification, userinfo.

use crate::metrics::Endpoint;
use crate::provider::error_chain;
use crate::{AuthError, AuthenticatedUser, PendingLogin, RelyingParty, Secret, TokenSet};
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError,
    ClientId, ClientSecret, EmptyAdditionalClaims, HttpRequest, HttpResponse, Nonce,
    OAuth2TokenResponse, PkceCodeVerifier, RequestTokenError, SignatureVerificationError,
    TokenResponse, UserInfoError, reqwest,
};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

/// The query parameters the provider redirects back with. Every field is untrusted input.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    /// The authorization code, on success.
    pub code: Option<String>,
    /// The state we sent, echoed back.
    pub state: Option<String>,
    /// An OAuth error code, on failure (`access_denied`, ...).
    pub error: Option<String>,
    /// The provider's description of the error.
    pub error_description: Option<String>,
    /// The issuer of the response (RFC 9207), sent by providers that defend against mix-up
    /// attacks; when present it must be our provider's.
    pub iss: Option<String>,
}

impl RelyingParty {
    /// Checks the callback against `pending`, with no network call: the `state` must be this
    /// login's (checked before anything else the provider said, so an unsolicited callback —
    /// login CSRF — does not even get its error text shown as ours), the issuer (RFC 9207) ours
    /// when given, no error, the login not older than allowed, and a code present. Returns the
    /// code to [`redeem`](Self::redeem).
    pub fn check_callback<'p>(
        &self,
        pending: &PendingLogin,
        params: &'p CallbackParams,
    ) -> Result<&'p str, AuthError> {
        match params.state.as_deref() {
            Some(state) if pending.matches_state(state) => {}
            _ => return Err(AuthError::NoPendingLogin),
        }
        if let Some(iss) = &params.iss
            && iss != self.issuer.as_str()
        {
            return Err(AuthError::InvalidIssuer(format!(
                "the authorization response comes from {iss:?}, not {:?}",
                self.issuer.as_str()
            )));
        }
        if let Some(error) = &params.error {
            return Err(AuthError::ProviderRefused {
                error: error.clone(),
                description: params.error_description.clone(),
            });
        }
        let age = Utc::now().timestamp() - pending.started_at;
        if age < 0 || age as u64 > self.settings.pending_login_max_age.as_secs() {
            return Err(AuthError::LoginExpired);
        }
        params.code.as_deref().ok_or(AuthError::MissingCode)
    }

    /// Exchanges `code` (from [`check_callback`](Self::check_callback)) with the PKCE verifier
    /// and client secret, verifies the ID token against the pending login's nonce, and reads
    /// userinfo. This is the call that spends the client secret at the provider: the caller
    /// makes sure each pending login gets here at most once.
    pub async fn redeem(
        &self,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<CompletedLogin, AuthError> {
        let tokens = self.exchange_code(code, pending).await?;
        let id_token = tokens.id_token().ok_or(AuthError::MissingIdToken)?;
        let claims = self
            .verify_id_token(
                id_token,
                tokens.access_token(),
                ExpectedNonce::Exactly(pending.nonce.expose()),
            )
            .await?;
        let userinfo = self.fetch_userinfo(tokens.access_token(), &claims).await?;

        let mut user = AuthenticatedUser::from_verified(&claims, userinfo.as_ref());
        // openidconnect's claims type drops `sid` (not a claim it knows); it is read from the
        // payload of the token whose signature was just verified.
        user.provider_session = crate::refresh::unverified_claims(&id_token.to_string())
            .get("sid")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        Ok(CompletedLogin {
            user,
            tokens: token_set(&tokens, id_token, None),
        })
    }

    /// [`check_callback`](Self::check_callback) then [`redeem`](Self::redeem), for a caller
    /// that already guarantees `pending` is used once (it removed it from where it kept it).
    pub async fn complete_login(
        &self,
        pending: &PendingLogin,
        params: &CallbackParams,
    ) -> Result<CompletedLogin, AuthError> {
        let code = self.check_callback(pending, params)?;
        self.redeem(pending, code).await
    }

    async fn exchange_code(
        &self,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<CoreTokenResponse, AuthError> {
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|err| AuthError::TokenExchange(err.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pending.pkce_verifier.expose().to_owned(),
            ));
        let started = Instant::now();
        let response = request
            .request_async(&TokenEndpointClient(&self.http))
            .await;
        self.observe(Endpoint::Token, started, provider_answered(&response));
        response.map_err(describe_token_error)
    }

    /// Verifies signature, iss, aud, azp, exp, iat, nonce and at_hash. On an unknown signing key
    /// the JWKS is refetched (rate-limited) and verification tried once more: that is how a
    /// provider's key rotation is followed without a restart.
    pub(crate) async fn verify_id_token(
        &self,
        id_token: &CoreIdToken,
        access_token: &AccessToken,
        nonce: ExpectedNonce<'_>,
    ) -> Result<CoreIdTokenClaims, AuthError> {
        let keys = self.keys.current();
        match self.verify_with_keys(id_token, access_token, nonce, keys.clone()) {
            Err(AuthError::UnknownSigningKey(reason)) => {
                match self.keys.refetch(&keys, &self.http, &self.health).await? {
                    Some(fresh) => self.verify_with_keys(id_token, access_token, nonce, fresh),
                    None => Err(AuthError::UnknownSigningKey(reason)),
                }
            }
            other => other,
        }
    }

    fn verify_with_keys(
        &self,
        id_token: &CoreIdToken,
        access_token: &AccessToken,
        nonce: ExpectedNonce<'_>,
        keys: Arc<CoreJsonWebKeySet>,
    ) -> Result<CoreIdTokenClaims, AuthError> {
        let leeway = chrono::Duration::from_std(self.settings.clock_leeway)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.settings.client_id.clone()),
            ClientSecret::new(self.settings.client_secret.expose().to_owned()),
            self.issuer.clone(),
            (*keys).clone(),
        )
        .set_allowed_algs(self.signing_algs.iter().cloned())
        // Accept an `exp` up to `leeway` in the past: clocks drift.
        .set_time_fn(move || Utc::now() - leeway);
        let claims = id_token
            .claims(&verifier, |sent: Option<&Nonce>| nonce.check(sent))
            .map_err(describe_claims_error)?;

        if claims.issue_time() > Utc::now() + leeway {
            return Err(AuthError::IssuedInFuture(format!(
                "iat is {}",
                claims.issue_time()
            )));
        }
        check_authorized_party(claims, &self.settings.client_id)?;

        // at_hash is optional in the code flow, but when present it binds the access token to
        // this ID token, so a swapped access token is caught before we use it for userinfo.
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|err| AuthError::InvalidSignature(err.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|err| AuthError::UnknownSigningKey(err.to_string()))?;
            let actual = AccessTokenHash::from_token(access_token, alg, key)
                .map_err(|_| AuthError::InvalidAccessTokenHash)?;
            if actual != *expected {
                return Err(AuthError::InvalidAccessTokenHash);
            }
        }
        Ok(claims.clone())
    }

    /// Reads userinfo when the provider has the endpoint; its `sub` must be the ID token's, or a
    /// provider bug (or attacker) could attach another user's profile to this login.
    async fn fetch_userinfo(
        &self,
        access_token: &AccessToken,
        claims: &CoreIdTokenClaims,
    ) -> Result<Option<CoreUserInfoClaims>, AuthError> {
        let started = Instant::now();
        let Ok(request) = self
            .client
            .user_info(access_token.clone(), Some(claims.subject().clone()))
        else {
            // No userinfo endpoint advertised: the ID token's claims are all we get.
            return Ok(None);
        };
        let userinfo: Result<
            openidconnect::UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim>,
            _,
        > = request.request_async(&self.http).await;
        // A userinfo whose `sub` is not the ID token's is a well-formed answer.
        let answered = matches!(
            userinfo,
            Ok(_)
                | Err(UserInfoError::ClaimsVerification(
                    ClaimsVerificationError::InvalidSubject(_)
                ))
        );
        self.observe(Endpoint::Userinfo, started, answered);
        match userinfo {
            Ok(userinfo) => Ok(Some(userinfo)),
            Err(UserInfoError::ClaimsVerification(ClaimsVerificationError::InvalidSubject(_))) => {
                Err(AuthError::UserInfoSubjectMismatch)
            }
            Err(UserInfoError::Response(status, _, _)) => Err(AuthError::UserInfo(format!(
                "the provider answered HTTP {status}"
            ))),
            Err(UserInfoError::Parse(err)) => Err(AuthError::UserInfo(format!(
                "not a valid userinfo response at `{}`",
                err.path()
            ))),
            Err(err) => Err(AuthError::UserInfo(error_chain(&err))),
        }
    }
}

/// What an ID token's `nonce` must be.
#[derive(Clone, Copy)]
pub(crate) enum ExpectedNonce<'a> {
    /// At login: exactly the nonce this login sent (replay protection).
    Exactly(&'a str),
    /// In a refresh response (OpenID Connect Core §12.2): absent, or the original ID token's.
    AbsentOr(Option<&'a str>),
}

impl ExpectedNonce<'_> {
    fn check(self, sent: Option<&Nonce>) -> Result<(), String> {
        let sent = sent.map(|nonce| nonce.secret().as_str());
        let good = match (self, sent) {
            (Self::Exactly(expected), Some(sent)) => constant_time_eq(expected, sent),
            (Self::Exactly(_), None) => return Err("the ID token has no nonce".to_owned()),
            (Self::AbsentOr(_), None) => true,
            (Self::AbsentOr(original), Some(sent)) => {
                original.is_some_and(|original| constant_time_eq(original, sent))
            }
        };
        if good {
            Ok(())
        } else {
            Err("the ID token's nonce is not the one sent".to_owned())
        }
    }
}

/// A completed login: who logged in, and the tokens to keep for them (apart from the profile,
/// since a refresh replaces them).
#[derive(Debug, Clone)]
pub struct CompletedLogin {
    /// The user, from the verified ID token and userinfo.
    pub user: AuthenticatedUser,
    /// The provider's tokens.
    pub tokens: TokenSet,
}

/// The tokens of a token response; `previous_refresh_token` is kept when the response carries
/// none (a provider that does not rotate refresh tokens).
pub(crate) fn token_set(
    response: &CoreTokenResponse,
    id_token: &CoreIdToken,
    previous_refresh_token: Option<&Secret>,
) -> TokenSet {
    TokenSet {
        access_token: Secret::new(response.access_token().secret().clone()),
        access_token_expires_at: expiry_from(response.expires_in()),
        obtained_at: Utc::now().timestamp(),
        refresh_token: response
            .refresh_token()
            .map(|token| Secret::new(token.secret().clone()))
            .or_else(|| previous_refresh_token.cloned()),
        id_token: Secret::new(id_token.to_string()),
    }
}

/// OIDC Core §3.1.3.7 steps 4–5: with several audiences `azp` must be present, and when present
/// it must be us (openidconnect leaves this to the caller).
fn check_authorized_party(claims: &CoreIdTokenClaims, client_id: &str) -> Result<(), AuthError> {
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != client_id => Err(AuthError::InvalidAuthorizedParty(format!(
            "azp is `{}`, expected `{client_id}`",
            azp.as_str()
        ))),
        None if claims.audiences().len() > 1 => Err(AuthError::InvalidAuthorizedParty(
            "several audiences but no azp".to_owned(),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn describe_claims_error(err: ClaimsVerificationError) -> AuthError {
    match err {
        ClaimsVerificationError::InvalidIssuer(reason) => AuthError::InvalidIssuer(reason),
        ClaimsVerificationError::InvalidAudience(reason) => AuthError::InvalidAudience(reason),
        ClaimsVerificationError::Expired(reason) => AuthError::Expired(reason),
        ClaimsVerificationError::InvalidNonce(reason) => AuthError::InvalidNonce(reason),
        ClaimsVerificationError::SignatureVerification(
            err @ (SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_)),
        ) => AuthError::UnknownSigningKey(err.to_string()),
        ClaimsVerificationError::SignatureVerification(err) => {
            AuthError::InvalidSignature(err.to_string())
        }
        other => AuthError::InvalidIdToken(other.to_string()),
    }
}

/// The provider's HTTP client, for the token request only, with 5xx answers turned into errors.
///
/// A 5xx from the token endpoint usually carries an HTML or text body, which oauth2 reports as
/// an unparseable token response: the log would say "malformed" and hide the status that tells
/// an operator the provider is failing. Reported as a failed request, it names the status.
pub(crate) struct TokenEndpointClient<'a>(pub(crate) &'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for TokenEndpointClient<'_> {
    type Error = TokenHttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<HttpResponse, TokenHttpError>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self
                .0
                .call(request)
                .await
                .map_err(|err| TokenHttpError(error_chain(&err)))?;
            if response.status().is_server_error() {
                return Err(TokenHttpError(format!(
                    "the provider answered HTTP {}",
                    response.status()
                )));
            }
            Ok(response)
        })
    }
}

/// Why the token endpoint could not be talked to (network, timeout, a 5xx), already worded.
#[derive(Debug)]
pub(crate) struct TokenHttpError(String);

impl std::fmt::Display for TokenHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenHttpError {}

/// Describes a failed token request without echoing the response body: it may hold tokens.
pub(crate) fn describe_token_error<RE: std::error::Error + 'static>(
    err: RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> AuthError {
    match err {
        RequestTokenError::ServerResponse(response) => {
            AuthError::TokenExchange(format!("the provider answered `{}`", response.error()))
        }
        RequestTokenError::Request(err) => AuthError::TokenExchange(error_chain(&err)),
        RequestTokenError::Parse(err, _body) => {
            let inner = err.inner().to_string();
            // serde messages can quote the offending value (which may be a token); keep only
            // the ones that cannot.
            let what = if inner.contains("missing field") {
                inner
                    .split(" at line")
                    .next()
                    .unwrap_or("missing field")
                    .to_owned()
            } else {
                "unexpected content".to_owned()
            };
            AuthError::MalformedTokenResponse(format!("at `{}`: {what}", err.path()))
        }
        RequestTokenError::Other(reason) => AuthError::TokenExchange(reason),
    }
}

/// Whether the token endpoint answered as OAuth says it should: tokens, or an OAuth error
/// response (`invalid_grant` and the like are the provider working, not failing).
pub(crate) fn provider_answered<
    T,
    RE: std::error::Error + 'static,
    TE: openidconnect::ErrorResponse,
>(
    response: &Result<T, RequestTokenError<RE, TE>>,
) -> bool {
    matches!(response, Ok(_) | Err(RequestTokenError::ServerResponse(_)))
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// When an access token expires, as unix seconds, from its `expires_in`.
pub(crate) fn expiry_from(expires_in: Option<std::time::Duration>) -> Option<i64> {
    let expires_in = chrono::Duration::from_std(expires_in?).ok()?;
    let at: DateTime<Utc> = Utc::now().checked_add_signed(expires_in)?;
    Some(at.timestamp())
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }
}
