//! `GET /metrics` in Prometheus text format, on a listener of its own (`METRICS_ADDR`), never
//! on the app's port: what it tells (traffic, error rates) is for operators only.
//!
//! The libraries record through the `metrics` facade; [`install`] puts the Prometheus
//! exporter's recorder behind it, and [`serve`] renders the exporter's text with a small axum
//! router. The exporter's own HTTP listener is not used (it is compiled out): one server stack.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sesame_axum::Sesame;
use std::time::Duration;
use tokio::net::TcpListener;

/// Histogram buckets for every `*_seconds` metric, in seconds: store calls take well under a
/// millisecond (memory) to a few (Redis, SQLite); provider calls tens to hundreds; the top
/// buckets catch timeouts (`OIDC_HTTP_TIMEOUT`, the store's operation timeout).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often recorded histogram samples are folded into the exporter's buckets between
/// scrapes, so that memory stays bounded when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the process's global one and describes every metric.
/// Call before anything is recorded (before the store and the provider are first called): a
/// record made earlier is lost.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| format!("cannot set up the metrics recorder: {err}"))?;
    sesame_axum::describe_metrics();
    Ok(handle)
}

/// Binds `address` (`METRICS_ADDR`'s value); the error names the variable.
pub async fn bind(address: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|err| format!("cannot listen on METRICS_ADDR `{address}`: {err}"))
}

/// What the `/metrics` handler needs.
#[derive(Clone)]
struct Exporter {
    handle: PrometheusHandle,
    sesame: Sesame,
}

/// The router of the metrics listener: `GET /metrics`, 404 for anything else.
pub fn router(handle: PrometheusHandle, sesame: Sesame) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Exporter { handle, sesame })
}

/// Serves [`router`] on `listener` and keeps the exporter's upkeep going, both on tasks of
/// their own that end with the process.
pub fn serve(listener: TcpListener, handle: PrometheusHandle, sesame: Sesame) {
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            interval.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = router(handle, sesame);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = ?err.to_string(), "the metrics listener failed");
        }
    });
}

/// The exposition: the session count is read now (one query for SQLite, per scrape rather than
/// per request), then everything is rendered.
async fn metrics(State(exporter): State<Exporter>) -> Response {
    exporter.sesame.active_sessions().await;
    let body = exporter.handle.render();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
