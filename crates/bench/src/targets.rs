//! The performance targets Sesame set itself on a 2-core machine, as a table, and how a run's
//! numbers compare. The benchmark reports met or missed; it never fails on a slow number.

use sesame_testkit::bins::Store;

use crate::render::thousands;
use crate::report::{Report, StoreRun};

/// A goal for one store's run.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// First-level page views at least this share of the ceiling.
    OfCeiling(f64),
    /// The same, and no failed or non-2xx page view at any level.
    OfCeilingWithoutErrors(f64),
    /// The same share with `wrk` as the generator (when installed).
    WrkOfCeiling(f64),
    /// First-level page views' p99 latency at most this many milliseconds.
    P99Ms(f64),
    /// At least this many logins per second.
    LoginsPerSecond(f64),
    /// At most this many bytes per logged-in session.
    BytesPerSession(f64),
    /// Sesame's RSS under load at most this many MB with about 1,000 sessions.
    RssUnderLoadMb(f64),
    /// Page views at the top scale level at least this share of the first level's.
    TopLevelAtLeast(f64),
}

/// The targets, in the order the report lists them.
pub const TARGETS: &[(Store, Goal)] = &[
    // Issue 14's, with the Redis read cache on (its default).
    (Store::Memory, Goal::OfCeiling(0.60)),
    (Store::Memory, Goal::WrkOfCeiling(0.45)),
    (Store::Redis, Goal::OfCeilingWithoutErrors(0.45)),
    (Store::Sqlite, Goal::OfCeilingWithoutErrors(0.25)),
    (Store::Memory, Goal::P99Ms(5.0)),
    (Store::Redis, Goal::P99Ms(5.0)),
    (Store::Sqlite, Goal::P99Ms(5.0)),
    (Store::Postgres, Goal::P99Ms(5.0)),
    (Store::RedisCluster, Goal::P99Ms(5.0)),
    // Earlier ones.
    (Store::Memory, Goal::LoginsPerSecond(300.0)),
    (Store::Memory, Goal::BytesPerSession(2_000.0)),
    (Store::Memory, Goal::RssUnderLoadMb(30.0)),
    (Store::Redis, Goal::RssUnderLoadMb(30.0)),
    (Store::Sqlite, Goal::RssUnderLoadMb(30.0)),
    (Store::Memory, Goal::TopLevelAtLeast(0.90)),
    (Store::Redis, Goal::TopLevelAtLeast(0.90)),
    (Store::Sqlite, Goal::TopLevelAtLeast(0.90)),
];

/// A target against a run: what it asks, what the run did, and whether that meets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The target, e.g. "memory store: p99 ≤ 10 ms at 32 connections".
    pub target: String,
    /// The run's number, e.g. "2.27 ms".
    pub measured: String,
    /// Whether it meets the target.
    pub met: bool,
}

/// Every target whose store the run measured, judged.
pub fn judge(report: &Report) -> Vec<Verdict> {
    let judge_one = |&(store, goal): &(Store, Goal)| {
        let run = report.stores.iter().find(|run| run.store == store)?;
        goal.judge(run, report.plan.connections)
    };
    TARGETS.iter().filter_map(judge_one).collect()
}

impl Goal {
    /// The goal against `run`; `None` when the run lacks what it needs.
    fn judge(self, run: &StoreRun, connections: usize) -> Option<Verdict> {
        let (first, top) = run.first_and_top()?;
        let percent = |share: f64| format!("{:.0}%", 100.0 * share);
        let share = run.of_ceiling();
        let (what, measured, met) = match self {
            Goal::OfCeiling(least) => {
                let what = format!("≥ {} of the ceiling", percent(least));
                (what, percent(share), share >= least)
            }
            Goal::OfCeilingWithoutErrors(least) => {
                let what = format!("≥ {} of the ceiling, 0 errors", percent(least));
                let errors = run.errors();
                let measured = format!("{}, {errors} errors", percent(share));
                (what, measured, share >= least && errors == 0)
            }
            Goal::WrkOfCeiling(least) => {
                let share = run.wrk.as_ref()?.of_ceiling();
                let what = format!("≥ {} of the ceiling with wrk", percent(least));
                (what, percent(share), share >= least)
            }
            Goal::P99Ms(most) => {
                let p99 = first.views.load.latency.p99_ms;
                let what = format!("p99 ≤ {most} ms at {connections} connections");
                (what, format!("{p99:.2} ms"), p99 <= most)
            }
            Goal::LoginsPerSecond(least) => {
                let rate = run.logins.flows_per_second;
                let what = format!("≥ {least} logins/s");
                (what, format!("{rate:.0}/s"), rate >= least)
            }
            Goal::BytesPerSession(most) => {
                let bytes = run.bytes_per_session.as_ref()?.logged_in?;
                let what = format!("≤ {} KB per session", most / 1000.0);
                let measured = format!("{} bytes per logged-in session", thousands(bytes));
                (what, measured, bytes <= most)
            }
            Goal::RssUnderLoadMb(most) => {
                let mb = first.views.rss_max_under_load_kib as f64 * 1024.0 / 1e6;
                let what = format!("RSS under load ≤ {most} MB with 1,000 sessions");
                let sessions = thousands(first.sessions as f64);
                (
                    what,
                    format!("{mb:.1} MB with {sessions} sessions"),
                    mb <= most,
                )
            }
            Goal::TopLevelAtLeast(least) => {
                let share =
                    top.views.load.requests_per_second / first.views.load.requests_per_second;
                let sessions = thousands(top.sessions as f64);
                let within = percent(1.0 - least);
                let what =
                    format!("page views at {sessions} sessions within {within} of the first level");
                (what, percent(share), share >= least)
            }
        };
        Some(Verdict {
            target: format!("{} store: {what}", run.store),
            measured,
            met,
        })
    }
}
