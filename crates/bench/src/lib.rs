//! Sesame's load benchmark, run by `cargo xtask bench` (which builds the release binaries first and
//! then runs this crate's `bench`). One module per job:
//!
//! - [`stack`] starts the processes measured: the mock IdP, `sesame` per store (with its
//!   `redis-server` or SQLite file) and the bare-axum ceiling (bin `bench-ceiling`).
//! - [`flows`] drives complete logins (and the provider's half alone);
//!   [`loadgen`] is a closed-loop HTTP/1.1 keep-alive load generator; both use [`client`] and
//!   record latencies in [`stats`].
//! - [`sample`] watches a server from `/proc` while load runs against it.
//! - [`backchannel`] times back-channel logouts of single users among many sessions.
//! - [`read_cache`] times how soon a logout on a second instance is refused on the first (the
//!   Redis read cache), and measures page views without the cache.
//! - [`abuse`] floods `/login` and holds half-open connections, watching what that does.
//! - [`run`] performs the steps and assembles the typed [`report`].
//! - [`wrk`] measures the logged-in page and the ceiling a second time with `wrk`, when installed.
//! - [`render`] writes the report as markdown, judging it against [`targets::TARGETS`].
//!
//! Everything talks to loopback addresses only.

pub mod abuse;
pub mod backchannel;
pub mod client;
pub mod flows;
pub mod loadgen;
pub mod read_cache;
pub mod render;
pub mod report;
pub mod run;
pub mod sample;
pub mod stack;
pub mod stats;
pub mod targets;
pub mod wrk;

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use sesame_testkit::bins::Store;

/// Runs the benchmark for `stores` and writes `target/bench/bench.{json,md}` (and, for a full
/// run of every store, `docs/benchmark.md`); fails, after writing them, if any page view went
/// wrong.
pub fn main(stores: &[Store], quick: bool) -> Result<()> {
    let exe = std::env::current_exe()?;
    // This program is target/<profile>/bench: the reports go to target/bench/.
    let target = exe
        .ancestors()
        .nth(2)
        .context("cannot find the target directory")?;
    let out = target.join("bench");
    let work = out.join("run");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot empty {}", work.display()))?;
    }
    fs::create_dir_all(&work)?;
    let report = run::measure(stores, quick, &work)?;
    let page = render::page(&report);
    write(
        &out.join("bench.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    write(&out.join("bench.md"), &page)?;
    println!("\n{}", render::tables(&report));
    println!(
        "Written to {}; logs under {}",
        out.display(),
        work.display()
    );
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmark.md");
    if publishes(stores, quick) {
        write(&docs, &page)?;
        println!("and {}", docs.display());
    } else {
        println!(
            "{} left as it was: it publishes only full runs of every store",
            docs.display()
        );
    }
    let problems = report.wrong_answers();
    if !problems.is_empty() {
        bail!("page views went wrong:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

/// Whether a run replaces the published page: a quick run's rough numbers never do, nor does a
/// full run of some stores only, whose page would drop the other stores' rows.
fn publishes(stores: &[Store], quick: bool) -> bool {
    !quick && Store::BENCHED.iter().all(|store| stores.contains(store))
}

fn write(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_runs_of_every_store_replace_the_published_page() {
        let every = Store::BENCHED;
        assert!(publishes(&every, false));
        assert!(!publishes(&every, true), "a quick run");
        assert!(!publishes(&[Store::Sqlite], false), "one store");
        assert!(!publishes(&every[1..], false), "all but memory");
    }
}
