//! The end-to-end run that needs real processes and a real browser: `redis-server`, `mock-idp` and
//! `sesame` on free ports, and headless Chromium clicking through the pages ([`crate::browser`]),
//! once per session store; then a scan of sesame's log for anything secret.
//!
//! The HTTP scenarios (login and logout hop by hop, the IdP's form, provider errors, returnTo, two
//! users, restarts, two instances, nothing secret logged) are written once in
//! `crates/server/tests/api/scenarios.rs` and run by `cargo test` on every store, both in process
//! and against the real `sesame` binary.
//!
//! sesame runs with `METRICS_ADDR`, and after the browser's scenario its `/metrics` must show
//! the logins, the refusal and the logout that scenario made.
//!
//! Each store gets `target/xtask/e2e/<store>/`, emptied first: the children's working directory, their
//! logs (`<name>.log`) and, for sqlite, the database; postgres gets a fresh database on the
//! machine's server, dropped after the run.

use std::fs;
use std::path::PathBuf;

use anyhow::{Result, bail, ensure};
use sesame_testkit::PostgresDatabase;
use sesame_testkit::bins::{App, Bins, CLIENT_SECRET, Store};
use sesame_testkit::process::{ChildGuard, Output, find_program, free_ports};

use crate::{browser, fresh_dir, webdriver};

/// Fails, naming the install command, if a tool the chosen stores need is missing.
pub fn preflight(stores: &[Store]) -> Result<()> {
    if stores.contains(&Store::Redis) && find_program("redis-server").is_none() {
        bail!("redis-server not found: apt-get install redis-server");
    }
    if stores.contains(&Store::Postgres) {
        sesame_testkit::postgres::available()
            .map_err(|err| anyhow::anyhow!("PostgreSQL is not usable: {err}"))?;
    }
    // The browser scenario runs for every store: never skipped, so missing Chromium is an error.
    webdriver::find_tools()?;
    Ok(())
}

/// One check of a running stack.
type Check = fn(&mut Stack) -> Result<()>;

/// The checks run per store, in order: the browser first, so the log scan sees its exchanges.
const CHECKS: [(&str, Check); 3] = [
    (
        "real browser: guest, login form, welcome, reload, picture fallback, logout, error page",
        real_browser,
    ),
    (
        "/metrics on METRICS_ADDR counts the browser's logins, refusal and logout",
        metrics_counted,
    ),
    (
        "no ID tokens or secrets in the app's log",
        no_secrets_logged,
    ),
];

/// Runs every check against every store, prints `e2e: N passed, M failed`, fails if any failed.
pub fn run(stores: &[Store], bins: &Bins) -> Result<()> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for &store in stores {
        println!("\n==> end to end: {store} store");
        let mut stack = match Stack::start(store, bins) {
            Ok(stack) => stack,
            Err(error) => {
                println!(
                    "  FAIL  setup ({store}), so its {} checks count as failed: {error:#}",
                    CHECKS.len()
                );
                failed += CHECKS.len();
                continue;
            }
        };
        for (name, check) in CHECKS {
            match check(&mut stack) {
                Ok(()) => {
                    passed += 1;
                    println!("  ok    {name} [{store}]");
                }
                Err(error) => {
                    failed += 1;
                    println!("  FAIL  {name} [{store}]\n      {error:#}");
                    if let Ok(Some(status)) = stack.sesame.exited() {
                        let tail = stack.sesame.log_tail();
                        println!("      sesame has exited ({status}){tail}");
                    }
                }
            }
        }
        println!("  logs: {}", stack.dir.display());
    }
    println!("e2e: {passed} passed, {failed} failed");
    ensure!(failed == 0, "{failed} end-to-end check(s) failed");
    Ok(())
}

