//! `GET /healthz` (the process answers) and `GET /readyz` (and its session store does).

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;

/// Liveness: no dependencies, so an orchestrator never restarts us for a Redis outage.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the session store answers within its timeout.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            format!("ok: {} store reachable\n", state.store.kind()),
        ),
        Err(err) => {
            tracing::warn!(%err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unavailable: {} store not reachable\n", state.store.kind()),
            )
        }
    }
}
