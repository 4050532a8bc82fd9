//! `POST {backchannel_logout}`: OpenID Connect Back-Channel Logout 1.0, the provider telling
//! the app that a provider session (`sid`) or a user (`sub`) logged out.
//!
//! The provider POSTs a signed `logout_token`; once verified (see
//! `sesame_auth::RelyingParty::verify_logout_token`) and seen for the first time (its `jti` is
//! claimed once in the shared store, so a replay ends nothing), every session of that provider
//! session, or every session of that user, ends on every instance sharing the store. Answers
//! are JSON, never cached: 200 when done, 400 for a token that fails any check. Addresses that
//! keep sending bad tokens are slowed like failed callbacks (their own budget).

use crate::limits::client_address;
use crate::{Sesame, sessions};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A logout token is a JWT of a kilobyte or two; anything much bigger is not one.
const MAX_BODY: usize = 64 * 1024;

pub(crate) async fn backchannel_logout(State(sesame): State<Sesame>, request: Request) -> Response {
    let client = client_address(
        request.extensions(),
        request.headers(),
        sesame.trusted_proxies(),
    );
    let limiter = sesame.backchannel_limiter();
    let reserved = match limiter.reserve(client) {
        Ok(reserved) => reserved,
        Err(retry_after) => {
            tracing::warn!(
                "back-channel logout refused: too many invalid tokens from this address"
            );
            let mut response = answer(
                StatusCode::TOO_MANY_REQUESTS,
                Some(("slow_down", "too many invalid logout tokens")),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
            return response;
        }
    };
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return refuse("the request body is unreadable or too large"),
    };
    let token = match logout_token_of(&body) {
        Ok(token) => token,
        Err(reason) => return refuse(reason),
    };
    let verified = match sesame.relying_party().verify_logout_token(&token).await {
        Ok(verified) => verified,
        Err(err) => {
            tracing::warn!(reason = ?err.to_string(), "back-channel logout refused");
            return answer(
                StatusCode::BAD_REQUEST,
                Some(("invalid_request", "the logout token is invalid")),
            );
        }
    };
    // Remembered for as long as the token itself would be accepted: after that, the `iat`
    // check refuses a replay anyway.
    let now = chrono::Utc::now().timestamp();
    let remember = Duration::from_secs(
        u64::try_from(verified.acceptable_until.saturating_sub(now)).unwrap_or(0) + 60,
    );
    let jti_key = format!("logout-jti:{:x}", Sha256::digest(verified.jti.as_bytes()));
    match sesame.store().claim_once(&jti_key, remember).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("back-channel logout refused: the token was already used (replay)");
            return answer(
                StatusCode::BAD_REQUEST,
                Some(("invalid_request", "the logout token was already used")),
            );
        }
        Err(err) => return unavailable(&err),
    }
    limiter.refund(reserved);
    let ended = match (&verified.sid, &verified.sub) {
        (Some(sid), subject) => {
            sessions::end_provider_session(&sesame, sid, subject.as_deref()).await
        }
        (None, Some(subject)) => sessions::end_user(&sesame, subject).await,
        // The verifier refuses a token with neither.
        (None, None) => Ok(0),
    };
    match ended {
        Ok(count) => {
            crate::metrics::logout(crate::metrics::LogoutKind::Backchannel);
            tracing::info!(
                sessions_ended = count,
                by = if verified.sid.is_some() { "sid" } else { "sub" },
                "back-channel logout"
            );
            answer(StatusCode::OK, None)
        }
        Err(err) => unavailable(&err),
    }
}

/// The one `logout_token` form field (a repeated one is refused: which would we believe?).
fn logout_token_of(body: &Bytes) -> Result<String, &'static str> {
    let mut token = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == "logout_token" {
            if token.is_some() {
                return Err("`logout_token` appears twice");
            }
            token = Some(value.into_owned());
        }
    }
    token
        .filter(|token| !token.is_empty())
        .ok_or("the form has no `logout_token`")
}

fn refuse(reason: &'static str) -> Response {
    tracing::warn!(reason, "back-channel logout refused");
    answer(StatusCode::BAD_REQUEST, Some(("invalid_request", reason)))
}

fn unavailable(err: &sesame_store::StoreError) -> Response {
    tracing::error!(error = ?err.to_string(), "back-channel logout could not reach the session store");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        Some((
            "temporarily_unavailable",
            "the session store is unavailable",
        )),
    )
}

/// A JSON answer (`{}` on success, the error otherwise), `Cache-Control: no-store` as §2.8 asks.
fn answer(status: StatusCode, error: Option<(&str, &str)>) -> Response {
    let body = match error {
        Some((code, description)) => {
            serde_json::json!({ "error": code, "error_description": description })
        }
        None => serde_json::json!({}),
    };
    let mut response = (status, axum::Json(body)).into_response();
    crate::routes::no_store(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::logout_token_of;
    use axum::body::Bytes;

    #[test]
    fn reads_exactly_one_logout_token() {
        let token = |body: &'static str| logout_token_of(&Bytes::from_static(body.as_bytes()));
        assert_eq!(token("logout_token=a.b.c").as_deref(), Ok("a.b.c"));
        assert_eq!(token("x=1&logout_token=a%2Eb.c").as_deref(), Ok("a.b.c"));
        assert!(token("logout_token=a&logout_token=b").is_err());
        assert!(token("logout_token=").is_err());
        assert!(token("").is_err());
    }
}
