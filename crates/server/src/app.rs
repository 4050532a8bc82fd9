//! The router: the home page, Sesame's login routes, the stylesheet and logo, health checks,
//! security headers and request logging.

use crate::{PageError, assets, routes};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::response::Response;
use axum::routing::get;
use sesame_axum::Sesame;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The whole application router.
pub fn app(sesame: &Sesame) -> Router {
    let pages = Router::new()
        .route("/", get(routes::home::home))
        .route("/api/userinfo", get(routes::api::userinfo))
        .merge(sesame.routes())
        // Pages can hold personal data: never cache them in shared caches or the back button.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(sesame.session_layer());

    Router::new()
        .merge(pages)
        // Outside the session layer: an asset needs no session lookup, and sets no cookie.
        .merge(assets::routes())
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .fallback(not_found)
        .with_state(sesame.clone())
        .layer(axum::middleware::map_response(security_headers))
        // After the routes and the fallback: it then sees the matched route's template.
        .layer(axum::middleware::from_fn(
            sesame_axum::metrics::record_http_request,
        ))
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

/// Anything else: the error page with a 404.
async fn not_found() -> PageError {
    PageError::NotFound
}

/// Headers every page gets. Styles come only from this origin (the hashed stylesheet): no
/// inline `<style>` or `style=`, so injected markup cannot restyle a page. `no-referrer` matters
/// here: without it the callback URL, code included, would be sent as Referer to wherever the
/// next page loads an image from.
async fn security_headers(mut response: Response) -> Response {
    const HEADERS: [(HeaderName, &str); 4] = [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src * data:; \
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
