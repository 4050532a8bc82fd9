//! The read cache's step (issue 14), for the stores on Redis and PostgreSQL: a second `sesame`
//! (B) on the same store and secret key, with `REDIS_READ_CACHE=off` or `POSTGRES_READ_CACHE=off`,
//! beside the measured one (A, cache on as by default).
//!
//! - Page views on B with the second level's cookies: the same pages without the cache.
//! - The invalidation bound, trial by trial: a fresh login is viewed on A twice (so A serves it
//!   from its cache), logged out on B (`GET /logout`, B deletes the session), and from the moment
//!   B's answer is read, A is asked for the page in a tight loop until it shows the guest page.
//!   The time to that answer is the trial's; every page A answered with the user meanwhile is a
//!   stale view. A trial still showing the user after [`GIVE_UP_MS`] fails.

use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use reqwest::header::COOKIE;
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::backchannel::home;
use crate::flows::{self, Session};
use crate::report::PageViews;

/// Trials in a full run; a quick run does a fifth.
pub const TRIALS: usize = 1_000;

/// Their usernames' prefix.
pub const PREFIX: &str = "cached";

/// The bound: A refuses a session logged out on B within this many milliseconds, every time.
pub const BOUND_MS: f64 = 50.0;

/// A trial still served after this long is a failure (the test bound).
const GIVE_UP_MS: f64 = 2_000.0;

/// What sesame's home page says to a visitor without a session.
const GUEST: &str = "Welcome Guest";

/// What the step measured for one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadCacheStep {
    /// Page views on B (cache off) with the second level's cookies.
    pub uncached: PageViews,
    /// Sessions those page views spread over.
    pub uncached_sessions: usize,
    /// Per trial: ms from reading B's logout answer until A answered the guest page.
    pub refused_after_ms: Vec<f64>,
    /// Pages A answered with the logged-out user after B's logout had answered.
    pub stale_views: usize,
    /// Trials that failed: a logout not answered 302, a page before it without the user, or
    /// A still showing the user after two seconds.
    pub failed: usize,
    /// The first failure, for the reader.
    pub first_problem: Option<String>,
}

impl ReadCacheStep {
    /// The `fraction` quantile of the trials (nearest rank), ms; NaN with none.
    pub fn quantile_ms(&self, fraction: f64) -> f64 {
        nearest_rank(&self.refused_after_ms, fraction)
    }

    /// The slowest trial, ms; NaN with none.
    pub fn max_ms(&self) -> f64 {
        self.quantile_ms(1.0)
    }

    /// Whether every trial ended within [`BOUND_MS`].
    pub fn held(&self) -> bool {
        self.failed == 0 && !self.refused_after_ms.is_empty() && self.max_ms() < BOUND_MS
    }
}

/// The `fraction` quantile of `values` by nearest rank; NaN for none.
fn nearest_rank(values: &[f64], fraction: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs the trials: each of `sessions` (fresh logins on A) is logged out on B.
pub async fn invalidation_trials(
    a: &Url,
    b: &Url,
    sessions: &[Session],
    uncached: PageViews,
    uncached_sessions: usize,
) -> Result<ReadCacheStep> {
    let client = flows::client()?;
    let mut step = ReadCacheStep {
        uncached,
        uncached_sessions,
        refused_after_ms: Vec::with_capacity(sessions.len()),
        stale_views: 0,
        failed: 0,
        first_problem: None,
    };
    for (trial, session) in sessions.iter().enumerate() {
        match one_trial(&client, a, b, session).await {
            Ok((refused_after_ms, stale)) => {
                step.refused_after_ms.push(refused_after_ms);
                step.stale_views += stale;
            }
            Err(problem) => {
                step.failed += 1;
                step.first_problem
                    .get_or_insert_with(|| format!("trial {trial}: {problem:#}"));
            }
        }
    }
    Ok(step)
}

/// One trial: (ms until A refused, stale pages meanwhile).
async fn one_trial(client: &Client, a: &Url, b: &Url, session: &Session) -> Result<(f64, usize)> {
    for _ in 0..2 {
        let page = home(client, a, session).await?;
        ensure!(
            page.contains(&session.expected),
            "A did not show the user before the logout"
        );
    }
    let logout = client
        .get(b.join("/logout")?)
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .context("GET /logout on B")?;
    let status = logout.status();
    logout.bytes().await?;
    ensure!(status == StatusCode::FOUND, "B's logout answered {status}");
    let logged_out = Instant::now();
    let mut stale = 0;
    loop {
        let page = home(client, a, session).await?;
        let elapsed_ms = logged_out.elapsed().as_secs_f64() * 1000.0;
        if page.contains(GUEST) {
            return Ok((elapsed_ms, stale));
        }
        ensure!(
            page.contains(&session.expected),
            "A showed neither the user nor a guest"
        );
        stale += 1;
        ensure!(
            elapsed_ms < GIVE_UP_MS,
            "A still showed the user {elapsed_ms:.0} ms after B's logout"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let values = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(nearest_rank(&values, 0.5), 3.0);
        assert_eq!(nearest_rank(&values, 0.99), 5.0);
        assert_eq!(nearest_rank(&values, 1.0), 5.0);
        assert_eq!(nearest_rank(&values, 0.0), 1.0);
        assert!(nearest_rank(&[], 0.5).is_nan());
    }
}
