//! The router: routes, the session layer, security headers and request logging.

use crate::WebError;
use crate::config::Config;
use crate::routes;
use crate::session::SessionPolicy;
use axum::Router;
use axum::http::StatusCode;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sesame_auth::RelyingParty;
use sesame_store::SessionBackend;
use sha2::{Digest, Sha512};
use std::sync::Arc;
use std::time::Duration;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};
use tracing::Level;

/// Shared by every request: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The relying party, discovered at startup.
    pub relying_party: Arc<RelyingParty>,
    /// The session store, for `/readyz`.
    pub store: SessionBackend,
    /// How long sessions live.
    pub session_policy: SessionPolicy,
}

/// The whole application router.
pub fn app(state: AppState, config: &Config) -> Router {
    let session_layer = SessionManagerLayer::new(state.store.clone())
        // `__Host-` makes browsers refuse the cookie unless it is Secure, host-only and Path=/,
        // so a sibling subdomain cannot plant a session cookie for us (fixation).
        .with_name(if config.is_https() {
            "__Host-sesame"
        } else {
            "sesame"
        })
        .with_secure(config.is_https())
        .with_http_only(true)
        // Lax, not the default Strict: the provider's redirect back to /callback is a
        // cross-site navigation, and Strict would arrive without the pending login's cookie.
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(to_time(config.idle_timeout)))
        .with_signed(cookie_key(config.secret_key.expose()));

    let pages = Router::new()
        .route("/", get(routes::home::home))
        .route("/login", get(routes::login::login))
        .route("/callback", get(routes::callback::callback))
        .route("/logout", get(routes::logout::logout))
        .layer(session_layer)
        .layer(axum::middleware::map_response(explain_unsaved_session))
        // Pages can hold personal data: never cache them in shared caches or the back button.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    Router::new()
        .merge(pages)
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .fallback(routes::not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
        .layer(
            TraceLayer::new_for_http()
                // Path only: the query of /callback carries the authorization code.
                .make_span_with(|request: &Request<_>| {
                    // Debug: spans cost on every request even when nothing is logged in them.
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_request(())
                // An access log line per request costs more than the rest of a page view;
                // it is there with RUST_LOG=info,tower_http=debug.
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
}

/// Headers every page gets. `no-referrer` matters here: without it the callback URL, code
/// included, would be sent as Referer to wherever the next page loads an image from.
async fn security_headers(mut response: Response) -> Response {
    const HEADERS: [(HeaderName, &str); 4] = [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// tower-sessions answers a bare, bodiless 500 when saving the session fails after the handler
/// ran (the store went down mid-request). Turn that into our 503 page; no handler of ours
/// returns a bodiless 500, so nothing else is caught.
async fn explain_unsaved_session(response: Response) -> Response {
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return WebError::SessionNotSaved.into_response();
    }
    response
}

/// The cookie signing key: SHA-512 stretches any secret of 32+ bytes to the 64 bytes `Key`
/// wants (it splits them into signing and encryption halves).
fn cookie_key(secret: &str) -> Key {
    let digest = Sha512::digest(secret.as_bytes());
    Key::from(digest.as_slice())
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::days(365))
}