/// The processes for one store and what the scenarios need to reach them.
struct Stack {
    /// `target/xtask/e2e/<store>/`: working directory, logs, database.
    dir: PathBuf,
    /// The app's configuration: its store, its base URL `http://127.0.0.1:<port>` and the mock
    /// IdP's issuer `http://127.0.0.1:<port>` (both without a trailing slash).
    app: App,
    /// `METRICS_ADDR`: where sesame serves `/metrics`.
    metrics_addr: String,
    /// The app (declared first: fields drop in order, so the app stops before its services).
    sesame: ChildGuard,
    /// The mock IdP and, for redis, the Redis server.
    _services: Vec<ChildGuard>,
    /// For postgres, the run's own database, dropped after the app has stopped.
    _database: Option<PostgresDatabase>,
}

impl Stack {
    /// Starts Redis (if needed), the mock IdP and sesame for `store`, waiting until each is ready.
    fn start(store: Store, bins: &Bins) -> Result<Self> {
        let dir = fresh_dir(&format!("e2e/{store}"))?;
        let [redis_port, idp_port, app_port, metrics_port] = free_ports()?;
        let metrics_addr = format!("127.0.0.1:{metrics_port}");
        let idp = format!("http://127.0.0.1:{idp_port}");
        let mut app = App::local(&idp, app_port, store)?;
        let mut services: Vec<ChildGuard> =
            app.start_store(&dir, redis_port)?.into_iter().collect();
        let database = app.start_database()?;
        let mut mock_idp = ChildGuard::spawn(
            "mock-idp",
            bins.mock_idp(&dir, idp_port, &idp),
            Output::File(dir.join("mock-idp.log")),
        )?;
        mock_idp.wait_healthy(&format!("{idp}/healthz"))?;
        services.push(mock_idp);
        let log = Output::File(dir.join("sesame.log"));
        let mut command = app.command(&bins.sesame, &dir);
        command.env("METRICS_ADDR", &metrics_addr);
        let mut sesame = ChildGuard::spawn("sesame", command, log)?;
        sesame.wait_healthy(&format!("{}/healthz", app.base_url))?;
        Ok(Self {
            dir,
            app,
            metrics_addr,
            sesame,
            _services: services,
            _database: database,
        })
    }
}

/// The same login as a person makes it, in headless Chromium (see [`browser`]).
fn real_browser(s: &mut Stack) -> Result<()> {
    browser::login_logout(s.app.store, &s.app.base_url, &s.app.issuer, &s.dir)
}

/// The browser's scenario logged in twice (once refused by the provider) and out once: exactly
/// that on `/metrics`, and no user named there.
fn metrics_counted(s: &mut Stack) -> Result<()> {
    let url = format!("http://{}/metrics", s.metrics_addr);
    let response = reqwest::blocking::get(&url)?;
    ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    let text = response.text()?;
    for expected in [
        "sesame_logins_started_total 2",
        "sesame_logins_completed_total 1",
        "sesame_logins_refused_total{reason=\"provider_refused\"} 1",
        "sesame_logouts_total{kind=\"user\"} 1",
    ] {
        ensure!(
            text.lines().any(|line| line == expected),
            "{url} lacks `{expected}`:\n{text}"
        );
    }
    ensure!(!text.contains("alice"), "{url} names the user:\n{text}");
    Ok(())
}

/// No ID token (a JWT starts `eyJ`), client secret or `APP_SECRET_KEY` in sesame's log, which must
/// not be empty.
fn no_secrets_logged(s: &mut Stack) -> Result<()> {
    let path: PathBuf = s.dir.join("sesame.log");
    let text = String::from_utf8_lossy(&fs::read(&path)?).into_owned();
    ensure!(
        text.contains("user logged in"),
        "{} does not show the browser's login: is sesame logging?",
        path.display()
    );
    for (what, secret) in [
        ("an ID token", "eyJ"),
        ("the client secret", CLIENT_SECRET),
        ("APP_SECRET_KEY", s.app.secret_key.as_str()),
    ] {
        ensure!(!text.contains(secret), "{} contains {what}", path.display());
    }
    Ok(())
}
