//! A closed-loop HTTP/1.1 keep-alive load generator.
//!
//! `connections` tasks each own one connection and send the next request the moment the previous
//! response has been read in full, for `warmup + duration`. Only requests sent and answered inside
//! the measured window count toward throughput and latency; errors and non-2xx answers count over
//! the whole run, warm-up included, because a benchmark with errors measures the wrong thing.
//!
//! Request `i` (counted over all connections) carries session `i % sessions.len()`'s cookie, so
//! every session is used evenly whatever the connection count. One request in [`SAMPLE_EVERY`] has
//! its body checked for that session's expected text (the user's name), so a server that mixes up
//! sessions shows.

use crate::client::{self, Connection, Origin, REQUEST_TIMEOUT};
use crate::flows::Session;
use crate::stats::{Latencies, Summary};
use anyhow::{Context as _, Result};
use hyper::Uri;
use serde::{Deserialize, Serialize};
use sesame_testkit::procfs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use url::Url;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The page to request (loopback only).
    pub url: Url,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// The measured window.
    pub duration: Duration,
    /// Load before the measured window, not counted.
    pub warmup: Duration,
    /// The sessions whose cookies the requests carry; empty sends none.
    pub sessions: Arc<[Session]>,
    /// Whether sampled pages must show their session's expected text (not for the ceiling,
    /// whose page is the same for everyone).
    pub check_pages: bool,
}

/// One response body in this many is checked for its session's expected text.
const SAMPLE_EVERY: u64 = 50;

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The URL requested.
    pub url: String,
    /// Connections used.
    pub connections: usize,
    /// Length of the measured window, seconds.
    pub seconds: f64,
    /// Warm-up before it, seconds.
    pub warmup_seconds: f64,
    /// Requests answered inside the measured window.
    pub requests: u64,
    /// `requests / seconds`.
    pub requests_per_second: f64,
    /// Latency of the measured requests.
    pub latency: Summary,
    /// Mean response body size over the measured requests, bytes.
    pub mean_body_bytes: f64,
    /// Non-2xx answers over the whole run.
    pub non_2xx: u64,
    /// Failed requests (connection errors, timeouts) over the whole run.
    pub errors: u64,
    /// Response bodies checked for the expected text.
    pub checked: u64,
    /// Checked bodies that lacked their cookie's expected text.
    pub wrong_user: u64,
    /// The first error or wrong answer seen, for the reader.
    pub first_problem: Option<String>,
    /// CPU seconds the generator itself used (so its share of the machine is known).
    pub generator_cpu_seconds: f64,
}

/// Shared, read-only run parameters and the global request counter.
struct Plan {
    origin: Origin,
    target: Uri,
    sessions: Arc<[Session]>,
    check_pages: bool,
    next_request: AtomicU64,
    measure_from: Instant,
    stop_at: Instant,
}

/// One connection's counts (its latencies are kept apart: a histogram has no default).
#[derive(Default)]
struct Tally {
    requests: u64,
    body_bytes: u64,
    non_2xx: u64,
    errors: u64,
    checked: u64,
    wrong_user: u64,
    first_problem: Option<String>,
}

impl Tally {
    fn problem(&mut self, text: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(text());
        }
    }
}

/// Runs the load and reports it. Must be called on a multi-threaded Tokio runtime to use more
/// than one core.
pub async fn run(config: &LoadConfig) -> Result<LoadReport> {
    anyhow::ensure!(config.connections > 0, "need at least one connection");
    let origin = Origin::of(&config.url)?;
    let cpu_before = procfs::cpu_seconds(std::process::id())?;
    // Connect everything before the clock starts, so connection setup is not measured.
    let mut connections = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        connections.push(Connection::open(origin.addr).await?);
    }
    let start = Instant::now();
    let plan = Arc::new(Plan {
        target: client::target(&config.url)?,
        origin,
        sessions: Arc::clone(&config.sessions),
        check_pages: config.check_pages,
        next_request: AtomicU64::new(0),
        measure_from: start + config.warmup,
        stop_at: start + config.warmup + config.duration,
    });
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|connection| tokio::spawn(drive(Arc::clone(&plan), connection)))
        .collect();
    let mut latencies = Latencies::new()?;
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (connection_latencies, tally) = task.await.context("a load task panicked")??;
        latencies.merge(&connection_latencies)?;
        tallies.push(tally);
    }
    let sum = |count: fn(&Tally) -> u64| tallies.iter().map(count).sum::<u64>();
    let (requests, seconds) = (sum(|t| t.requests), config.duration.as_secs_f64());
    Ok(LoadReport {
        url: config.url.to_string(),
        connections: config.connections,
        seconds,
        warmup_seconds: config.warmup.as_secs_f64(),
        requests,
        requests_per_second: requests as f64 / seconds,
        latency: latencies.summary(),
        mean_body_bytes: sum(|t| t.body_bytes) as f64 / requests.max(1) as f64,
        non_2xx: sum(|t| t.non_2xx),
        errors: sum(|t| t.errors),
        checked: sum(|t| t.checked),
        wrong_user: sum(|t| t.wrong_user),
        first_problem: tallies.iter().find_map(|t| t.first_problem.clone()),
        generator_cpu_seconds: procfs::cpu_seconds(std::process::id())? - cpu_before,
    })
}

/// One connection's closed loop, until the stop time: its measured latencies and counts.
async fn drive(plan: Arc<Plan>, mut connection: Connection) -> Result<(Latencies, Tally)> {
    let (mut latencies, mut tally) = (Latencies::new()?, Tally::default());
    loop {
        let sent = Instant::now();
        if sent >= plan.stop_at {
            return Ok((latencies, tally));
        }
        let index = plan.next_request.fetch_add(1, Ordering::Relaxed);
        let slot = match plan.sessions.len() {
            0 => None,
            n => usize::try_from(index % n as u64).ok(),
        };
        let session = slot.and_then(|i| plan.sessions.get(i));
        let cookie = session.map(|session| session.cookie.as_str());
        let request = client::get(&plan.origin, plan.target.clone(), cookie)?;
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, connection.send(request)).await;
        let answered = Instant::now();
        let (parts, body) = match outcome {
            Ok(Ok(response)) => response,
            failed => {
                tally.errors += 1;
                tally.problem(|| match failed {
                    Ok(Err(err)) => format!("request failed: {err:#}"),
                    _ => format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
                });
                match reconnect(&plan).await {
                    Some(fresh) => connection = fresh,
                    None => return Ok((latencies, tally)),
                }
                continue;
            }
        };
        if !parts.status.is_success() {
            tally.non_2xx += 1;
            tally.problem(|| format!("status {}", parts.status));
        }
        if sent < plan.measure_from || answered > plan.stop_at {
            continue;
        }
        latencies.record(answered - sent);
        tally.requests += 1;
        tally.body_bytes += body.len() as u64;
        if plan.check_pages
            && index.is_multiple_of(SAMPLE_EVERY)
            && let Some(expected) = session.map(|session| &session.expected)
        {
            tally.checked += 1;
            let page = String::from_utf8_lossy(&body);
            if !page.contains(expected.as_str()) {
                tally.wrong_user += 1;
                tally.problem(|| format!("the page for session #{slot:?} lacks {expected:?}"));
            }
        }
    }
}

/// A new connection after a failed one, retried every 50 ms until the run's stop time (`None`).
async fn reconnect(plan: &Plan) -> Option<Connection> {
    while Instant::now() < plan.stop_at {
        match Connection::open(plan.origin.addr).await {
            Ok(connection) => return Some(connection),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    None
}
