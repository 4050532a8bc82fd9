//! The refresh-token grant (RFC 6749 §6, OIDC Core §12) with rotation: a good refresh token is
//! exchanged for new access, ID and refresh tokens and stops working itself; a retired one
//! presented again revokes its whole family (Auth0's reuse detection).

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;

use super::params::Params;
use super::token::{self, OAuthError};
use crate::grants::Grant;
use crate::refresh::RefreshError;
use crate::{Misbehaviour, MockIdp};

/// Every refresh answer waits this long. It widens the window in which a relying party without
/// single-flight refreshing would send a second refresh with the same token, so such an RP is
/// caught (the second request is a reuse) instead of getting lucky on a fast loopback.
pub(crate) const REFRESH_DELAY: Duration = Duration::from_millis(100);

/// `grant_type=refresh_token` from the authenticated `client_id`.
pub(super) async fn grant(
    idp: &MockIdp,
    params: &Params,
    client_id: &str,
) -> Result<Response, OAuthError> {
    // Rotation happens first (atomically), then the wait: a concurrent duplicate arriving during
    // the wait already finds the token retired.
    let outcome = rotate(idp, params, client_id);
    tokio::time::sleep(REFRESH_DELAY).await;
    outcome
}

fn rotate(idp: &MockIdp, params: &Params, client_id: &str) -> Result<Response, OAuthError> {
    let presented = params
        .get("refresh_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::request("refresh_token is required"))?;
    // Client and scope are checked before rotating, so a malformed request does not spend a
    // good token.
    if let Some(known) = idp.refresh_tokens().peek(presented) {
        if known.client_id != client_id {
            return Err(OAuthError::grant(
                "the refresh token was issued to another client",
            ));
        }
        // RFC 6749 §6: a refresh may ask for less than was granted, never more.
        if let Some(asked) = params.get("scope") {
            let granted: Vec<&str> = known.scope.split(' ').collect();
            if !asked.split(' ').all(|s| granted.contains(&s)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "a refresh cannot widen the granted scope",
                ));
            }
        }
    }
    let (next, refresh) = idp
        .refresh_tokens()
        .rotate(presented)
        .map_err(|err| match err {
            RefreshError::Unknown => OAuthError::grant("the refresh token is unknown"),
            RefreshError::Revoked => OAuthError::grant("the refresh token was revoked"),
            RefreshError::Reused => {
                idp.count_refresh_reuse();
                tracing::warn!(
                    "mock-idp saw a rotated refresh token reused; its whole family is revoked"
                );
                OAuthError::grant("the refresh token was already used; its family is revoked")
            }
        })?;
    let scope = params
        .get("scope")
        .map_or_else(|| refresh.scope.clone(), str::to_owned);
    // OIDC Core §12.2: same iss, sub, aud, azp and auth_time as the original ID token, fresh
    // iat/exp, and no nonce. Refreshed logins behave, except the one misbehaviour about them.
    let username = if refresh.other_subject_on_refresh {
        format!("{}-impostor", refresh.username)
    } else {
        refresh.username
    };
    let grant = Grant {
        client_id: refresh.client_id,
        redirect_uri: String::new(),
        code_challenge: String::new(),
        nonce: None,
        scope: scope.clone(),
        username,
        sid: refresh.sid,
        auth_time: refresh.auth_time,
        misbehaviour: Misbehaviour::None,
    };
    Ok(token::issue(idp, &grant, &scope, Some(next)))
}
