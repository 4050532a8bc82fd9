//! The token endpoint (RFC 6749 §4.1.3, OIDC Core §3.1.3): authenticates the client, redeems a
//! single-use code after checking redirect URI and PKCE, and returns an access token and ID token
//! (and a refresh token for `offline_access`). The refresh grant lives in [`super::refresh`].

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::authorize::is_pkce_value;
use super::params::Params;
use crate::grants::{Grant, IssuedToken, RedeemError, unix_now};
use crate::id_token::{self, IdTokenInput};
use crate::keys::random_token;
use crate::refresh::RefreshGrant;
use crate::{Misbehaviour, MockIdp, jwt};

/// Where the token endpoint lives, relative to the issuer (Auth0's path).
pub(crate) const PATH: &str = "/oauth/token";

/// How long `token-slow` stalls: longer than any sane RP timeout.
const SLOW_DELAY: Duration = Duration::from_secs(30);

/// `POST /oauth/token`: the authorization-code grant here, the refresh grant in [`super::refresh`].
pub(crate) async fn exchange(
    State(idp): State<MockIdp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    idp.count_token_request();
    // Counted before anything can fail, so a test sees every refresh attempt an RP made.
    let is_refresh = Params::parse(&body).get("grant_type") == Some("refresh_token");
    if is_refresh {
        idp.count_refresh_request();
    }
    let result = match client_request(&idp, &headers, &body) {
        Err(err) => Err(err),
        Ok((params, client_id)) => match params.get("grant_type") {
            Some("authorization_code") => match redeem(&idp, &params, &client_id) {
                Ok(grant) => Ok(respond(&idp, grant).await),
                Err(err) => Err(err),
            },
            Some("refresh_token") => super::refresh::grant(&idp, &params, &client_id).await,
            None => Err(OAuthError::request("grant_type is required")),
            Some(_) => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only authorization_code and refresh_token are supported",
            )),
        },
    };
    result.unwrap_or_else(|err| {
        tracing::info!(
            error = err.error,
            description = %err.description,
            "mock-idp refused a token request"
        );
        err.into_response()
    })
}

/// What the token and revocation endpoints share: a form body without repeated parameters, from
/// an authenticated client. Returns the parameters and the client ID.
pub(super) fn client_request(
    idp: &MockIdp,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, String), OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(name) = params.repeated() {
        return Err(OAuthError::request(format!(
            "the parameter {name} is repeated"
        )));
    }
    let client_id = authenticate_client(idp, headers, &params)?;
    Ok((params, client_id))
}

/// Redeems the code (the authorization-code grant): any failure is an RFC 6749 §5.2 error.
fn redeem(idp: &MockIdp, params: &Params, client_id: &str) -> Result<Grant, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::request("code is required"))?;
    // Taken out before the remaining checks: a code that fails them is burned, so PKCE cannot
    // be guessed.
    let grant = idp.grants().redeem_code(code).map_err(|err| match err {
        RedeemError::Unknown => OAuthError::grant("the code is unknown or was already used"),
        RedeemError::Expired => OAuthError::grant("the code has expired"),
    })?;
    if grant.client_id != client_id {
        return Err(OAuthError::grant("the code was issued to another client"));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::request("code_verifier is required (PKCE)"))?;
    if !is_pkce_value(verifier) {
        return Err(OAuthError::request("code_verifier is malformed"));
    }
    if jwt::pkce_s256(verifier) != grant.code_challenge {
        return Err(OAuthError::grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    Ok(grant)
}

/// Client authentication (RFC 6749 §2.3.1): HTTP Basic or body credentials, whichever is
/// advertised, never both. Returns the authenticated client ID.
fn authenticate_client(
    idp: &MockIdp,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, OAuthError> {
    let config = idp.config();
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            parse_basic(value)
                .ok_or_else(|| OAuthError::client("malformed HTTP Basic credentials"))?,
        ),
    };
    let body_secret = params.get("client_secret");
    let (id, secret, method) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (id, secret, "client_secret_basic")
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::request("client_id is required"))?;
            (id.to_owned(), secret.to_owned(), "client_secret_post")
        }
        (None, None) => return Err(OAuthError::client("client authentication is required")),
    };
    if !config.accepts_auth_method(method) {
        return Err(OAuthError::client(format!(
            "{method} is not an accepted authentication method"
        )));
    }
    if id != config.client_id || secret != config.client_secret {
        return Err(OAuthError::client("unknown client or wrong secret"));
    }
    Ok(id)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, decoded. RFC 6749 §2.3.1 has clients
