//! One benchmark run, step by step, assembled into a [`Report`]. The mock IdP runs once for the
//! whole run; each store gets its own `sesame` (and its Redis or SQLite file) in `work/<store>/`.
//!
//! Per store:
//! 1. logins: a warm-up batch, then the measured batch; CPU per login of each process from
//!    `/proc/<pid>/stat`.
//! 2. page views of `/` with every logged-in cookie (warm-up, then the window), between two runs of
//!    the ceiling (a static page of the size Sesame's logged-in page has) so that both see the same
//!    machine; a sample of pages is checked for the cookie's own user.
//! 3. more logins up to the second scale level, page views again; then filler logged-in sessions
//!    up to the top level (copies of a real one written straight into Redis or SQLite; for the
//!    memory store, which nothing outside sesame can write, real logins), page views again.
//!    Between the second level and the filler, the back-channel logout step ([`backchannel`]):
//!    users with a few sessions each logged out one at a time among the level's sessions.
//!    With `wrk` installed, the page and the ceiling are measured again with it ([`wrk`]).
//! 4. the abuse step ([`abuse`]): a `/login` flood, half-open connections, page views under a flood.
//!
//! The load generator and the login driver run in this process on one Tokio runtime; the servers
//! are processes of their own, so `/proc` tells each one's CPU time apart.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use reqwest::header::COOKIE;
use sesame_testkit::bins::Store;
use sesame_testkit::procfs;
use tokio::runtime::Runtime;
use url::Url;

use crate::abuse;
use crate::backchannel::{self, BackchannelLogout};
use crate::flows::{self, FlowConfig, FlowReport, Mode, Session};
use crate::loadgen::LoadConfig;
use crate::read_cache::{self, ReadCacheStep};
use crate::report::{self, Ceiling, Level, LoginCpu, Machine, PageViews, Plan, ProviderAlone};
use crate::report::{Report, StoreRun};
use crate::sample;
use crate::stack::{self, Server, Sesame, Tools};
use crate::wrk::{self, WrkRun, WrkViews};

