//! The router: the home page, Sesame's login routes, the stylesheet and logo, health checks,
//! security headers and request logging.

use crate::{PageError, assets, routes};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::routing::get;
use sesame_axum::Sesame;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The whole application router.
///
/// Every `Router::layer` wraps each route in a boxed service that is cloned, with everything
/// below it, on every request it answers; a page view paid about thirty such clones through six
/// layers. So the headers and the request count are one layer (tower services that neither
/// clone nor box), the session another, and the access log is added only when it would log.
pub fn app(sesame: &Sesame) -> Router {
    let pages = Router::new()
        .route("/", get(routes::home::home))
        .route("/api/userinfo", get(routes::api::userinfo))
        .merge(sesame.routes())
        .layer(sesame.session_layer());

    let app = Router::new()
        .merge(pages)
        // Outside the session layer: an asset needs no session lookup, and sets no cookie.
        .merge(assets::routes())
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .fallback(not_found)
        .with_state(sesame.clone())
        // After the routes and the fallback: the count then sees the matched route's template.
        .layer(
            ServiceBuilder::new()
                .layer(sesame_axum::metrics::RecordHttpRequestsLayer)
                // Headers every answer gets unless it set its own. Pages can hold personal
                // data: never cache them in shared caches or the back button (the assets say
                // otherwise for themselves). Styles come only from this origin (the hashed
                // stylesheet): no inline `<style>` or `style=`, so injected markup cannot
                // restyle a page. `no-referrer` matters here: without it the callback URL, code
                // included, would be sent as Referer to wherever the next page loads an image.
                .layer(default_header(header::CACHE_CONTROL, "no-store"))
                .layer(default_header(header::REFERRER_POLICY, "no-referrer"))
                .layer(default_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(default_header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(default_header(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'self'; img-src * data:; \
                     form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                )),
        );
    // An access log line per request costs more than the rest of a page view; it is there
    // with RUST_LOG=info,tower_http=debug.
    if tracing::enabled!(target: "tower_http::trace", Level::DEBUG) {
        app.layer(
            TraceLayer::new_for_http()
                // Path only: the query of /callback carries the authorization code.
                .make_span_with(|request: &Request<_>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
    } else {
        app
    }
}

/// `name: value` on every answer that has no `name` of its own.
fn default_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Anything else: the error page with a 404.
async fn not_found() -> PageError {
    PageError::NotFound
}
