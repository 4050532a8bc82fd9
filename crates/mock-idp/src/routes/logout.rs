//! Logout: OIDC RP-Initiated Logout (`end_session_endpoint`) and Auth0's `/v2/logout`. There are no
//! provider sessions to end, so both only decide whether it is safe to send the browser back.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use url::Url;

use super::found;
use super::params::Params;
use crate::MockIdp;
use crate::pages;

/// Where the OIDC end-session endpoint lives, relative to the issuer (Auth0's path).
pub(crate) const END_SESSION_PATH: &str = "/oidc/logout";
/// Where Auth0's legacy logout lives.
pub(crate) const AUTH0_PATH: &str = "/v2/logout";

/// `GET /oidc/logout?id_token_hint=&post_logout_redirect_uri=&client_id=&state=`.
pub(crate) async fn end_session(State(idp): State<MockIdp>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    // id_token_hint is accepted and ignored: there is no provider session it could identify.
    logout(
        &idp,
        &params,
        params.get("post_logout_redirect_uri"),
        params.get("state"),
    )
}

/// `GET /v2/logout?returnTo=&client_id=` (Auth0 style: no state).
pub(crate) async fn auth0_logout(
    State(idp): State<MockIdp>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    logout(&idp, &params, params.get("returnTo"), None)
}

fn logout(
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
