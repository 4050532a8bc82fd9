//! Command-line flags for `cargo xtask`, declared once with `xflags`: the doc comments below are the
//! help text (`cargo xtask --help`) and the parser is generated from the same declaration.
//!
//! One concept, one flag shape: every command that takes stores takes `--store NAME`, repeatable.

#![allow(missing_docs)] // The generated structs are documented by the declaration below.

use sesame_testkit::bins::Store;

xflags::xflags! {
    /// Sesame's project tasks.
    cmd xtask {
        /// Check everything: `cargo fmt --check`, clippy (-D warnings), `cargo test --workspace`,
        /// docker-compose.yml (`docker-compose config`, its variables, the demo it describes), then
        /// build `sesame` and `mock-idp` and log in end to end against each session store, starting
        /// real processes on free ports (a private redis-server, a fresh PostgreSQL database), over
        /// HTTP and in headless Chromium (chromedriver). Needs: redis-server, postgresql at
        /// 127.0.0.1:5432 (user postgres, trust), chromium, chromium-driver, docker-compose
        /// (Debian packages; `.ci/run` sets them up). Logs go to target/xtask/e2e/<store>/, the browser's screenshots to
        /// target/screenshots/<store>/, each held against xtask/screenshot-baseline/ (side by side
        /// in side-by-side/; SESAME_SCREENSHOT_BASELINE=update takes a new baseline).
        cmd test {
            /// Run end to end against this store only (memory, redis, sqlite or postgres);
            /// repeatable. Default: all four.
            repeated --store store: Store
            /// Skip fmt, clippy and `cargo test` (for iterating on e2e).
            optional --skip-static
        }
        /// Start the mock IdP on :9000 and the app on http://localhost:3000 (memory store).
        cmd demo {}
        /// The load benchmark: release builds, then crates/bench's `bench`: per store, login flows,
        /// logged-in page views against a bare-axum ceiling, memory per session and page views with
        /// more sessions. Writes target/bench/bench.{md,json} and, on a full run, docs/benchmark.md.
        /// Needs redis-server and sqlite3 for those stores (Debian packages).
        cmd bench {
            /// Measure this store only (memory, redis, sqlite, postgres or redis-cluster); repeatable.
            /// Default: all five. docs/benchmark.md is rewritten only by a full run of all five.
            repeated --store store: Store
            /// Short windows and fewer logins (for CI; rougher numbers, docs/benchmark.md untouched).
            optional --quick
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> xflags::Result<XtaskCmd> {
        let args = line.split_whitespace().map(Into::into).collect();
        Xtask::from_vec(args).map(|flags| flags.subcommand)
    }

    #[test]
    fn test_and_bench_take_stores_the_same_way() {
        let test = parse("test --store redis --skip-static --store memory");
        let Ok(XtaskCmd::Test(test)) = test else {
            panic!("{test:?}")
        };
        assert_eq!(
            (test.store, test.skip_static),
            (vec![Store::Redis, Store::Memory], true)
        );
        let bench = parse("bench --quick --store sqlite");
        let Ok(XtaskCmd::Bench(bench)) = bench else {
            panic!("{bench:?}")
        };
        assert_eq!((bench.store, bench.quick), (vec![Store::Sqlite], true));
        // A misspelt store is refused with the valid names, not ignored.
        let unknown = parse("bench --store mongo").map(|_| ()).unwrap_err();
        assert!(unknown.to_string().contains("memory, redis, sqlite"));
    }
}
