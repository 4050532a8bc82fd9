//! What the relying party measures of its calls to the provider: their latency and failures by
//! endpoint (through the `metrics` facade, a no-op until the application installs a recorder),
//! and the provider's state as the last call saw it, for a readiness report that makes no call
//! of its own.
//!
//! A call "failed" when the provider could not be talked to or did not answer properly: a
//! network error, a timeout, a 5xx, a body that does not parse. An OAuth error answer (say
//! `invalid_grant` to a revoked refresh token) is the provider working as it should, and counts
//! as a success here.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Instant;

/// Seconds one call to the provider took, by endpoint.
pub const PROVIDER_REQUEST_SECONDS: &str = "sesame_provider_request_seconds";
/// Calls to the provider that failed, by endpoint.
pub const PROVIDER_ERRORS_TOTAL: &str = "sesame_provider_errors_total";

/// Gives the HELP text of this crate's metrics to the installed recorder. Call once at start,
/// after installing it.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        PROVIDER_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time one call to the OpenID Connect provider took, by endpoint."
    );
    metrics::describe_counter!(
        PROVIDER_ERRORS_TOTAL,
        "Calls to the OpenID Connect provider that failed (network, timeout, 5xx, unreadable \
         answer), by endpoint."
    );
}

/// The provider endpoints Sesame calls: the `endpoint` label's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Endpoint {
    Discovery = 1,
    Jwks = 2,
    Token = 3,
    Userinfo = 4,
    Revocation = 5,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::Discovery,
        Endpoint::Jwks,
        Endpoint::Token,
        Endpoint::Userinfo,
        Endpoint::Revocation,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Revocation => "revocation",
        }
    }
}

/// Records one call to `endpoint` that started at `started`; `health`, when given, remembers
/// its outcome (discovery at startup has no relying party to remember it in yet).
pub(crate) fn observe(
    endpoint: Endpoint,
    started: Instant,
    ok: bool,
    health: Option<&ProviderHealth>,
) {
    let label = endpoint.as_str();
    metrics::histogram!(PROVIDER_REQUEST_SECONDS, "endpoint" => label)
        .record(started.elapsed().as_secs_f64());
    if !ok {
        metrics::counter!(PROVIDER_ERRORS_TOTAL, "endpoint" => label).increment(1);
    }
    if let Some(health) = health {
        health.remember(endpoint, ok);
    }
}

/// The outcome of the latest successful and failed provider calls, in atomics: every call
/// writes here, and a readiness probe reads it without a lock or a call of its own.
#[derive(Debug)]
pub(crate) struct ProviderHealth {
    /// Unix milliseconds of the last successful call; 0 for none.
    last_ok: AtomicI64,
    /// Unix milliseconds of the last failed call; 0 for none.
    last_error: AtomicI64,
    /// The endpoint of the last failed call, as its `repr`; 0 for none.
    last_error_endpoint: AtomicU8,
}

impl ProviderHealth {
    /// State after a successful discovery: the provider answered just now.
    pub(crate) fn answered_now() -> Self {
        Self {
            last_ok: AtomicI64::new(now_millis()),
            last_error: AtomicI64::new(0),
            last_error_endpoint: AtomicU8::new(0),
        }
    }

    fn remember(&self, endpoint: Endpoint, ok: bool) {
        if ok {
            self.last_ok.store(now_millis(), Ordering::Relaxed);
        } else {
            self.last_error_endpoint
                .store(endpoint as u8, Ordering::Relaxed);
            self.last_error.store(now_millis(), Ordering::Relaxed);
        }
    }

    pub(crate) fn status(&self) -> ProviderStatus {
        let at = |millis: i64| (millis != 0).then_some(millis);
        let endpoint = self.last_error_endpoint.load(Ordering::Relaxed);
        ProviderStatus {
            last_ok_at_ms: at(self.last_ok.load(Ordering::Relaxed)),
            last_error_at_ms: at(self.last_error.load(Ordering::Relaxed)),
            last_error_endpoint: Endpoint::ALL
                .into_iter()
                .find(|candidate| *candidate as u8 == endpoint)
                .map(Endpoint::as_str),
        }
    }
}

/// The provider's state as the relying party's last calls saw it (see
/// [`crate::RelyingParty::provider_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderStatus {
    /// When a call last succeeded, in Unix milliseconds (discovery at startup counts).
    pub last_ok_at_ms: Option<i64>,
    /// When a call last failed, in Unix milliseconds.
    pub last_error_at_ms: Option<i64>,
    /// Which endpoint that failed call was to: `token`, `userinfo`, `jwks`, `revocation`.
    pub last_error_endpoint: Option<&'static str>,
}

impl ProviderStatus {
    /// Whether the latest call succeeded (or none has failed yet).
    pub fn last_call_ok(&self) -> bool {
        match (self.last_ok_at_ms, self.last_error_at_ms) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(ok), Some(error)) => ok >= error,
        }
    }
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_follows_the_latest_call() {
        let health = ProviderHealth::answered_now();
        let status = health.status();
        assert!(status.last_ok_at_ms.is_some() && status.last_call_ok());
        assert_eq!(status.last_error_endpoint, None);

        health.remember(Endpoint::Token, false);
        let status = health.status();
        assert_eq!(status.last_error_endpoint, Some("token"));
        assert!(status.last_error_at_ms.is_some());

        // Same millisecond or later: a success after the failure clears it.
        std::thread::sleep(std::time::Duration::from_millis(2));
        health.remember(Endpoint::Userinfo, true);
        assert!(health.status().last_call_ok());
        assert_eq!(health.status().last_error_endpoint, Some("token"));
    }
}
