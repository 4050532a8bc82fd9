//! The provider's HTTP surface: one module per endpoint, merged here under the issuer's path.

mod admin;
mod authorize;
mod avatar;
mod discovery;
mod logout;
mod params;
mod refresh;
mod revoke;
mod token;
mod userinfo;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::MockIdp;

/// Every route, relative to the issuer; nested under the issuer's path when it has one so that
/// `{issuer}/authorize` is served whatever the issuer looks like.
pub(crate) fn router(idp: MockIdp) -> Router {
    let prefix = idp.config().path_prefix();
    let end_session = idp.config().end_session;
    let mut routes = Router::new()
        .route(discovery::DISCOVERY_PATH, get(discovery::configuration))
        .route(discovery::JWKS_PATH, get(discovery::jwks))
        .route(
            authorize::PATH,
            get(authorize::show).post(authorize::submit),
        )
        .route(token::PATH, post(token::exchange))
        .route(revoke::PATH, post(revoke::revoke))
        .route(
            userinfo::PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(logout::AUTH0_PATH, get(logout::auth0_logout))
        .route("/avatars/{file}", get(avatar::avatar))
        .route("/healthz", get(healthz))
        .route(admin::STATS, get(admin::stats))
        .route(
            admin::ACCESS_TOKEN_LIFETIME,
            post(admin::access_token_lifetime),
        )
        .route(
            admin::REVOKE_REFRESH_TOKENS,
            post(admin::revoke_refresh_tokens),
        )
        .route(admin::BACKCHANNEL_URIS, post(admin::backchannel_uris))
        .route(admin::LOGOUT_EVERYWHERE, post(admin::logout_everywhere))
        .route(admin::LOGOUT_TOKEN, post(admin::logout_token));
    if end_session {
        // Without it the path 404s, as on Auth0, so an RP cannot stumble on it by guessing.
        routes = routes.route(logout::END_SESSION_PATH, get(logout::end_session));
    }
    let routes = routes.with_state(idp);
    if prefix.is_empty() {
        routes
    } else {
        // Health checks should not need to know the issuer's path.
        Router::new()
            .route("/healthz", get(healthz))
            .nest(&prefix, routes)
    }
}

/// Liveness: the process is up and serving.
async fn healthz() -> &'static str {
    "ok"
}

/// A 302 (what browsers and OAuth clients expect from an authorization server; axum's `Redirect`
/// offers 303/307/308 only), never cached.
pub(crate) fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        // Only reachable if a URL serialised with control characters, which `url` never does.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