/// Measures every store in `stores`, keeping logs and working files under `work`.
pub fn measure(stores: &[Store], quick: bool, work: &Path) -> Result<Report> {
    stack::preflight(stores)?;
    stack::raise_open_file_limit()?;
    let tools = Tools::beside_this_program()?;
    let machine = machine()?;
    println!(
        "==> machine: {} cores, {}, Linux {}",
        machine.cores, machine.cpu_model, machine.kernel
    );
    let before = procfs::machine_busy_seconds()?;
    thread::sleep(Duration::from_secs(1));
    let busy_cores_before_start = procfs::machine_busy_seconds()? - before;
    if busy_cores_before_start > 0.25 {
        println!(
            "warning: {busy_cores_before_start:.2} cores were busy before the run started (other \
             programs): the numbers will be lower and noisier than on a quiet machine"
        );
    }
    let wrk = wrk::find();
    match &wrk {
        Some(path) => println!("==> second load generator: {}", path.display()),
        None => println!(
            "==> wrk is not installed (Debian package `wrk`): own generator only, no wrk numbers"
        ),
    }
    let run = Run {
        wrk,
        plan: Plan::new(quick),
        idp: Server::mock_idp(&tools, work)?,
        tools,
        runtime: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    println!("\n==> the mock IdP alone: authorize → token → userinfo");
    let provider_alone = run.provider_alone()?;
    let mut runs = Vec::new();
    for &store in stores {
        println!("\n==> store: {store}");
        runs.push(run.store(store, &work.join(store.as_str()))?);
    }
    Ok(Report {
        machine,
        busy_cores_before_start,
        plan: run.plan,
        provider_alone,
        wrk: run.wrk.as_ref().map(|path| path.display().to_string()),
        stores: runs,
    })
}

/// What every step shares.
struct Run {
    plan: Plan,
    tools: Tools,
    runtime: Runtime,
    /// The mock IdP, for the whole run.
    idp: Server,
    /// `wrk`, when installed: the second load generator.
    wrk: Option<std::path::PathBuf>,
}

impl Run {
    /// `count` flows of `mode` against `app` as users `{prefix}NNNNNN`; fails if any flow failed.
    fn flows(&self, mode: Mode, app: &Url, count: usize, prefix: &str) -> FlowRun {
        let config = FlowConfig {
            mode,
            app: app.clone(),
            issuer: Url::parse(self.idp.issuer())?,
            flows: count,
            concurrency: self.plan.login_concurrency,
            user_prefix: prefix.to_owned(),
        };
        let (report, sessions) = self.runtime.block_on(flows::run(&config))?;
        ensure!(
            report.errors == 0,
            "{} of {} flows failed; first: {}",
            report.errors,
            report.flows,
            report.first_problem.as_deref().unwrap_or("?")
        );
        Ok((report, sessions))
    }

    /// The provider's half of a login, alone: what the mock IdP can do when Sesame is not running.
    fn provider_alone(&self) -> Result<ProviderAlone> {
        let before = procfs::cpu_seconds(self.idp.pid)?;
        // The redirect URI the provider sends codes to; nothing listens there, nothing follows it.
        let app = Url::parse("http://127.0.0.1:9")?;
        let (flows, _) = self.flows(Mode::Provider, &app, self.plan.logins, "user")?;
        let idp_cpu_ms_per_flow = flows.ms_per_flow(procfs::cpu_seconds(self.idp.pid)? - before);
        println!(
            "    {:.0} flows/s, mock IdP CPU {idp_cpu_ms_per_flow:.2} ms per flow",
            flows.flows_per_second
        );
        Ok(ProviderAlone {
            flows,
            idp_cpu_ms_per_flow,
        })
    }

    /// Everything measured for one store.
    fn store(&self, store: Store, dir: &Path) -> Result<StoreRun> {
        let plan = &self.plan;
        let timeout = plan.header_read_timeout.iter();
        let env: Vec<_> = timeout
            .map(|t| ("SERVER_HEADER_READ_TIMEOUT", t.clone()))
            .collect();
        let s = Sesame::start(&self.tools, self.idp.issuer(), store, dir.into(), &env)?;
        let app = &s.server.url;
        // Let it settle before reading its idle footprint.
        thread::sleep(Duration::from_millis(500));
        let rss_idle_kib = procfs::rss_kib(s.server.pid)?;
        let store_idle = s.store_size()?;

        // 1. Logins: a warm-up batch, then the measured one with every process's CPU time around it.
        let (warmup_logins, mut sessions) =
            self.flows(Mode::Login, app, plan.warmup_logins, "warm")?;
        let cpu_now = || -> Result<(f64, f64, Option<f64>)> {
            let redis = s.redis_pid().map(procfs::cpu_seconds).transpose()?;
            Ok((
                procfs::cpu_seconds(s.server.pid)?,
                procfs::cpu_seconds(self.idp.pid)?,
                redis,
            ))
        };
        let before = cpu_now()?;
        let (logins, measured) = self.flows(Mode::Login, app, plan.logins, "user")?;
        let after = cpu_now()?;
        let login_cpu_ms = LoginCpu {
            sesame: logins.ms_per_flow(after.0 - before.0),
            mock_idp: logins.ms_per_flow(after.1 - before.1),
            redis: (after.2.zip(before.2))
                .map(|(after, before)| logins.ms_per_flow(after - before)),
            driver: logins.ms_per_flow(logins.driver_cpu_seconds),
        };
        println!("    logins: {:.0}/s", logins.flows_per_second);
        let rss_after_logins_kib = procfs::rss_kib(s.server.pid)?;
        sessions.extend(measured);
        let page_bytes = self.page_size(app, &sessions)?;

        // 2. Page views, between two runs of the ceiling: both see the same machine, and the two
        //    ceilings show how much it drifted meanwhile.
        let first: Arc<[Session]> = sessions.clone().into();
        let before = self.ceiling(dir, "ceiling-before", page_bytes, &first)?;
        let mut levels = vec![self.level(&s, &first, 0)?];
        let after = self.ceiling(dir, "ceiling-after", page_bytes, &first)?;
        let wrk = self.wrk_views(dir, app, page_bytes, &first)?;

        // 3. More logged-in sessions (real logins), then filler sessions on top.
        let more = plan.logged_in_level.saturating_sub(sessions.len());
        sessions.extend(self.flows(Mode::Login, app, more, "more")?.1);
        let second: Arc<[Session]> = sessions.into();
        levels.push(self.level(&s, &second, 0)?);
        // Here every session in the store is a real, indexed login, as in production.
        let backchannel_logout = self.backchannel_logout(app, &second)?;
        let read_cache = match store {
            Store::Redis | Store::RedisCluster | Store::Postgres => {
                Some(self.read_cache(&s, &second)?)
            }
            Store::Memory | Store::Sqlite => None,
        };
        let filler = plan.total_level.saturating_sub(second.len());
        let started = Instant::now();
        match store {
            // Nothing outside sesame can write these: filled with real logins.
            Store::Memory | Store::RedisCluster => {
                drop(self.flows(Mode::Login, app, filler, "filler")?)
            }
            Store::Redis | Store::Sqlite | Store::Postgres => s.copy_a_session(filler)?,
        }
        let filler_seconds = started.elapsed().as_secs_f64();
        println!("    {filler} filler sessions in {filler_seconds:.1} s");
        // The same cookies as the second level: the filler sessions only sit in the store.
        levels.push(self.level(&s, &second, filler)?);

        // 4. Abuse, with the second level's users.
        let abuse = abuse::measure(&self.runtime, plan, &s, &self.load(app, &second, true))?;

        Ok(StoreRun {
            store,
            bytes_per_session: report::bytes_per_session(rss_idle_kib, &store_idle, &levels),
            rss_idle_kib,
            rss_after_logins_kib,
            store_idle,
            warmup_logins,
            logins,
            login_cpu_ms,
            page_bytes,
            ceiling: Ceiling { before, after },
            wrk,
            filler_seconds,
            levels,
            backchannel_logout,
            read_cache,
            abuse,
        })
    }

    /// The read cache's step ([`read_cache`]): a second instance without the cache serves
    /// `sessions`' pages, then logs out fresh logins of the first, trial by trial.
    fn read_cache(&self, s: &Sesame, sessions: &Arc<[Session]>) -> Result<ReadCacheStep> {
        let variable = match s.store {
            Store::Postgres => "POSTGRES_READ_CACHE",
            _ => "REDIS_READ_CACHE",
        };
        let off = [(variable, "off".to_owned())];
        let b = s.second_instance(&self.tools, "uncached", &off)?;
        let load = self.load(&b.url, sessions, true);
        let helpers: Vec<u32> = s.redis_pid().into_iter().collect();
        let uncached = sample::page_views(&self.runtime, &load, b.pid, &helpers)?;
        println!(
            "    page views, read cache off (second instance), {} sessions: {}",
            sessions.len(),
            describe(&uncached)
        );
        let trials = self.plan.read_cache_trials;
        let (_, fresh) = self.flows(Mode::Login, &s.server.url, trials, read_cache::PREFIX)?;
        let step = read_cache::invalidation_trials(
            &s.server.url,
            &b.url,
            &fresh,
            uncached,
            sessions.len(),
        );
        let step = self.runtime.block_on(step)?;
        println!(
            "    read cache: {} logouts on B, refused on A after median {:.2} ms, p99 {:.2} ms, \
             max {:.2} ms; {} stale pages, {} failed",
            step.refused_after_ms.len(),
            step.quantile_ms(0.5),
            step.quantile_ms(0.99),
            step.max_ms(),
            step.stale_views,
            step.failed
        );
        Ok(step)
    }

    /// The back-channel logout step with `others` logged in: its users log in, then out.
    fn backchannel_logout(&self, app: &Url, others: &[Session]) -> Result<BackchannelLogout> {
        let (users, per_user) = (backchannel::USERS, backchannel::SESSIONS_PER_USER);
        // Each batch logs every user in once; flows come back in user order.
        let mut sessions = vec![Vec::with_capacity(per_user); users];
        for _ in 0..per_user {
            let (_, batch) = self.flows(Mode::Login, app, users, backchannel::PREFIX)?;
            for (user, session) in sessions.iter_mut().zip(batch) {
                user.push(session);
            }
        }
        let bystander = others.first().context("no logged-in session to stand by")?;
        let issuer = Url::parse(self.idp.issuer())?;
        let step = backchannel::measure(app, &issuer, &sessions, bystander, others.len());
        let step = self.runtime.block_on(step)?;
        println!(
            "    back-channel logout of {users} users × {per_user} sessions among {} others: \
             median {:.2} ms, max {:.2} ms, {} wrong",
            others.len(),
            step.median_ms(),
            step.max_ms(),
            step.wrong()
        );
        Ok(step)
    }

    /// Page views of `/` with `sessions`' cookies, `filler` more sessions sitting in the store.
    fn level(&self, s: &Sesame, sessions: &Arc<[Session]>, filler: usize) -> Result<Level> {
        let load = self.load(&s.server.url, sessions, true);
        let helpers: Vec<u32> = s.redis_pid().into_iter().collect();
        let views = sample::page_views(&self.runtime, &load, s.server.pid, &helpers)?;
        let level = Level {
            sessions: sessions.len() + filler,
            logged_in: sessions.len(),
            filler,
            rss_after_kib: procfs::rss_kib(s.server.pid)?,
            store_size: s.store_size()?,
            views,
        };
        println!(
            "    page views, {} sessions ({} logged in): {}",
            level.sessions,
            level.logged_in,
            describe(&level.views)
        );
        Ok(level)
    }

    /// The bare-axum ceiling: the same generator and cookies against a static page of `page_bytes`.
    fn ceiling(
        &self,
        dir: &Path,
        name: &str,
        page_bytes: u64,
        sessions: &Arc<[Session]>,
    ) -> Result<PageViews> {
        let ceiling = Server::ceiling(&self.tools, dir, name, page_bytes)?;
        // The ratio compares like with like only if the ceiling's page is the page's size.
        let (_, served) = self.get(&ceiling.url, None)?;
        ensure!(
            served.len() as u64 == page_bytes,
            "the ceiling serves {} bytes, not the logged-in page's {page_bytes}",
            served.len()
        );
        let load = self.load(&ceiling.url, sessions, false);
        let views = sample::page_views(&self.runtime, &load, ceiling.pid, &[])?;
        println!("    {name}: {}", describe(&views));
        Ok(views)
    }

    /// `GET /` at `base` (with `cookie`): the status and the page.
    fn get(&self, base: &Url, cookie: Option<&str>) -> Result<(reqwest::StatusCode, String)> {
        let mut request = flows::client()?.get(base.join("/")?);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        self.runtime.block_on(async {
            let response = request.send().await?;
            anyhow::Ok((response.status(), response.text().await?))
        })
    }

    /// With `wrk` installed: the ceiling, the logged-in `/` with the first session's cookie, the
    /// ceiling again, each one window of the plan's length and connections.
    fn wrk_views(
        &self,
        dir: &Path,
        app: &Url,
        page_bytes: u64,
        sessions: &[Session],
    ) -> Result<Option<WrkViews>> {
        let Some(program) = &self.wrk else {
            return Ok(None);
        };
        let cookie = &sessions.first().context("no login completed")?.cookie;
        let window = Duration::from_secs_f64(self.plan.duration_seconds);
        let measure = |url: &str| -> Result<WrkRun> {
            wrk::measure(program, url, cookie, self.plan.connections, window)
        };
        let ceiling = |name: &str| -> Result<WrkRun> {
            let server = Server::ceiling(&self.tools, dir, name, page_bytes)?;
            let run = measure(server.url.as_str())?;
            println!("    {name}: {}", describe_wrk(&run));
            Ok(run)
        };
        let ceiling_before = ceiling("wrk-ceiling-before")?;
        let page = measure(app.join("/")?.as_str())?;
        println!("    wrk page views: {}", describe_wrk(&page));
        let ceiling_after = ceiling("wrk-ceiling-after")?;
        Ok(Some(WrkViews {
            page,
            ceiling_before,
            ceiling_after,
        }))
    }

    /// The plan's page-view load against `url` with `sessions`' cookies.
    fn load(&self, url: &Url, sessions: &Arc<[Session]>, check_pages: bool) -> LoadConfig {
        LoadConfig {
            url: url.clone(),
            connections: self.plan.connections,
            duration: Duration::from_secs_f64(self.plan.duration_seconds),
            warmup: Duration::from_secs_f64(self.plan.warmup_seconds),
            sessions: Arc::clone(sessions),
            check_pages,
        }
    }

    /// Sesame's logged-in home page size in bytes, checked to be the first session's user's page.
    fn page_size(&self, app: &Url, sessions: &[Session]) -> Result<u64> {
        let first = sessions.first().context("no login completed")?;
        let (status, page) = self.get(app, Some(&first.cookie))?;
        ensure!(
            status.is_success() && page.contains(&first.expected),
            "GET / with the first login's cookie: {status}, and the page lacks {:?}",
            first.expected
        );
        Ok(page.len() as u64)
    }
}

/// A flow run's report and the sessions it produced.
type FlowRun = Result<(FlowReport, Vec<Session>)>;

/// One line on a page-view run, for the terminal (the tables at the end have the rest).
fn describe(views: &PageViews) -> String {
    let load = &views.load;
    let problems = load.errors + load.non_2xx + load.wrong_user;
    format!(
        "{:.0} req/s, p99 {:.2} ms, {problems} errors or wrong pages",
        load.requests_per_second, load.latency.p99_ms
    )
}

/// One line on a `wrk` window.
fn describe_wrk(run: &WrkRun) -> String {
    format!(
        "{:.0} req/s, p99 {:.2} ms, {} errors (wrk)",
        run.requests_per_second, run.p99_ms, run.errors
    )
}

/// Cores, CPU model, memory and kernel of this machine, and the compiler.
fn machine() -> Result<Machine> {
    let rustc = Command::new("rustc").arg("--version").output();
    Ok(Machine {
        cores: thread::available_parallelism().map_or(0, usize::from),
        cpu_model: procfs::cpu_model(),
        memory_gib: procfs::memory_kib()? as f64 / 1024.0 / 1024.0,
        kernel: procfs::kernel(),
        rustc: rustc.map_or_else(
            |_| "rustc: unknown".to_owned(),
            |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ),
    })
}
