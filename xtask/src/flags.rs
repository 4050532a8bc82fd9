//! Command-line flags for `cargo xtask`, parsed by hand to keep dependencies few.
//!
//! [`HELP`] is the help text; the doc comments on the types below say the same thing, item by item.

use std::fmt;

/// The help text printed by `cargo xtask --help`.
pub const HELP: &str = "\
cargo xtask: Sesame's project tasks

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    test     Check everything: `cargo fmt --check`, clippy (-D warnings), `cargo test --workspace`,
             docker-compose.yml (`docker-compose config`, its variables, the demo it describes),
             then build `sesame` and `mock-idp` and log in end to end against each session store,
             starting real processes on free ports (and a private redis-server), over HTTP and in
             headless Chromium (chromedriver). Needs: redis-server, chromium, chromium-driver,
             docker-compose (Debian packages). Logs go to target/xtask/e2e/<store>/, the
             browser's screenshots to target/screenshots/<store>/.
    demo     Start the mock IdP on :9000 and the app on http://localhost:3000 (memory store).
    bench    The load benchmark: release builds of `sesame`, `mock-idp` and crates/bench's tools;
             per store, login flows, logged-in page views against a bare-axum ceiling, memory
             per session and page views with more sessions. Writes target/bench/bench.{md,json}.
             Needs redis-server and sqlite3 for those stores (Debian packages).
    help     Print this help.

OPTIONS for test:
    --store <memory|redis|sqlite>   Run end to end against this store only; repeatable.
                                    Default: all three.
    --skip-static                   Skip fmt, clippy and `cargo test` (for iterating on e2e).

OPTIONS for bench:
    --stores <memory,redis,sqlite>  Comma-separated stores to measure. Default: all three.
    --quick                         Short windows and fewer logins (for CI; numbers are rougher).

OPTIONS:
    -h, --help                      Print this help.
";

/// The command to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Check everything: fmt, clippy, unit tests, then end to end against each store.
    Test(Test),
    /// Start the mock IdP on :9000 and the app on :3000 with the memory store.
    Demo,
    /// The load benchmark, per store, against a bare-axum ceiling.
    Bench(Bench),
    /// Print the help.
    Help,
}

/// Options of `cargo xtask test`.
#[derive(Debug, PartialEq, Eq)]
pub struct Test {
    /// Stores to run end to end against (`--store`, repeatable); all of them when none is given.
    pub stores: Vec<Store>,
    /// Skip fmt, clippy and `cargo test` (`--skip-static`).
    pub skip_static: bool,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, PartialEq, Eq)]
pub struct Bench {
    /// Stores to measure (`--stores a,b`); all of them when not given.
    pub stores: Vec<Store>,
    /// Short windows and fewer logins (`--quick`).
    pub quick: bool,
}

/// A session store the app can run with (`SESSION_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// In-process memory: sessions die with the process.
    Memory,
    /// Redis: sessions survive restarts and are shared between instances.
    Redis,
    /// SQLite file: sessions survive restarts and are shared between instances.
    Sqlite,
}

impl Store {
    /// Every store, in the order the tests run them.
    pub const ALL: [Store; 3] = [Store::Memory, Store::Redis, Store::Sqlite];

    /// The value of `SESSION_STORE` for this store.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis",
            Store::Sqlite => "sqlite",
        }
    }

    /// Whether sessions outlive the process (and so can be shared between instances).
    #[allow(dead_code)] // replaced by the flags rewrite
    pub fn is_durable(self) -> bool {
        self != Store::Memory
    }

    /// Parses a store name, listing the valid names on error.
    fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|store| store.as_str() == name)
            .ok_or_else(|| format!("unknown store `{name}`: expected one of memory, redis, sqlite"))
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Err("no command given".to_owned());
    };
    let rest: Vec<String> = args.collect();
    if rest.iter().any(|arg| arg == "-h" || arg == "--help") {
        return Ok(Command::Help);
    }
    match command.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "test" => parse_test(rest).map(Command::Test),
        "demo" => no_options("demo", &rest).map(|()| Command::Demo),
        "bench" => parse_bench(rest).map(Command::Bench),
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Parses the options of `test`.
fn parse_test(args: Vec<String>) -> Result<Test, String> {
    let mut stores = Vec::new();
    let mut skip_static = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let store = if arg == "--store" {
            args.next()
                .ok_or("--store needs a value: memory, redis or sqlite")?
        } else if let Some(value) = arg.strip_prefix("--store=") {
            value.to_owned()
        } else if arg == "--skip-static" {
            skip_static = true;
            continue;
        } else {
            return Err(format!("unknown option `{arg}` for test"));
        };
        let store = Store::parse(&store)?;
        if !stores.contains(&store) {
            stores.push(store);
        }
    }
    if stores.is_empty() {
        stores = Store::ALL.to_vec();
    }
    Ok(Test {
        stores,
        skip_static,
    })
}

/// Parses the options of `bench`.
fn parse_bench(args: Vec<String>) -> Result<Bench, String> {
    let mut stores = Vec::new();
    let mut quick = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let list = if arg == "--stores" {
            args.next()
                .ok_or("--stores needs a value such as memory,redis,sqlite")?
        } else if let Some(value) = arg.strip_prefix("--stores=") {
            value.to_owned()
        } else if arg == "--quick" {
            quick = true;
            continue;
        } else {
            return Err(format!("unknown option `{arg}` for bench"));
        };
        for name in list.split(',').filter(|name| !name.is_empty()) {
            let store = Store::parse(name)?;
            if !stores.contains(&store) {
                stores.push(store);
            }
        }
    }
    if stores.is_empty() {
        stores = Store::ALL.to_vec();
    }
    Ok(Bench { stores, quick })
}

/// Rejects any argument for commands that take none.
fn no_options(command: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(arg) => Err(format!("unknown option `{arg}` for {command}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, String> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn test_defaults_to_every_store() {
        let expected = Test {
            stores: Store::ALL.to_vec(),
            skip_static: false,
        };
        assert_eq!(parse_str("test"), Ok(Command::Test(expected)));
    }

    #[test]
    fn test_takes_repeated_stores_and_skip_static() {
        let expected = Test {
            stores: vec![Store::Redis, Store::Memory],
            skip_static: true,
        };
        assert_eq!(
            parse_str("test --store redis --skip-static --store=memory --store redis"),
            Ok(Command::Test(expected))
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(parse_str("").is_err());
        assert!(parse_str("deploy").is_err());
        assert!(
            parse_str("test --store mongo")
                .unwrap_err()
                .contains("memory, redis, sqlite")
        );
        assert!(parse_str("test --store").is_err());
        assert!(parse_str("demo --now").is_err());
    }

    #[test]
    fn bench_takes_a_store_list_and_quick() {
        let all = Bench {
            stores: Store::ALL.to_vec(),
            quick: false,
        };
        assert_eq!(parse_str("bench"), Ok(Command::Bench(all)));
        let some = Bench {
            stores: vec![Store::Sqlite, Store::Memory],
            quick: true,
        };
        assert_eq!(
            parse_str("bench --quick --stores sqlite,memory,sqlite"),
            Ok(Command::Bench(some))
        );
        assert!(parse_str("bench --stores memory,mongo").is_err());
        assert!(parse_str("bench --fast").is_err());
    }

    #[test]
    fn help_anywhere() {
        assert_eq!(parse_str("--help"), Ok(Command::Help));
        assert_eq!(parse_str("test -h"), Ok(Command::Help));
        assert_eq!(parse_str("help"), Ok(Command::Help));
    }
}
