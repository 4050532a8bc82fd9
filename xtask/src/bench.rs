//! `cargo xtask bench`: how fast Sesame logs people in and serves their pages, how much memory a
//! session costs, and whether page views slow down as sessions pile up — measured on loopback
//! against a bare-axum ceiling in the same run, for each session store.
//!
//! Release binaries only. The mock IdP runs once for the whole run; each store gets its own
//! `sesame` (and, for redis, its own `redis-server` on a free port; for sqlite, a file under
//! `target/bench/run/sqlite/`). The load comes from `crates/bench`'s tools (`login-flows`,
//! `loadgen`, `bench-ceiling`), run as processes that write JSON reports; this module starts them,
//! samples `/proc/<pid>/` of the servers meanwhile, and writes `target/bench/bench.md` and
//! `target/bench/bench.json`.
//!
//! Per store:
//! 1. logins: a warm-up batch, then the measured batch (concurrency 16); CPU per login of each
//!    process from `/proc/<pid>/stat`.
//! 2. page views of `/` with every logged-in cookie (32 connections, warm-up then the window);
//!    a sample of pages is checked for the cookie's own user.
//! 3. more logins up to the second scale level, page views again; then pending-login sessions
//!    (`GET /login` only: real sessions in the store, made 30x faster than logins) up to the third
//!    level, page views again.
//!
//! The ceiling (`bench-ceiling`, a static page of the size Sesame's logged-in page has) is measured
//! once with the same generator. This is a benchmark: it reports, and fails only when something
//! answered wrongly (errors, non-2xx, another user's page), never on a slow number.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use sesame_testkit::bins::{App, Bins, CLIENT_ID, CLIENT_SECRET, Store};
use sesame_testkit::process::{ChildGuard, Output, find_program, free_ports};
use sesame_testkit::redis::start as start_redis;

use crate::flags::Bench;
use crate::{Result, cargo, project_root, target_dir};

/// The shape of a run: `--quick` shrinks every count and window.
struct Plan {
    /// Logins before the measured ones (first-request costs, connection pools, JWKS fetch).
    warmup_logins: usize,
    /// Measured logins.
    logins: usize,
    /// Concurrent login flows.
    login_concurrency: usize,
    /// Page-view connections.
    connections: usize,
    /// Page-view warm-up, seconds.
    warmup: f64,
    /// Page-view measured window, seconds.
    duration: f64,
    /// Logged-in sessions for the second scale level (made by real logins).
    logged_in_level: usize,
    /// Total sessions for the third level (the rest are pending logins).
    total_level: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup_logins: 20,
                logins: 200,
                login_concurrency: 16,
                connections: 32,
                warmup: 1.0,
                duration: 3.0,
                logged_in_level: 2_000,
                total_level: 20_000,
            }
        } else {
            Self {
                warmup_logins: 100,
                logins: 1_000,
                login_concurrency: 16,
                connections: 32,
                warmup: 2.0,
                duration: 10.0,
                logged_in_level: 10_000,
                total_level: 100_000,
            }
        }
    }

    /// Longest a page-view run may take before it counts as hung.
    fn load_limit(&self) -> Duration {
        Duration::from_secs_f64(self.warmup + self.duration + 60.0)
    }

    fn to_json(&self) -> Value {
        json!({
            "warmup_logins": self.warmup_logins,
            "logins": self.logins,
            "login_concurrency": self.login_concurrency,
            "connections": self.connections,
            "warmup_seconds": self.warmup,
            "duration_seconds": self.duration,
            "logged_in_level": self.logged_in_level,
            "total_level": self.total_level,
        })
    }
}

/// The release binaries.
struct Tools {
    bins: Bins,
    loadgen: PathBuf,
    login_flows: PathBuf,
    ceiling: PathBuf,
}

/// What every store's run shares.
struct Context<'a> {
    plan: &'a Plan,
    tools: &'a Tools,
    /// `target/bench/run/`.
    work: PathBuf,
    /// The mock IdP's issuer (`http://127.0.0.1:<port>`).
    issuer: String,
    /// The mock IdP, for its CPU time.
    idp_pid: u32,
}