/// form-urlencode both parts before joining them, so a `:` in the ID cannot confuse the split.
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte).
fn form_decode(component: &str) -> Option<String> {
    // A raw '&' cannot occur in an encoded component, and would end the pair parsed below.
    if component.contains('&') {
        return None;
    }
    // Parsed as the value of a one-pair form to reuse `url`'s decoder (bad UTF-8 becomes U+FFFD).
    url::form_urlencoded::parse(format!("v={component}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
}

/// Answers a redeemed code: tokens, or whichever token-endpoint misbehaviour the login asked for.
async fn respond(idp: &MockIdp, grant: Grant) -> Response {
    match grant.misbehaviour {
        Misbehaviour::TokenError500 => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock-idp: internal error (token-error-500)",
            )
                .into_response();
        }
        Misbehaviour::TokenInvalidJson => {
            // Claims to be JSON so the RP's parser, not its content-type check, is what trips.
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "<html>this is not JSON (token-invalid-json)</html>",
            )
                .into_response();
        }
        Misbehaviour::TokenSlow => tokio::time::sleep(SLOW_DELAY).await,
        Misbehaviour::TokenErrorForgedLine => {
            let error = format!("invalid_grant\n{}", crate::misbehaviour::LOG_FORGING_LINE);
            return (
                StatusCode::BAD_REQUEST,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(serde_json::json!({ "error": error })),
            )
                .into_response();
        }
        _ => {}
    }
    // Auth0 issues a refresh token only when offline_access was asked for (and granted).
    let refresh_token = grant
        .scope
        .split(' ')
        .any(|s| s == "offline_access")
        .then(|| {
            idp.refresh_tokens().issue(RefreshGrant {
                client_id: grant.client_id.clone(),
                username: grant.username.clone(),
                sid: grant.sid.clone(),
                scope: grant.scope.clone(),
                auth_time: grant.auth_time,
                other_subject_on_refresh: grant.misbehaviour == Misbehaviour::RefreshOtherSubject,
            })
        });
    issue(idp, &grant, &grant.scope, refresh_token)
}

/// Mints an access token and ID token for `grant` and answers with them (RFC 6749 §5.1), plus
/// `refresh_token` when there is one. Shared by both grants.
pub(super) fn issue(
    idp: &MockIdp,
    grant: &Grant,
    scope: &str,
    refresh_token: Option<String>,
) -> Response {
    let keys = idp.signing_keys();
    let Some(key) = keys.first() else {
        return OAuthError::server("no signing key").into_response();
    };
    let access_token = random_token(32);
    let minted = id_token::mint(&IdTokenInput {
        issuer: idp.issuer(),
        grant,
        access_token: &access_token,
        now: unix_now(),
        key,
        stray_key: idp.stray_key(),
    });
    let id_token = match minted {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(%err, "mock-idp could not mint an ID token");
            return OAuthError::server("could not mint the ID token").into_response();
        }
    };
    let lifetime = idp.access_token_lifetime();
    idp.grants().insert_token(
        access_token.clone(),
        IssuedToken {
            username: grant.username.clone(),
            misbehaviour: grant.misbehaviour,
        },
        lifetime,
    );
    tracing::info!(
        username = %grant.username,
        misbehaviour = %grant.misbehaviour,
        refresh_token = refresh_token.is_some(),
        "mock-idp issued tokens"
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "id_token": id_token,
        "scope": scope,
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    no_store((StatusCode::OK, Json(body)).into_response())
}

/// RFC 6749 §5.1: token responses must not be cached.
pub(super) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 6749 §5.2 error response.
pub(super) struct OAuthError {
    status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
    pub(super) fn request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    pub(super) fn grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
    pub(super) fn client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }
    pub(super) fn server(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = no_store((self.status, Json(body)).into_response());
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 must say which scheme to use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mock-idp\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // id "a:b", secret "p+q %" → form-encoded "a%3Ab" and "p%2Bq+%25".
        let header =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("a%3Ab:p%2Bq+%25")))
                .unwrap();
        assert_eq!(
            parse_basic(&header),
            Some(("a:b".to_owned(), "p+q %".to_owned()))
        );
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer x")), None);
    }
}
