//! `GET /healthz` (the process answers) and `GET /readyz` (and its session store does).

use axum::extract::State;
use axum::http::StatusCode;
use sesame_axum::Sesame;

/// Liveness: no dependencies, so an orchestrator never restarts us for a Redis outage.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the session store answers within its timeout.
pub(crate) async fn readyz(State(sesame): State<Sesame>) -> (StatusCode, String) {
    match sesame.check_store().await {
        Ok(()) => (
            StatusCode::OK,
            format!("ok: {} store reachable\n", sesame.store_kind()),
        ),
        Err(err) => {
            tracing::warn!(error = ?err.to_string(), "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unavailable: {} store not reachable\n", sesame.store_kind()),
            )
        }
    }
}
