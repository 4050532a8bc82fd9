//! Logout: OIDC RP-Initiated Logout (`end_session_endpoint`) and Auth0's `/v2/logout`. Both end the
//! provider session (found by its cookie, else by the `sid` of an `id_token_hint` this provider
//! signed), deliver a back-channel logout token about it to every registered URI, clear the cookie,
//! and only then decide whether it is safe to send the browser back.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use url::Url;

use super::found;
use super::params::Params;
use crate::logout_token::Subject;
use crate::sessions::{self, Session};
use crate::{MockIdp, backchannel, jwt, pages};

/// Where the OIDC end-session endpoint lives, relative to the issuer (Auth0's path).
pub(crate) const END_SESSION_PATH: &str = "/oidc/logout";
/// Where Auth0's legacy logout lives.
pub(crate) const AUTH0_PATH: &str = "/v2/logout";

/// `GET /oidc/logout?id_token_hint=&post_logout_redirect_uri=&client_id=&state=`.
pub(crate) async fn end_session(
    State(idp): State<MockIdp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    logout(
        &idp,
        &headers,
        &params,
        params.get("post_logout_redirect_uri"),
        params.get("state"),
    )
    .await
}

/// `GET /v2/logout?returnTo=&client_id=` (Auth0 style: no state).
pub(crate) async fn auth0_logout(
    State(idp): State<MockIdp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    logout(&idp, &headers, &params, params.get("returnTo"), None).await
}

async fn logout(
    idp: &MockIdp,
    headers: &HeaderMap,
    params: &Params,
    return_to: Option<&str>,
    state: Option<&str>,
) -> Response {
    let mut response = answer(idp, params, return_to, state);
    if params
        .get("client_id")
        .is_some_and(|id| id != idp.config().client_id)
    {
        // An unknown client's request ends nothing (`answer` refused it).
        return response;
    }
    if let Some(session) = end_provider_session(idp, headers, params) {
        // Delivered (and awaited) before the browser is answered: when it lands back at the RP,
        // the RP has already ended its sessions.
        let who = Subject {
            username: Some(session.username.clone()),
            sid: Some(session.sid.clone()),
        };
        let deliveries = backchannel::deliver(idp, &who).await;
        tracing::info!(
            username = %session.username,
            deliveries = deliveries.len(),
            "mock-idp ended a provider session"
        );
    }
    let config = idp.config();
    let secure = config.issuer.scheme() == "https";
    if let Some(clear) = sessions::set_cookie(&config.path_prefix(), secure, None) {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
}

/// Ends the session named by the browser's cookie or, failing that, by the `sid` of an
/// `id_token_hint` signed by this provider (expired hints count: OIDC RP-Initiated Logout §2 lets
/// the OP accept them). Returns it if one was live.
fn end_provider_session(idp: &MockIdp, headers: &HeaderMap, params: &Params) -> Option<Session> {
    if let Some(session) = sessions::cookie_sid(headers).and_then(|sid| idp.sessions().end(&sid)) {
        return Some(session);
    }
    let hint = params.get("id_token_hint")?;
    let claims = jwt::verified_claims(hint, &idp.signing_keys())?;
    if claims.get("iss")?.as_str()? != idp.issuer() {
        return None;
    }
    idp.sessions().end(claims.get("sid")?.as_str()?)
}

/// The page or redirect that ends a logout, whatever happened to the session.
fn answer(
    idp: &MockIdp,
    params: &Params,
    return_to: Option<&str>,
    state: Option<&str>,
) -> Response {
    if let Some(client_id) = params
        .get("client_id")
        .filter(|id| *id != idp.config().client_id)
    {
        let message = format!("The client {client_id:?} is not registered here.");
        return pages::html(
            StatusCode::BAD_REQUEST,
            pages::error_page("Unknown client", &message),
        );
    }
    let Some(raw) = return_to.filter(|r| !r.is_empty()) else {
        tracing::info!("mock-idp signed a user out");
        return pages::html(StatusCode::OK, pages::signed_out_page(None));
    };
    let Some(mut target) = Url::parse(raw).ok().filter(|u| allowed_return(idp, u)) else {
        // Never redirect to an unregistered place: logout redirects are a classic open redirect.
        let note =
            "The return address is not registered for this client, so you were not sent back.";
        return pages::html(StatusCode::BAD_REQUEST, pages::signed_out_page(Some(note)));
    };
    if let Some(state) = state {
        target.query_pairs_mut().append_pair("state", state);
    }
    tracing::info!("mock-idp signed a user out and sent them back");
    found(target.as_str())
}

/// With no registered redirect URIs any http(s) URL will do (test provider); otherwise the return
/// address must share an origin with a registered redirect URI.
fn allowed_return(idp: &MockIdp, target: &Url) -> bool {
    if !matches!(target.scheme(), "http" | "https") {
        return false;
    }
    let registered = &idp.config().redirect_uris;
    registered.is_empty() || registered.iter().any(|r| r.origin() == target.origin())
}
