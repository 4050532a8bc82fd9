//! `GET /healthz` (the process answers) and `GET /readyz` (its session store does, and what
//! the provider looked like last), the latter as a small JSON report.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sesame_axum::Sesame;
use std::time::Instant;

/// Liveness: no dependencies, so an orchestrator never restarts us for a Redis outage.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the session store answers within its timeout, 503 when it does not,
/// whatever the provider's state: logged-in pages need the store, not the provider, so an
/// instance must not be taken out of rotation for a provider outage. The provider is reported
/// as the last calls to it saw it; no call is made here.
pub(crate) async fn readyz(State(sesame): State<Sesame>) -> (StatusCode, Json<Value>) {
    let started = Instant::now();
    let checked = sesame.check_store().await;
    // Two decimals: enough to tell a local store from a remote one.
    let latency_ms = (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
    let ready = checked.is_ok();
    if let Err(err) = &checked {
        tracing::warn!(error = ?err.to_string(), "readiness check failed");
    }
    let provider = sesame.provider_status();
    let last_error = match (provider.last_error_at_ms, provider.last_error_endpoint) {
        (Some(at), Some(endpoint)) => json!({ "endpoint": endpoint, "at": rfc3339(at) }),
        _ => Value::Null,
    };
    let body = json!({
        "ready": ready,
        "store": {
            "backend": sesame.store_kind().as_str(),
            "ok": ready,
            "latency_ms": latency_ms,
        },
        "provider": {
            "issuer": sesame.issuer(),
            "ok": provider.last_call_ok(),
            "last_ok_at": provider.last_ok_at_ms.map(rfc3339),
            "last_error": last_error,
        },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds), or null when out of range.
fn rfc3339(millis: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
