//! A second load generator: `wrk` (Debian package `wrk`), when it is on `PATH`.
//!
//! Our own generator ([`crate::loadgen`]) runs in this process and checks pages as it goes; `wrk`
//! is a lean C generator that checks nothing. Measuring the logged-in page and the ceiling with
//! both shows how much of the ratio is the generator's: a slow generator flattens the ceiling more
//! than the page, and the ratio looks better than it is. Without `wrk` the report says so and
//! carries no number for it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde::{Deserialize, Serialize};
use sesame_testkit::process::find_program;

/// Threads: one per core of the 2-core machine the targets are set for.
pub const THREADS: u32 = 2;

/// `wrk`'s path, when installed.
pub fn find() -> Option<PathBuf> {
    find_program("wrk")
}

/// What `wrk` reported for one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrkRun {
    /// Requests per second over the window.
    pub requests_per_second: f64,
    /// Requests completed.
    pub requests: u64,
    /// Socket errors (connect, read, write, timeout) plus responses other than 2xx or 3xx.
    pub errors: u64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// `wrk` against the logged-in page and the ceiling, the ceiling measured before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrkViews {
    /// The logged-in `/`, every request with the same session cookie.
    pub page: WrkRun,
    /// The ceiling just before the page.
    pub ceiling_before: WrkRun,
    /// The ceiling just after the page.
    pub ceiling_after: WrkRun,
}

impl WrkViews {
    /// The ceiling's mean requests per second.
    pub fn ceiling_requests_per_second(&self) -> f64 {
        (self.ceiling_before.requests_per_second + self.ceiling_after.requests_per_second) / 2.0
    }

    /// The page's requests per second as a share of the ceiling's mean.
    pub fn of_ceiling(&self) -> f64 {
        self.page.requests_per_second / self.ceiling_requests_per_second()
    }
}

/// One window of `wrk` with `connections` connections against `url`, every request with `cookie`.
pub fn measure(
    wrk: &Path,
    url: &str,
    cookie: &str,
    connections: usize,
    duration: Duration,
) -> Result<WrkRun> {
    // wrk takes whole seconds; a window under one second measures mostly its start.
    let seconds = duration.as_secs().max(1);
    let output = Command::new(wrk)
        .args([
            &format!("-t{THREADS}"),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("Cookie: {cookie}"),
            url,
        ])
        .output()
        .with_context(|| format!("cannot run {}", wrk.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed ({}): {}{}",
        output.status,
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))
}

/// Reads `wrk --latency`'s summary.
pub fn parse(text: &str) -> Option<WrkRun> {
    let mut run = WrkRun {
        requests_per_second: f64::NAN,
        requests: 0,
        errors: 0,
        p99_ms: f64::NAN,
    };
    for line in text.lines().map(str::trim) {
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            run.requests_per_second = rate.trim().parse().ok()?;
        } else if let Some(p99) = line.strip_prefix("99%") {
            run.p99_ms = milliseconds(p99.trim())?;
        } else if let Some(counts) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in counts.split(',') {
                let number = part.split_whitespace().last()?;
                run.errors += number.parse::<u64>().ok()?;
            }
        } else if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += count.trim().parse::<u64>().ok()?;
        } else if line.contains(" requests in ") {
            run.requests = line.split_whitespace().next()?.parse().ok()?;
        }
    }
    run.requests_per_second.is_finite().then_some(run)
}

/// wrk's durations ("812.00us", "1.23ms", "2.00s") in milliseconds.
fn milliseconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
Running 3s test @ http://127.0.0.1:41234/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  404.31us   9.87ms   80.12%
    Req/Sec    15.70k     1.10k   17.90k    71.67%
  Latency Distribution
     50%    0.95ms
     75%    1.20ms
     90%    1.50ms
     99%  812.00us
  93780 requests in 3.00s, 512.34MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  31250.50
Transfer/sec:    170.78MB
";

    #[test]
    fn reads_the_summary() {
        let run = parse(OUTPUT).unwrap();
        assert_eq!(run.requests_per_second, 31250.5);
        assert_eq!(run.requests, 93780);
        assert_eq!(run.errors, 7);
        assert!((run.p99_ms - 0.812).abs() < 1e-9);
    }

    #[test]
    fn output_without_a_rate_is_no_run() {
        assert_eq!(
            parse("unable to connect to 127.0.0.1:9 Connection refused"),
            None
        );
        assert_eq!(milliseconds("2.00s"), Some(2000.0));
    }
}
