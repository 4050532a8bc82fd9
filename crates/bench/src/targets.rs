//! The performance targets Sesame set itself on a 2-core machine, as a table, and how a run's
//! numbers compare. The benchmark reports met or missed; it never fails on a slow number.

use sesame_testkit::bins::Store;

use crate::render::thousands;
use crate::report::{Report, StoreRun};

/// One target: a goal for one store.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The store it is for.
    pub store: Store,
    /// What must hold.
    pub goal: Goal,
}

/// What a target asks of a run.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// First-level page views at least this share of the ceiling; with `no_errors`, also no
    /// failed or non-2xx page view at any level.
    OfCeiling {
        /// The share, 0 to 1.
        at_least: f64,
        /// Whether errors count against it.
        no_errors: bool,
    },
    /// First-level page views' p99 latency at most this many milliseconds.
    P99Ms(f64),
    /// At least this many logins per second.
    LoginsPerSecond(f64),
    /// At most this many bytes per logged-in session.
    BytesPerSession(f64),
    /// Sesame's RSS under load at most this many MB, for this many sessions.
    RssUnderLoadMb(f64, usize),
    /// Page views at the top scale level at least this share of the first level's.
    TopLevelAtLeast(f64),
}

/// The targets, in the order the report lists them.
pub const TARGETS: &[Target] = &[
    target(
        Store::Memory,
        Goal::OfCeiling {
            at_least: 0.75,
            no_errors: false,
        },
    ),
    target(Store::Memory, Goal::P99Ms(10.0)),
    target(Store::Memory, Goal::LoginsPerSecond(300.0)),
    target(Store::Memory, Goal::BytesPerSession(2_000.0)),
    target(
        Store::Redis,
        Goal::OfCeiling {
            at_least: 0.40,
            no_errors: true,
        },
    ),
    target(
        Store::Sqlite,
        Goal::OfCeiling {
            at_least: 0.40,
            no_errors: true,
        },
    ),
    target(Store::Memory, Goal::RssUnderLoadMb(30.0, 1_000)),
    target(Store::Redis, Goal::RssUnderLoadMb(30.0, 1_000)),
    target(Store::Sqlite, Goal::RssUnderLoadMb(30.0, 1_000)),
    target(Store::Memory, Goal::TopLevelAtLeast(0.90)),
    target(Store::Redis, Goal::TopLevelAtLeast(0.90)),
    target(Store::Sqlite, Goal::TopLevelAtLeast(0.90)),
];

const fn target(store: Store, goal: Goal) -> Target {
    Target { store, goal }
}

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
    TARGETS
        .iter()
        .filter_map(|target| {
            let run = report.stores.iter().find(|run| run.store == target.store)?;
            let (what, measured, met) = judge_one(target.goal, run, report.plan.connections)?;
            let target = format!("{} store: {what}", target.store);
            Some(Verdict {
                target,
                measured,
                met,
            })
        })
        .collect()
}

/// What `goal` asks, the run's number, and whether it is met; `None` if the run lacks the level.
fn judge_one(goal: Goal, run: &StoreRun, connections: usize) -> Option<(String, String, bool)> {
    let (first, top) = run.first_and_top()?;
    let percent = |share: f64| format!("{:.0}%", 100.0 * share);
    Some(match goal {
        Goal::OfCeiling {
            at_least,
            no_errors,
        } => {
            let (share, errors) = (run.of_ceiling(), run.errors());
            let what = format!("≥ {} of the ceiling", percent(at_least));
            if no_errors {
                let measured = format!("{}, {errors} errors", percent(share));
                (
                    format!("{what}, 0 errors"),
                    measured,
                    share >= at_least && errors == 0,
                )
            } else {
                (what, percent(share), share >= at_least)
            }
        }
        Goal::P99Ms(at_most) => {
            let p99 = first.views.load.latency.p99_ms;
            let what = format!("p99 ≤ {at_most} ms at {connections} connections");
            (what, format!("{p99:.2} ms"), p99 <= at_most)
        }
        Goal::LoginsPerSecond(at_least) => {
            let rate = run.logins.flows_per_second;
            (
                format!("≥ {at_least} logins/s"),
                format!("{rate:.0}/s"),
                rate >= at_least,
            )
        }
        Goal::BytesPerSession(at_most) => {
            let bytes = run.bytes_per_session.as_ref()?.logged_in?;
            let measured = format!("{} bytes per logged-in session", thousands(bytes));
            (
                format!("≤ {} KB per session", at_most / 1000.0),
                measured,
                bytes <= at_most,
            )
        }
        Goal::RssUnderLoadMb(at_most, sessions) => {
            let mb = first.views.rss_max_under_load_kib as f64 * 1024.0 / 1e6;
            let what = format!(
                "RSS under load ≤ {at_most} MB with {} sessions",
                thousands(sessions as f64)
            );
            let measured = format!(
                "{mb:.1} MB with {} sessions",
                thousands(first.sessions as f64)
            );
            (what, measured, mb <= at_most)
        }
        Goal::TopLevelAtLeast(at_least) => {
            let share = top.views.load.requests_per_second / first.views.load.requests_per_second;
            let what = format!(
                "page views at {} sessions within {} of the first level",
                thousands(top.sessions as f64),
                percent(1.0 - at_least)
            );
            (what, percent(share), share >= at_least)
        }
    })
}
