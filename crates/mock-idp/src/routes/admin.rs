//! Test-only controls under `{issuer}/admin/...`, for tests that run the provider as a separate
//! process and cannot call [`MockIdp`]'s methods: counters, the access-token lifetime, refresh
//! token revocation, back-channel URIs, "log out everywhere" and flawed logout tokens. No
//! authentication: this is a test provider, and a real one has no such door.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::Url;

use super::params::Params;
use crate::{LogoutTokenFlaw, MAX_ACCESS_TOKEN_LIFETIME, MockIdp};

/// `GET /admin/stats`.
pub(crate) const STATS: &str = "/admin/stats";
/// `POST /admin/access-token-lifetime` with `seconds=N`.
pub(crate) const ACCESS_TOKEN_LIFETIME: &str = "/admin/access-token-lifetime";
/// `POST /admin/revoke-refresh-tokens` with `sub=NAME`.
pub(crate) const REVOKE_REFRESH_TOKENS: &str = "/admin/revoke-refresh-tokens";
/// `POST /admin/backchannel-uris` with `uri=...` (repeatable).
pub(crate) const BACKCHANNEL_URIS: &str = "/admin/backchannel-uris";
/// `POST /admin/logout-everywhere` with `sub=NAME`.
pub(crate) const LOGOUT_EVERYWHERE: &str = "/admin/logout-everywhere";
/// `POST /admin/logout-token` with optional `sub`, `sid` and `flaw`.
pub(crate) const LOGOUT_TOKEN: &str = "/admin/logout-token";

/// The counters, as JSON.
pub(crate) async fn stats(State(idp): State<MockIdp>) -> Response {
    answer(json!({
        "token_requests": idp.token_requests(),
        "jwks_requests": idp.jwks_requests(),
        "refresh_requests": idp.refresh_requests(),
        "refresh_reuses": idp.refresh_reuses(),
        "revocations": idp.revocations(),
        "backchannel_deliveries": idp.backchannel_deliveries(),
    }))
}

/// Sets the lifetime of access tokens issued from now on.
pub(crate) async fn access_token_lifetime(State(idp): State<MockIdp>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let max = MAX_ACCESS_TOKEN_LIFETIME.as_secs();
    let Some(seconds) = params
        .get("seconds")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s <= max)
    else {
        return refuse(format!("seconds must be a whole number from 0 to {max}"));
    };
    idp.set_access_token_lifetime(Duration::from_secs(seconds));
    tracing::info!(seconds, "mock-idp changed the access-token lifetime");
    answer(json!({ "access_token_lifetime": seconds }))
}

/// Revokes every refresh token of one user.
pub(crate) async fn revoke_refresh_tokens(State(idp): State<MockIdp>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let Some(user) = params.get("sub").filter(|s| !s.is_empty()) else {
        return refuse("sub is required (a username or its mock|username subject)".to_owned());
    };
    let revoked = idp.revoke_refresh_tokens(user);
    tracing::info!(user, revoked, "mock-idp revoked a user's refresh tokens");
    answer(json!({ "revoked": revoked }))
}

/// Registers back-channel logout URIs; answers with every registered one.
pub(crate) async fn backchannel_uris(State(idp): State<MockIdp>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let mut added = Vec::new();
    for (_, raw) in params.iter().filter(|(name, _)| *name == "uri") {
        match Url::parse(raw) {
            Ok(uri) if matches!(uri.scheme(), "http" | "https") && uri.fragment().is_none() => {
                added.push(uri);
            }
            _ => return refuse(format!("{raw:?} is not an http(s) URL without a fragment")),
        }
    }
    if added.is_empty() {
        return refuse("give at least one uri".to_owned());
    }
    for uri in added {
        tracing::info!(%uri, "mock-idp registered a back-channel logout URI");
        idp.add_backchannel_logout_uri(uri);
    }
    let all: Vec<String> = idp
        .backchannel_logout_uris()
        .iter()
        .map(Url::to_string)
        .collect();
    answer(json!({ "backchannel_uris": all }))
}

/// Ends every session of one user and delivers one `sub`-only logout token to every URI.
pub(crate) async fn logout_everywhere(State(idp): State<MockIdp>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let Some(user) = params.get("sub").filter(|s| !s.is_empty()) else {
        return refuse("sub is required (a username or its mock|username subject)".to_owned());
    };
    let delivered: Vec<Value> = idp
        .logout_everywhere(user)
        .await
        .iter()
        .map(|d| d.to_json())
        .collect();
    answer(json!({ "delivered": delivered }))
}

/// Mints a logout token, valid or flawed, without delivering it.
pub(crate) async fn logout_token(State(idp): State<MockIdp>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let flaw = match params.get("flaw").filter(|f| !f.is_empty()) {
        None => LogoutTokenFlaw::None,
        Some(name) => match name.parse::<LogoutTokenFlaw>() {
            Ok(flaw) => flaw,
            Err(err) => {
                let known: Vec<_> = LogoutTokenFlaw::ALL.iter().map(|f| f.as_str()).collect();
                return refuse(format!("{err}; known: {}", known.join(", ")));
            }
        },
    };
    let user = params.get("sub").filter(|s| !s.is_empty());
    let sid = params.get("sid").filter(|s| !s.is_empty());
    // Otherwise the token would be wrong in a second way (no-sid-or-sub), or an ID token for nobody.
    if flaw == LogoutTokenFlaw::IdToken && user.is_none() {
        return refuse("flaw=id-token needs sub".to_owned());
    }
    if flaw != LogoutTokenFlaw::NoSidOrSub && user.is_none() && sid.is_none() {
        return refuse("give sub, sid or both".to_owned());
    }
    match idp.logout_token(user, sid, flaw) {
        Ok(token) => answer(json!({ "logout_token": token })),
        Err(err) => {
            tracing::error!(%err, "mock-idp could not mint a logout token");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "server_error" })),
            )
                .into_response()
        }
    }
}

fn answer(body: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn refuse(description: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}