/// Runs the benchmark.
pub fn run(options: &Bench) -> Result<()> {
    let chosen = Store::chosen(&options.store);
    preflight(&chosen)?;
    let plan = Plan::new(options.quick);
    cargo::run(
        "build release binaries",
        &[
            "build",
            "--release",
            "-p",
            "sesame-server",
            "-p",
            "sesame-mock-idp",
            "-p",
            "sesame-bench",
        ],
    )?;
    let release = target_dir().join("release");
    let tools = Tools {
        bins: Bins {
            sesame: release.join("sesame"),
            mock_idp: release.join("mock-idp"),
        },
        loadgen: release.join("loadgen"),
        login_flows: release.join("login-flows"),
        ceiling: release.join("bench-ceiling"),
    };
    let out = target_dir().join("bench");
    let work = out.join("run");
    if work.exists() {
        fs::remove_dir_all(&work).map_err(|e| format!("cannot empty {}: {e}", work.display()))?;
    }
    fs::create_dir_all(&work)?;
    let machine = machine()?;
    println!("\n==> machine: {}", machine_line(&machine));
    let busy_before = busy_cores(Duration::from_secs(1))?;
    if busy_before > 0.25 {
        println!(
            "warning: {busy_before:.2} cores were busy before the run started (other programs): \
             the numbers will be lower and noisier than on a quiet machine"
        );
    }

    let [idp_port] = free_ports()?;
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let mut idp = ChildGuard::spawn(
        "mock-idp",
        tools.bins.mock_idp(&work, idp_port, &issuer),
        Output::File(work.join("mock-idp.log")),
    )?;
    idp.wait_healthy(&format!("{issuer}/healthz"))?;
    let idp_pid = pid(&idp)?;
    let ctx = Context {
        plan: &plan,
        tools: &tools,
        work: work.clone(),
        issuer,
        idp_pid,
    };

    println!(
        "\n==> the mock IdP alone: {} flows (authorize → token → userinfo)",
        plan.logins
    );
    let provider = provider_alone(&ctx)?;

    let mut stores = Vec::new();
    for &store in &chosen {
        println!("\n==> store: {store}");
        stores.push(bench_store(&ctx, store)?);
    }
    drop(idp);

    let report = json!({
        "machine": machine,
        "busy_cores_before_start": busy_before,
        "plan": plan.to_json(),
        "provider_alone": provider,
        "stores": stores,
        "ratios": ratios(&stores),
    });
    let markdown = render(&report);
    fs::write(
        out.join("bench.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    fs::write(out.join("bench.md"), &markdown)?;
    println!("\n{markdown}");
    println!(
        "Written to {} and bench.json; logs and raw reports under {}",
        out.join("bench.md").display(),
        work.display()
    );
    wrong_answers(&stores)
}

/// Fails early, naming the package, when a tool a chosen store needs is missing.
fn preflight(stores: &[Store]) -> Result<()> {
    if stores.contains(&Store::Redis) && find_program("redis-server").is_none() {
        bail!("redis-server not found: apt-get install redis-server");
    }
    if stores.contains(&Store::Sqlite) && find_program("sqlite3").is_none() {
        bail!("sqlite3 not found (it counts the SQLite store's rows): apt-get install sqlite3");
    }
    Ok(())
}

/// The benchmark fails (after reporting) if any page view or login went wrong.
fn wrong_answers(stores: &[Value]) -> Result<()> {
    let mut problems = Vec::new();
    for store in stores {
        for level in store["levels"].as_array().into_iter().flatten() {
            let load = &level["load"];
            let bad = ["errors", "non_2xx", "wrong_user"]
                .iter()
                .map(|key| load[key].as_u64().unwrap_or(0))
                .sum::<u64>();
            if bad > 0 {
                problems.push(format!(
                    "{} with {} sessions: {} errors, {} non-2xx, {} wrong user; first: {}",
                    store["store"].as_str().unwrap_or("?"),
                    level["sessions"],
                    load["errors"],
                    load["non_2xx"],
                    load["wrong_user"],
                    load["first_problem"]
                ));
            }
        }
    }
    ensure!(
        problems.is_empty(),
        "page views went wrong:\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}

/// A running child's PID.
fn pid(child: &ChildGuard) -> Result<u32> {
    child
        .id()
        .ok_or_else(|| format!("{} is not running", child.name()).into())
}

// ---- the steps ----

/// The provider's half of a login, alone: what the mock IdP can do when Sesame is not running.
fn provider_alone(ctx: &Context) -> Result<Value> {
    let before = cpu_seconds(ctx.idp_pid)?;
    let report = login_flows(
        ctx,
        &ctx.work,
        "provider",
        &[
            ("mode", "provider".to_owned()),
            // The redirect URI the provider sends codes to; nothing listens there, nothing follows it.
            ("app", "http://127.0.0.1:9".to_owned()),
            ("flows", ctx.plan.logins.to_string()),
            ("concurrency", ctx.plan.login_concurrency.to_string()),
        ],
    )?;
    let cpu = cpu_seconds(ctx.idp_pid)? - before;
    let flows = report["completed"].as_f64().unwrap_or(0.0).max(1.0);
    println!(
        "    {:.0} flows/s, mock IdP CPU {:.2} ms per flow",
        report["flows_per_second"].as_f64().unwrap_or(0.0),
        cpu * 1000.0 / flows
    );
    Ok(json!({ "flows": report, "idp_cpu_ms_per_flow": cpu * 1000.0 / flows }))
}

/// One store's running processes and where its files go.
struct Stack {
    store: Store,
    /// `target/bench/run/<store>/`.
    dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    base: String,
    sesame_pid: u32,
    redis_pid: Option<u32>,
    redis_addr: SocketAddr,
    /// The SQLite database file (sqlite store).
    db: PathBuf,
}

/// Everything measured for one store.
fn bench_store(ctx: &Context, store: Store) -> Result<Value> {
    let plan = ctx.plan;
    let dir = ctx.work.join(store.as_str());
    fs::create_dir_all(&dir)?;
    let [redis_port, app_port] = free_ports()?;
    let base = format!("http://127.0.0.1:{app_port}");
    let mut app = App::local(&ctx.issuer, app_port, store)?;
    let redis_addr = SocketAddr::from(([127, 0, 0, 1], redis_port));
    let db = dir.join("sesame.db");
    let mut redis = None;
    match store {
        Store::Memory => {}
        Store::Redis => {
            redis = Some(start_redis(&dir, redis_port)?);
            app.redis_url = Some(format!("redis://{redis_addr}/0"));
        }
        Store::Sqlite => app.database_url = Some(format!("sqlite://{}?mode=rwc", db.display())),
    }
    let mut sesame = ChildGuard::spawn(
        "sesame",
        app.command(&ctx.tools.bins.sesame, &dir),
        Output::File(dir.join("sesame.log")),
    )?;
    sesame.wait_healthy(&format!("{base}/healthz"))?;
    let s = Stack {
        store,
        dir,
        base,
        sesame_pid: pid(&sesame)?,
        redis_pid: redis.as_ref().map(pid).transpose()?,
        redis_addr,
        db,
    };
    thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_kib(s.sesame_pid)?;
    let store_idle = store_size(&s)?;

    // 1. Logins: a warm-up batch, then the measured one with every process's CPU time around it.
    let warmup = login_batch(ctx, &s, "warm", "warmup", plan.warmup_logins)?;
    let procs = [
        ("sesame", Some(s.sesame_pid)),
        ("mock_idp", Some(ctx.idp_pid)),
        ("redis", s.redis_pid),
    ];
    let cpu_before = cpu_all(&procs)?;
    let logins = login_batch(ctx, &s, "user", "logins", plan.logins)?;
    let cpu_after = cpu_all(&procs)?;
    let completed = logins["completed"].as_f64().unwrap_or(0.0).max(1.0);
    let mut login_cpu = serde_json::Map::new();
    for ((name, _), (before, after)) in procs.iter().zip(cpu_before.iter().zip(&cpu_after)) {
        if let (Some(before), Some(after)) = (before, after) {
            login_cpu.insert(
                (*name).to_owned(),
                json!((after - before) * 1000.0 / completed),
            );
        }
    }
    let driver_cpu = logins["driver_cpu_seconds"].as_f64().unwrap_or(0.0);
    login_cpu.insert("driver".to_owned(), json!(driver_cpu * 1000.0 / completed));
    println!(
        "    logins: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms; CPU ms per login: {}",
        logins["flows_per_second"].as_f64().unwrap_or(0.0),
        logins["per_flow"]["p50_ms"].as_f64().unwrap_or(0.0),
        logins["per_flow"]["p99_ms"].as_f64().unwrap_or(0.0),
        login_cpu
            .iter()
            .map(|(name, ms)| format!("{name} {:.2}", ms.as_f64().unwrap_or(0.0)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rss_after_logins = rss_kib(s.sesame_pid)?;
    concat(
        &[
            s.dir.join("warmup-cookies.txt"),
            s.dir.join("logins-cookies.txt"),
        ],
        &s.dir.join("cookies-1.txt"),
    )?;
    concat(
        &[
            s.dir.join("warmup-expected.txt"),
            s.dir.join("logins-expected.txt"),
        ],
        &s.dir.join("expected-1.txt"),
    )?;
    let page_bytes = page_size(
        &s.base,
        &s.dir.join("cookies-1.txt"),
        &s.dir.join("expected-1.txt"),
    )?;
    let mut logged_in = plan.warmup_logins + plan.logins;

    // 2. Page views, between two runs of the ceiling so that both see the same machine (and the
    //    two ceilings show how much it drifted meanwhile).
    println!("    ceiling: bare axum, a static {page_bytes}-byte page, same generator and cookies");
    let cookies = s.dir.join("cookies-1.txt");
    let before = measure_ceiling(ctx, &s.dir, "ceiling-before", page_bytes, &cookies)?;
    let mut levels = vec![page_view_level(ctx, &s, 1, logged_in, 0)?];
    let after = measure_ceiling(ctx, &s.dir, "ceiling-after", page_bytes, &cookies)?;
    let ceiling = ceiling_summary(page_bytes, before, after);

    // 3. More logged-in sessions (real logins), then pending logins on top.
    let more = plan.logged_in_level.saturating_sub(logged_in);
    login_batch(ctx, &s, "more", "more", more)?;
    logged_in += more;
    concat(
        &[s.dir.join("cookies-1.txt"), s.dir.join("more-cookies.txt")],
        &s.dir.join("cookies-2.txt"),
    )?;
    concat(
        &[
            s.dir.join("expected-1.txt"),
            s.dir.join("more-expected.txt"),
        ],
        &s.dir.join("expected-2.txt"),
    )?;
    levels.push(page_view_level(ctx, &s, 2, logged_in, 0)?);

    let pending = plan.total_level.saturating_sub(logged_in);
    let filler = login_flows(
        ctx,
        &s.dir,
        "pending",
        &[
            ("mode", "pending".to_owned()),
            ("app", s.base.clone()),
            ("flows", pending.to_string()),
            ("concurrency", "32".to_owned()),
        ],
    )?;
    println!(
        "    {pending} pending-login sessions at {:.0}/s",
        filler["flows_per_second"].as_f64().unwrap_or(0.0)
    );
    // Same cookies as level 2: the pending sessions only sit in the store.
    fs::copy(s.dir.join("cookies-2.txt"), s.dir.join("cookies-3.txt"))?;
    fs::copy(s.dir.join("expected-2.txt"), s.dir.join("expected-3.txt"))?;
    levels.push(page_view_level(ctx, &s, 3, logged_in, pending)?);

    let per_session = bytes_per_session(store, rss_idle, &store_idle, &levels);
    drop(sesame);
    drop(redis);
    Ok(json!({
        "store": store.as_str(),
        "rss_idle_kib": rss_idle,
        "rss_after_logins_kib": rss_after_logins,
        "store_idle": store_idle,
        "warmup_logins": warmup,
        "logins": logins,
        "login_cpu_ms": login_cpu,
        "page_bytes": page_bytes,
        "ceiling": ceiling,
        "pending_filler": filler,
        "levels": levels,
        "bytes_per_session": per_session,
    }))
}

/// `count` real logins as `{prefix}NNNNNN`, writing `<name>-cookies.txt` and `<name>-expected.txt`.
fn login_batch(ctx: &Context, s: &Stack, prefix: &str, name: &str, count: usize) -> Result<Value> {
    let file = |kind: &str| {
        s.dir
            .join(format!("{name}-{kind}.txt"))
            .display()
            .to_string()
    };
    login_flows(
        ctx,
        &s.dir,
        name,
        &[
            ("mode", "login".to_owned()),
            ("app", s.base.clone()),
            ("flows", count.to_string()),
            ("concurrency", ctx.plan.login_concurrency.to_string()),
            ("user-prefix", prefix.to_owned()),
            ("cookies-out", file("cookies")),
            ("expected-out", file("expected")),
        ],
    )
}

/// Runs `login-flows` with `options` (plus the issuer and client) and returns its report.
fn login_flows(ctx: &Context, dir: &Path, name: &str, options: &[(&str, String)]) -> Result<Value> {
    let out = dir.join(format!("{name}.json"));
    let mut command = Command::new(&ctx.tools.login_flows);
    command.current_dir(dir).args([
        "--issuer",
        &ctx.issuer,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--out",
        &out.display().to_string(),
    ]);
    for (option, value) in options {
        command.arg(format!("--{option}")).arg(value);
    }
    // A login takes milliseconds; even the 90k pending logins take well under a minute.
    let limit = Duration::from_secs(600);
    let log = dir.join(format!("{name}.log"));
    run_tool("login-flows", command, &log, limit, || {})?;
    read_json(&out)
}

/// Page views at scale level `level` (cookies from `cookies-{level}.txt`), with the server's RSS
/// sampled during the load and its CPU time measured around it.
fn page_view_level(
    ctx: &Context,
    s: &Stack,
    level: usize,
    logged_in: usize,
    pending: usize,
) -> Result<Value> {
    let cookies = s.dir.join(format!("cookies-{level}.txt"));
    let expected = s.dir.join(format!("expected-{level}.txt"));
    let target = LoadTarget {
        url: format!("{}/", s.base),
        cookies: &cookies,
        expected: Some(&expected),
        server_pid: s.sesame_pid,
        helper_pids: s.redis_pid.into_iter().collect(),
    };
    let (load, server) = page_views(ctx, &s.dir, &format!("pages-{level}"), &target)?;
    let rss_after = rss_kib(s.sesame_pid)?;
    let sessions = logged_in + pending;
    println!(
        "    page views, {sessions} sessions ({logged_in} logged in): {:.0} req/s, p50 {:.2} ms, \
         p99 {:.2} ms, max {:.1} ms; {} errors, {} non-2xx, {}/{} wrong user; RSS max {} KiB; \
         sesame {:.0} µs CPU/req; other load {:.2} cores",
        load["requests_per_second"].as_f64().unwrap_or(0.0),
        load["latency"]["p50_ms"].as_f64().unwrap_or(0.0),
        load["latency"]["p99_ms"].as_f64().unwrap_or(0.0),
        load["latency"]["max_ms"].as_f64().unwrap_or(0.0),
        load["errors"],
        load["non_2xx"],
        load["wrong_user"],
        load["checked"],
        server.rss_max_kib,
        server.cpu_us_per_request,
        server.other_cores,
    );
    Ok(json!({
        "level": level,
        "sessions": sessions,
        "logged_in": logged_in,
        "pending": pending,
        "load": load,
        "rss_max_under_load_kib": server.rss_max_kib,
        "rss_after_kib": rss_after,
        "server_cpu_us_per_request": server.cpu_us_per_request,
        "other_load_cores": server.other_cores,
        "store_size": store_size(s)?,
    }))
}

/// What one load run is aimed at.
struct LoadTarget<'a> {
    url: String,
    cookies: &'a Path,
    /// Expected text per cookie, checked on a sample of pages.
    expected: Option<&'a Path>,
    /// The server under load: its RSS is sampled and its CPU time measured.
    server_pid: u32,
    /// Processes working for it (redis), whose CPU time is ours too.
    helper_pids: Vec<u32>,
}

/// What the server and the machine did during a load run.
struct ServerUse {
    rss_max_kib: u64,
    cpu_us_per_request: f64,
    /// CPU time not charged to the server, its helpers or the generator, in cores: other
    /// programs on the machine, plus kernel work not charged to any process.
    other_cores: f64,
}

/// One `loadgen` run, sampling the server meanwhile.
fn page_views(
    ctx: &Context,
    dir: &Path,
    name: &str,
    target: &LoadTarget,
) -> Result<(Value, ServerUse)> {
    let plan = ctx.plan;
    let out = dir.join(format!("{name}.json"));
    let mut command = Command::new(&ctx.tools.loadgen);
    command.current_dir(dir).args([
        "--url",
        &target.url,
        "--connections",
        &plan.connections.to_string(),
        "--duration",
        &plan.duration.to_string(),
        "--warmup",
        &plan.warmup.to_string(),
        "--cookies",
        &target.cookies.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    if let Some(expected) = target.expected {
        command.args(["--expected", &expected.display().to_string()]);
    }
    let helpers_cpu = |pids: &[u32]| -> Result<f64> {
        pids.iter()
            .map(|&pid| cpu_seconds(pid))
            .sum::<Result<f64>>()
    };
    let server_before = cpu_seconds(target.server_pid)?;
    let helpers_before = helpers_cpu(&target.helper_pids)?;
    let machine_before = machine_busy_seconds()?;
    let started = Instant::now();
    let mut rss_max = rss_kib(target.server_pid)?;
    let log = dir.join(format!("{name}.log"));
    run_tool("loadgen", command, &log, plan.load_limit(), || {
        if let Ok(rss) = rss_kib(target.server_pid) {
            rss_max = rss_max.max(rss);
        }
    })?;
    let wall = started.elapsed().as_secs_f64();
    let machine = machine_busy_seconds()? - machine_before;
    let server = cpu_seconds(target.server_pid)? - server_before;
    let helpers = helpers_cpu(&target.helper_pids)? - helpers_before;
    let load = read_json(&out)?;
    let generator = load["generator_cpu_seconds"].as_f64().unwrap_or(0.0);
    let requests = load["requests"].as_f64().unwrap_or(0.0).max(1.0);
    // The server's CPU over the warm-up too, spread over the measured requests' share of the run.
    let measured_share = plan.duration / (plan.duration + plan.warmup);
    Ok((
        load,
        ServerUse {
            rss_max_kib: rss_max,
            cpu_us_per_request: server * measured_share * 1e6 / requests,
            other_cores: ((machine - server - helpers - generator) / wall).max(0.0),
        },
    ))
}

/// The two ceiling runs around a store's page views, and their means.
fn ceiling_summary(page_bytes: u64, before: Value, after: Value) -> Value {
    let mean = |pointer: &str| {
        (before.pointer(pointer).map_or(f64::NAN, f) + after.pointer(pointer).map_or(f64::NAN, f))
            / 2.0
    };
    let rps = |run: &Value| f(&run["load"]["requests_per_second"]);
    json!({
        "page_bytes": page_bytes,
        "requests_per_second": finite(mean("/load/requests_per_second")),
        "requests_per_second_min": finite(rps(&before).min(rps(&after))),
        "requests_per_second_max": finite(rps(&before).max(rps(&after))),
        "p50_ms": finite(mean("/load/latency/p50_ms")),
        "p99_ms": finite(mean("/load/latency/p99_ms")),
        "server_cpu_us_per_request": finite(mean("/server_cpu_us_per_request")),
        "runs": [before, after],
    })
}

/// The bare-axum ceiling: the same generator against a static page of `page_bytes` bytes.
fn measure_ceiling(
    ctx: &Context,
    dir: &Path,
    name: &str,
    page_bytes: u64,
    cookies: &Path,
) -> Result<Value> {
    let [port] = free_ports()?;
    let mut command = Command::new(&ctx.tools.ceiling);
    command.current_dir(dir).args([
        "--port",
        &port.to_string(),
        "--bytes",
        &page_bytes.to_string(),
    ]);
    let mut ceiling = ChildGuard::spawn(
        "bench-ceiling",
        command,
        Output::File(dir.join(format!("{name}.log"))),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    ceiling.wait_healthy(&format!("{base}/healthz"))?;
    let target = LoadTarget {
        url: format!("{base}/"),
        cookies,
        expected: None,
        server_pid: pid(&ceiling)?,
        helper_pids: Vec::new(),
    };
    let (load, server) = page_views(ctx, dir, &format!("{name}-load"), &target)?;
    println!(
        "    ceiling: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {:.0} µs CPU/req; \
         other load {:.2} cores",
        load["requests_per_second"].as_f64().unwrap_or(0.0),
        load["latency"]["p50_ms"].as_f64().unwrap_or(0.0),
        load["latency"]["p99_ms"].as_f64().unwrap_or(0.0),
        load["latency"]["max_ms"].as_f64().unwrap_or(0.0),
        server.cpu_us_per_request,
        server.other_cores,
    );
    Ok(json!({
        "page_bytes": page_bytes,
        "load": load,
        "rss_max_under_load_kib": server.rss_max_kib,
        "server_cpu_us_per_request": server.cpu_us_per_request,
        "other_load_cores": server.other_cores,
    }))
}

/// Runs a bench tool to completion (at most `limit`), calling `sample` every 100 ms meanwhile.
fn run_tool(
    name: &str,
    command: Command,
    log: &Path,
    limit: Duration,
    mut sample: impl FnMut(),
) -> Result<()> {
    let mut child = ChildGuard::spawn(name, command, Output::File(log.to_path_buf()))?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.exited()? {
            ensure!(
                status.success(),
                "{name} failed ({status}){}",
                child.log_tail()
            );
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{name} was still running after {} s{}",
            limit.as_secs(),
            child.log_tail()
        );
        sample();
        thread::sleep(Duration::from_millis(100));
    }
}

/// Sesame's logged-in home page size in bytes, checked to be the first cookie's user's page.
fn page_size(base: &str, cookies: &Path, expected: &Path) -> Result<u64> {
    let cookie = first_line(cookies)?;
    let name = first_line(expected)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client
        .get(format!("{base}/"))
        .header(reqwest::header::COOKIE, cookie)
        .send()?;
    let status = response.status();
    let page = response.text()?;
    ensure!(
        status.is_success() && page.contains(&name),
        "GET / with the first login's cookie: {status}, and the page lacks {name:?}"
    );
    Ok(page.len() as u64)
}

// ---- what the stores hold ----

/// How much the store holds now: for redis `used_memory` and `DBSIZE`, for sqlite the rows, their
/// payload and the database's pages; nothing for memory (its size is the process's RSS).
fn store_size(s: &Stack) -> Result<Value> {
    let (redis, db) = (s.redis_addr, s.db.as_path());
    match s.store {
        Store::Memory => Ok(Value::Null),
        Store::Redis => {
            let info = redis_query(redis, "INFO memory")?;
            let used_memory = info
                .lines()
                .find_map(|line| line.strip_prefix("used_memory:"))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .ok_or("INFO memory without used_memory")?;
            let keys: u64 = redis_query(redis, "DBSIZE")?.trim().parse()?;
            Ok(json!({ "used_memory": used_memory, "keys": keys }))
        }
        Store::Sqlite => {
            let output = Command::new("sqlite3")
                .arg(db)
                .arg(
                    "select count(*), coalesce(sum(length(data)), 0) from tower_sessions; \
                     pragma page_count; pragma page_size;",
                )
                .output()
                .map_err(|e| format!("cannot run sqlite3: {e}"))?;
            ensure!(
                output.status.success(),
                "sqlite3 {}: {}",
                db.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8_lossy(&output.stdout);
            let numbers: Vec<u64> = text
                .split(['|', '\n'])
                .filter_map(|part| part.trim().parse().ok())
                .collect();
            let &[rows, payload, pages, page_size] = numbers.as_slice() else {
                bail!("unexpected sqlite3 output: {text:?}");
            };
            let file = |suffix: &str| {
                fs::metadata(format!("{}{suffix}", db.display())).map_or(0, |meta| meta.len())
            };
            Ok(json!({
                "rows": rows,
                "payload_bytes": payload,
                "database_bytes": pages * page_size,
                "file_bytes": file(""),
                "wal_bytes": file("-wal"),
            }))
        }
    }
}

/// Bytes per logged-in session (from level 1 to level 2, made by real logins) and per pending
/// session (level 2 to 3). Memory: the change of the process's settled RSS. Redis: `used_memory`
/// change over the keys added. SQLite: database pages over rows, and the change between levels.
fn bytes_per_session(store: Store, rss_idle: u64, store_idle: &Value, levels: &[Value]) -> Value {
    let (Some(l1), Some(l2), Some(l3)) = (levels.first(), levels.get(1), levels.get(2)) else {
        return Value::Null;
    };
    let sessions = |level: &Value| level["sessions"].as_f64().unwrap_or(0.0);
    let slope = |from: &Value, to: &Value, bytes: &dyn Fn(&Value) -> f64| {
        let added = sessions(to) - sessions(from);
        if added > 0.0 {
            json!((bytes(to) - bytes(from)) / added)
        } else {
            Value::Null
        }
    };
    match store {
        Store::Memory => {
            let rss = |level: &Value| level["rss_after_kib"].as_f64().unwrap_or(0.0) * 1024.0;
            json!({
                "method": "change of sesame's RSS (after each level's page views) over the sessions added",
                "logged_in": slope(l1, l2, &rss),
                "pending": slope(l2, l3, &rss),
                "all_sessions_at_top_level": (rss(l3) - rss_idle as f64 * 1024.0) / sessions(l3).max(1.0),
            })
        }
        Store::Redis => {
            let used = |level: &Value| level["store_size"]["used_memory"].as_f64().unwrap_or(0.0);
            let base = store_idle["used_memory"].as_f64().unwrap_or(0.0);
            let keys = l3["store_size"]["keys"].as_f64().unwrap_or(0.0).max(1.0);
            json!({
                "method": "change of Redis used_memory over the keys (DBSIZE) added",
                "logged_in": slope(l1, l2, &used),
                "pending": slope(l2, l3, &used),
                "all_sessions_at_top_level": (used(l3) - base) / keys,
            })
        }
        Store::Sqlite => {
            let pages = |level: &Value| {
                level["store_size"]["database_bytes"]
                    .as_f64()
                    .unwrap_or(0.0)
            };
            let rows = l3["store_size"]["rows"].as_f64().unwrap_or(0.0).max(1.0);
            json!({
                "method": "change of the database's size (page_count × page_size) over the rows added",
                "logged_in": slope(l1, l2, &pages),
                "pending": slope(l2, l3, &pages),
                "all_sessions_at_top_level": pages(l3) / rows,
            })
        }
    }
}

/// Sends one inline command to Redis and returns the reply's text (bulk string or integer).
fn redis_query(addr: SocketAddr, command: &str) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let header = header.trim_end();
    if let Some(integer) = header.strip_prefix(':') {
        return Ok(integer.to_owned());
    }
    let Some(length) = header.strip_prefix('$') else {
        bail!("Redis answered {command:?} with {header:?}");
    };
    let length: usize = length.parse()?;
    ensure!(length <= 1 << 20, "Redis reply too long ({length} bytes)");
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

// ---- /proc ----

/// Resident set size of `pid`, KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

/// CPU seconds (user + system) `pid` has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the parenthesised name (which may hold spaces) come fields 3...; utime and stime are
    // fields 14 and 15, in ticks of 1/100 s (USER_HZ on Linux).
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64> {
        Ok(fields
            .get(index)
            .ok_or("short /proc stat")?
            .parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// CPU seconds the whole machine has spent busy (all cores, user + system + interrupts), from
/// `/proc/stat`.
fn machine_busy_seconds() -> Result<f64> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().ok_or("empty /proc/stat")?;
    // cpu user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Ok(busy as f64 / 100.0)
}

/// How many cores were busy, on average, over the next `window`.
fn busy_cores(window: Duration) -> Result<f64> {
    let before = machine_busy_seconds()?;
    thread::sleep(window);
    Ok((machine_busy_seconds()? - before) / window.as_secs_f64())
}

/// CPU seconds of each process that runs (`None` for absent ones).
fn cpu_all(procs: &[(&str, Option<u32>)]) -> Result<Vec<Option<f64>>> {
    procs
        .iter()
        .map(|(_, pid)| pid.map(cpu_seconds).transpose())
        .collect()
}

/// Cores, CPU model, kernel and memory of this machine.
fn machine() -> Result<Value> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown", |(_, model)| model.trim());
    let memory_kib = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Ok(json!({
        "cores": cores,
        "cpu_model": model,
        "memory_gib": memory_kib as f64 / 1024.0 / 1024.0,
        "kernel": kernel.trim(),
        "rustc": rustc_version(),
    }))
}

/// `rustc --version`, for the record.
fn rustc_version() -> String {
    Command::new("rustc")
        .arg("--version")
        .current_dir(project_root())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

// ---- files ----

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn first_line(path: &Path) -> Result<String> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} is empty", path.display()).into())
}

/// Writes the concatenation of `parts` (missing ones count as empty) to `to`.
fn concat(parts: &[PathBuf], to: &Path) -> Result<()> {
    let mut all = String::new();
    for part in parts {
        if part.exists() {
            all.push_str(&fs::read_to_string(part)?);
        }
    }
    fs::write(to, all)?;
    Ok(())
}

// ---- the report ----

/// Per store: page views as a share of the ceiling measured next to them (throughput, and CPU per
/// request the other way round), and the top scale level against the first.
fn ratios(stores: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    for store in stores {
        let name = store["store"].as_str().unwrap_or("?");
        let rps = |i: usize| f(&store["levels"][i]["load"]["requests_per_second"]);
        let ceiling = &store["ceiling"];
        out.insert(
            name.to_owned(),
            json!({
                "of_ceiling": finite(rps(0) / f(&ceiling["requests_per_second"])),
                "cpu_per_request_ceiling_over_sesame": finite(
                    f(&ceiling["server_cpu_us_per_request"])
                        / f(&store["levels"][0]["server_cpu_us_per_request"])
                ),
                "top_level_vs_first": finite(rps(2) / rps(0)),
            }),
        );
    }
    Value::Object(out)
}

/// `value` as JSON, or `null` when it is not a finite number.
fn finite(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

fn machine_line(machine: &Value) -> String {
    format!(
        "{} cores, {}, {:.0} GiB, Linux {}, {}",
        machine["cores"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        machine["memory_gib"].as_f64().unwrap_or(0.0),
        machine["kernel"].as_str().unwrap_or("?"),
        machine["rustc"].as_str().unwrap_or("?")
    )
}

fn f(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

/// 12345.6 → "12,346".
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

fn mib(kib: &Value) -> String {
    format!("{:.1} MiB", f(kib) / 1024.0)
}

/// The markdown report: page views, logins, memory, scale, then the targets.
fn render(report: &Value) -> String {
    let mut md = String::new();
    let plan = &report["plan"];
    let stores = report["stores"].as_array().cloned().unwrap_or_default();
    let name = |store: &Value| store["store"].as_str().unwrap_or("?").to_owned();
    let _ = writeln!(md, "Machine: {}  ", machine_line(&report["machine"]));
    let _ = writeln!(
        md,
        "Run: logins {} (after {} warm-up) at concurrency {}; page views with {} connections, \
         {} s after a {} s warm-up; all on loopback, the load generator on the same cores. \
         {:.2} cores were busy with other work before the start.\n",
        plan["logins"],
        plan["warmup_logins"],
        plan["login_concurrency"],
        plan["connections"],
        plan["duration_seconds"],
        plan["warmup_seconds"],
        f(&report["busy_cores_before_start"]),
    );

    let _ = writeln!(
        md,
        "| page views of `/`, logged in | req/s | ceiling req/s (before–after) | of ceiling | p50 ms | p99 ms | max ms | CPU µs/req (ceiling) | other load, cores | errors | wrong user / checked |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for store in &stores {
        let level = &store["levels"][0];
        let load = &level["load"];
        let ceiling = &store["ceiling"];
        let rps = f(&load["requests_per_second"]);
        let ceiling_rps = f(&ceiling["requests_per_second"]);
        let _ = writeln!(
            md,
            "| {} store, {} sessions | {} | {} ({}–{}) | {:.0}% | {:.2} | {:.2} | {:.1} | {:.0} ({:.0}) | {:.2} | {} | {} / {} |",
            name(store),
            thousands(f(&level["sessions"])),
            thousands(rps),
            thousands(ceiling_rps),
            thousands(f(&ceiling["requests_per_second_min"])),
            thousands(f(&ceiling["requests_per_second_max"])),
            100.0 * rps / ceiling_rps,
            f(&load["latency"]["p50_ms"]),
            f(&load["latency"]["p99_ms"]),
            f(&load["latency"]["max_ms"]),
            f(&level["server_cpu_us_per_request"]),
            f(&ceiling["server_cpu_us_per_request"]),
            f(&level["other_load_cores"]),
            load["errors"].as_u64().unwrap_or(0) + load["non_2xx"].as_u64().unwrap_or(0),
            load["wrong_user"],
            load["checked"],
        );
    }
    if let Some(first) = stores.first() {
        let _ = writeln!(
            md,
            "\nThe ceiling is `bench-ceiling`: a bare axum handler answering a static {}-byte page \
             (the size of Sesame's logged-in page) with no session layer, measured with the same \
             generator and cookies just before and just after each store's page views; the ratio is \
             against the mean of the two.",
            first["page_bytes"]
        );
    }

    let provider = &report["provider_alone"];
    let _ = writeln!(
        md,
        "\n| logins (`/login` → IdP → `/callback`) | logins/s | p50 ms | p99 ms | CPU ms per login: sesame | mock IdP | redis | driver |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let opt = |value: &Value| {
        value
            .as_f64()
            .map_or("–".to_owned(), |ms| format!("{ms:.2}"))
    };
    for store in &stores {
        let logins = &store["logins"];
        let cpu = &store["login_cpu_ms"];
        let _ = writeln!(
            md,
            "| {} store | {} | {:.1} | {:.1} | {} | {} | {} | {} |",
            name(store),
            thousands(f(&logins["flows_per_second"])),
            f(&logins["per_flow"]["p50_ms"]),
            f(&logins["per_flow"]["p99_ms"]),
            opt(&cpu["sesame"]),
            opt(&cpu["mock_idp"]),
            opt(&cpu["redis"]),
            opt(&cpu["driver"]),
        );
    }
    let _ = writeln!(
        md,
        "| mock IdP alone: authorize → token → userinfo | {} | {:.1} | {:.1} | – | {:.2} | – | {:.2} |",
        thousands(f(&provider["flows"]["flows_per_second"])),
        f(&provider["flows"]["per_flow"]["p50_ms"]),
        f(&provider["flows"]["per_flow"]["p99_ms"]),
        f(&provider["idp_cpu_ms_per_flow"]),
        f(&provider["flows"]["driver_cpu_seconds"]) * 1000.0
            / f(&provider["flows"]["completed"]).max(1.0),
    );

    let _ = writeln!(
        md,
        "\n| memory | sesame RSS idle | after logins | under load | bytes per logged-in session | per pending login | per session at {} |",
        thousands(f(&plan["total_level"]))
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for store in &stores {
        let per = &store["bytes_per_session"];
        let _ = writeln!(
            md,
            "| {} store | {} | {} | {} | {} | {} | {} |",
            name(store),
            mib(&store["rss_idle_kib"]),
            mib(&store["rss_after_logins_kib"]),
            mib(&store["levels"][0]["rss_max_under_load_kib"]),
            thousands(f(&per["logged_in"])),
            thousands(f(&per["pending"])),
            thousands(f(&per["all_sessions_at_top_level"])),
        );
    }
    let _ = writeln!(
        md,
        "\nBytes per session: memory store, the change of sesame's RSS between scale levels over \
         the sessions added; Redis, the change of `used_memory` over the keys added; SQLite, the \
         change of the database's pages over the rows added. Logged-in sessions come from real \
         logins; pending logins from `GET /login` alone."
    );

    let _ = writeln!(
        md,
        "\n| scale: page views with more sessions in the store | sessions (logged in) | req/s | vs first level | p99 ms | CPU µs/req | other load, cores |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for store in &stores {
        let levels = store["levels"].as_array().cloned().unwrap_or_default();
        let first = levels
            .first()
            .map_or(f64::NAN, |level| f(&level["load"]["requests_per_second"]));
        for level in &levels {
            let rps = f(&level["load"]["requests_per_second"]);
            let _ = writeln!(
                md,
                "| {} store | {} ({}) | {} | {:.0}% | {:.2} | {:.0} | {:.2} |",
                name(store),
                thousands(f(&level["sessions"])),
                thousands(f(&level["logged_in"])),
                thousands(rps),
                100.0 * rps / first,
                f(&level["load"]["latency"]["p99_ms"]),
                f(&level["server_cpu_us_per_request"]),
                f(&level["other_load_cores"]),
            );
        }
    }
    let _ = writeln!(
        md,
        "\nPage views spread every logged-in session's cookie over the requests; at the top level \
         the sessions beyond those are pending logins, which sit in the store but are not requested. \
         \"Other load\" is CPU time not charged to sesame, its Redis or the generator: other \
         programs, and kernel network work charged to no process."
    );
    md.push_str(&render_targets(&stores));
    md
}

/// The targets against this run's numbers: met or missed, never asserted.
fn render_targets(stores: &[Value]) -> String {
    let mut md = String::from("\n| target (2 cores) | this run | |\n|---|---|---|\n");
    let mut row = |target: &str, value: String, met: bool| {
        let verdict = if met { "met" } else { "**missed**" };
        let _ = writeln!(md, "| {target} | {value} | {verdict} |");
    };
    let find = |name: &str| stores.iter().find(|store| store["store"] == name);
    let share = |store: &Value| {
        f(&store["levels"][0]["load"]["requests_per_second"])
            / f(&store["ceiling"]["requests_per_second"])
    };
    if let Some(memory) = find("memory") {
        let ratio = share(memory);
        row(
            "memory store: ≥ 75% of the ceiling",
            format!("{:.0}%", 100.0 * ratio),
            ratio >= 0.75,
        );
        let p99 = f(&memory["levels"][0]["load"]["latency"]["p99_ms"]);
        row(
            "memory store: p99 ≤ 10 ms at 32 connections",
            format!("{p99:.2} ms"),
            p99 <= 10.0,
        );
        let logins = f(&memory["logins"]["flows_per_second"]);
        row(
            "memory store: ≥ 300 logins/s",
            format!("{logins:.0}/s"),
            logins >= 300.0,
        );
        let per = f(&memory["bytes_per_session"]["logged_in"]);
        row(
            "memory store: ≤ 2 KB per session",
            format!("{} bytes per logged-in session", thousands(per)),
            per <= 2000.0,
        );
    }
    for name in ["redis", "sqlite"] {
        if let Some(store) = find(name) {
            let ratio = share(store);
            let errors: u64 = store["levels"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|level| {
                    level["load"]["errors"].as_u64().unwrap_or(0)
                        + level["load"]["non_2xx"].as_u64().unwrap_or(0)
                })
                .sum();
            row(
                &format!("{name} store: ≥ 40% of the ceiling, 0 errors"),
                format!("{:.0}%, {errors} errors", 100.0 * ratio),
                ratio >= 0.40 && errors == 0,
            );
        }
    }
    for store in stores {
        let rss = f(&store["levels"][0]["rss_max_under_load_kib"]) * 1024.0;
        row(
            &format!(
                "{} store: RSS under load ≤ 30 MB with 1,000 sessions",
                store["store"].as_str().unwrap_or("?")
            ),
            format!(
                "{:.1} MB with {} sessions",
                rss / 1e6,
                thousands(f(&store["levels"][0]["sessions"]))
            ),
            rss <= 30e6,
        );
    }
    for store in stores {
        let first = f(&store["levels"][0]["load"]["requests_per_second"]);
        let top = &store["levels"][2];
        let ratio = f(&top["load"]["requests_per_second"]) / first;
        row(
            &format!(
                "{} store: page views at {} sessions within 10% of the first level",
                store["store"].as_str().unwrap_or("?"),
                thousands(f(&top["sessions"]))
            ),
            format!("{:.0}%", 100.0 * ratio),
            ratio >= 0.90,
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-1_500.0), "-1,500");
        assert_eq!(thousands(f64::NAN), "–");
    }

    #[test]
    fn quick_is_smaller_than_full() {
        let (quick, full) = (Plan::new(true), Plan::new(false));
        assert!(quick.logins < full.logins && quick.duration < full.duration);
        assert!(full.logged_in_level > full.warmup_logins + full.logins);
        assert!(full.total_level > full.logged_in_level);
    }

    #[test]
    fn memory_bytes_per_session_is_the_rss_slope() {
        let level =
            |sessions: u64, rss_kib: u64| json!({ "sessions": sessions, "rss_after_kib": rss_kib });
        let levels = [
            level(1_000, 20_000),
            level(10_000, 38_000),
            level(100_000, 128_000),
        ];
        let per = bytes_per_session(Store::Memory, 10_000, &Value::Null, &levels);
        assert_eq!(per["logged_in"].as_f64(), Some(18_000.0 * 1024.0 / 9_000.0));
        assert_eq!(per["pending"].as_f64(), Some(90_000.0 * 1024.0 / 90_000.0));
    }
}
