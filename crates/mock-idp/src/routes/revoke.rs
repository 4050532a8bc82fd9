//! Token revocation (RFC 7009) at Auth0's path. Revoking a refresh token revokes its whole family;
//! revoking an access token makes userinfo refuse it. Unknown tokens are fine (§2.2): the client
//! only learns that, whatever it sent, that token no longer works.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::token::{OAuthError, client_request, no_store};
use crate::MockIdp;

/// Where the revocation endpoint lives, relative to the issuer (Auth0's path).
pub(crate) const PATH: &str = "/oauth/revoke";

/// `POST /oauth/revoke` with `token=...` (and an optional `token_type_hint`, which only orders the
/// lookup here), authenticated like the token endpoint.
pub(crate) async fn revoke(
    State(idp): State<MockIdp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke_token(&idp, &headers, &body) {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(err) => {
            tracing::info!(
                error = err.error,
                description = %err.description,
                "mock-idp refused a revocation request"
            );
            err.into_response()
        }
    }
}

fn revoke_token(idp: &MockIdp, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let (params, client_id) = client_request(idp, headers, body)?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::request("token is required"))?;
    idp.count_revocation();
    let refresh = idp.refresh_tokens();
    // A token of another client is left alone (§2.1); with one registered client this cannot
    // happen, but the check keeps the rule visible.
    let kind = match refresh.peek(token) {
        Some(grant) if grant.client_id == client_id => {
            refresh.revoke(token);
            "refresh token (and its family)"
        }
        Some(_) => "nothing (another client's token)",
        None if idp.grants().revoke_token(token) => "access token",
        None => "nothing (unknown token)",
    };
    tracing::info!(revoked = kind, "mock-idp answered a revocation request");
    Ok(())
}
