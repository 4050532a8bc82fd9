//! The benchmark's report as types: what `bench.json` holds (serialised and read back with the same
//! structs, so a misspelt field is a compile error, not a silent "–"), and the figures derived from
//! the raw measurements (means of the two ceiling runs, shares, bytes per session).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sesame_testkit::bins::Store;

use crate::abuse::Abuse;
use crate::backchannel::BackchannelLogout;
use crate::flows::FlowReport;
use crate::loadgen::LoadReport;
use crate::read_cache::ReadCacheStep;
use crate::wrk::WrkViews;

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// Cores busy with other work in the second before the run started.
    pub busy_cores_before_start: f64,
    /// The run's shape.
    pub plan: Plan,
    /// The mock IdP's half of a login, measured without Sesame.
    pub provider_alone: ProviderAlone,
    /// One entry per store, in the order measured.
    pub stores: Vec<StoreRun>,
    /// `wrk`'s path when it was installed; `None`: no second generator, and no number for it.
    #[serde(default)]
    pub wrk: Option<String>,
}

/// The machine the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical cores.
    pub cores: usize,
    /// The CPU's model name.
    pub cpu_model: String,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// The Linux kernel's release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
}

/// The shape of a run: `--quick` shrinks every count and window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Logins before the measured ones (first-request costs, connection pools, JWKS fetch).
    pub warmup_logins: usize,
    /// Measured logins.
    pub logins: usize,
    /// Concurrent login flows.
    pub login_concurrency: usize,
    /// Page-view connections.
    pub connections: usize,
    /// Page-view warm-up, seconds.
    pub warmup_seconds: f64,
    /// Page-view measured window, seconds.
    pub duration_seconds: f64,
    /// Logged-in sessions for the second scale level (made by real logins).
    pub logged_in_level: usize,
    /// Total sessions for the third level (the rest are filler, never requested).
    pub total_level: usize,
    /// Cookieless `GET /login` in the abuse step's flood.
    pub login_flood: usize,
    /// Half-open connections in the abuse step.
    pub half_open: usize,
    /// When a half-open connection should be closed by, seconds after its opening.
    pub half_open_check_seconds: f64,
    /// `SERVER_HEADER_READ_TIMEOUT` given to sesame; `None` leaves its default.
    pub header_read_timeout: Option<String>,
    /// Logouts on a second instance timed until the first refuses them (stores on Redis).
    #[serde(default)]
    pub read_cache_trials: usize,
}

impl Plan {
    /// The full run, or with `quick` a short one for CI.
    pub fn new(quick: bool) -> Self {
        let (scale, warmup_seconds, duration_seconds) =
            if quick { (5, 1.0, 3.0) } else { (1, 2.0, 10.0) };
        Self {
            warmup_logins: 100 / scale,
            logins: 1_000 / scale,
            login_concurrency: 16,
            connections: 32,
            warmup_seconds,
            duration_seconds,
            logged_in_level: 10_000 / scale,
            total_level: 100_000 / scale,
            login_flood: if quick { 5_000 } else { 100_000 },
            half_open: 1_000 / scale,
            // A quick run checks sooner, so sesame gets a shorter header-read timeout than its
            // default (at most 30 s, within the 40 s bound).
            half_open_check_seconds: if quick { 10.0 } else { 40.0 },
            header_read_timeout: quick.then(|| "5s".to_owned()),
            read_cache_trials: crate::read_cache::TRIALS / scale,
        }
    }
}

/// The provider alone: authorize → token → userinfo, with Sesame not running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderAlone {
    /// The flows.
    pub flows: FlowReport,
    /// The mock IdP's CPU time per flow, ms.
    pub idp_cpu_ms_per_flow: f64,
}

/// Everything measured for one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreRun {
    /// Which store.
    #[serde(serialize_with = "store_name", deserialize_with = "parse_store")]
    pub store: Store,
    /// Sesame's RSS before any request, KiB.
    pub rss_idle_kib: u64,
    /// Sesame's RSS after the logins, KiB.
    pub rss_after_logins_kib: u64,
    /// What the store held before any request.
    pub store_idle: StoreSize,
    /// The logins before the measured ones.
    pub warmup_logins: FlowReport,
    /// The measured logins.
    pub logins: FlowReport,
    /// CPU time per measured login of each process.
    pub login_cpu_ms: LoginCpu,
    /// Sesame's logged-in home page, bytes (the ceiling serves a page this size).
    pub page_bytes: u64,
    /// The bare-axum ceiling, just before and just after the first level's page views.
    pub ceiling: Ceiling,
    /// The first level's page and the ceiling again, measured with `wrk` (when installed).
    #[serde(default)]
    pub wrk: Option<WrkViews>,
    /// Seconds taken to fill the store up to the top level: real logins for the memory store,
    /// copies of a logged-in session written straight into Redis or SQLite.
    pub filler_seconds: f64,
    /// Page views at each scale level, from the fewest sessions to the most.
    pub levels: Vec<Level>,
    /// Memory per session, from the levels; absent when a level is missing.
    pub bytes_per_session: Option<BytesPerSession>,
    /// Back-channel logouts, with the second level's sessions in the store.
    pub backchannel_logout: BackchannelLogout,
    /// For the stores on Redis: page views without the read cache, and its invalidation bound.
    #[serde(default)]
    pub read_cache: Option<ReadCacheStep>,
    /// The abuse step.
    pub abuse: Abuse,
}

/// CPU time per login, milliseconds, of each process involved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginCpu {
    /// The app.
    pub sesame: f64,
    /// The provider.
    pub mock_idp: f64,
    /// The redis store's server (redis store only).
    pub redis: Option<f64>,
    /// The login driver (this program).
    pub driver: f64,
}

/// One page-view run and what the server did meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageViews {
    /// The load generator's report.
    pub load: LoadReport,
    /// The server's largest RSS, sampled every 100 ms during the run, KiB.
    pub rss_max_under_load_kib: u64,
    /// The server's own CPU time per measured request, µs (its Redis's is not in it).
    pub server_cpu_us_per_request: f64,
    /// CPU time not charged to the server, its helpers or the generator, in cores: other
    /// programs, plus kernel work charged to no process.
    pub other_load_cores: f64,
}

/// The ceiling's two runs around a store's first page views; the ratio is against their mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    /// Just before.
    pub before: PageViews,
    /// Just after.
    pub after: PageViews,
}

impl Ceiling {
    /// The mean of the two runs' `figure`.
    fn mean(&self, figure: impl Fn(&PageViews) -> f64) -> f64 {
        (figure(&self.before) + figure(&self.after)) / 2.0
    }

    /// Requests per second, mean of the two runs.
    pub fn requests_per_second(&self) -> f64 {
        self.mean(|run| run.load.requests_per_second)
    }

    /// The slower and the faster of the two runs, requests per second.
    pub fn range(&self) -> (f64, f64) {
        let (a, b) = (
            self.before.load.requests_per_second,
            self.after.load.requests_per_second,
        );
        (a.min(b), a.max(b))
    }

    /// CPU µs per request, mean of the two runs.
    pub fn cpu_us_per_request(&self) -> f64 {
        self.mean(|run| run.server_cpu_us_per_request)
    }
}

/// Page views with a given number of sessions in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Sessions in the store.
    pub sessions: usize,
    /// Of which requested: the page views carry these sessions' cookies.
    pub logged_in: usize,
    /// Logged-in sessions that only sit in the store.
    pub filler: usize,
    /// The page views.
    pub views: PageViews,
    /// Sesame's RSS after the page views, KiB.
    pub rss_after_kib: u64,
    /// What the store held after the page views.
    pub store_size: StoreSize,
}

/// How much a store holds; memory has no figure of its own (its size is sesame's RSS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoreSize {
    /// The memory store.
    Memory,
    /// Redis: `INFO memory`'s `used_memory` and `DBSIZE`.
    Redis {
        /// Bytes.
        used_memory: u64,
        /// Keys.
        keys: u64,
    },
    /// SQLite: rows, their payload, and the database's pages.
    Sqlite {
        /// Rows in `tower_sessions`.
        rows: u64,
        /// Their `data`, bytes.
        payload_bytes: u64,
        /// `page_count × page_size`.
        database_bytes: u64,
        /// The database file, bytes.
        file_bytes: u64,
        /// Its write-ahead log, bytes.
        wal_bytes: u64,
    },
    /// PostgreSQL: the session table's rows, their payload, and the table with its indexes.
    Postgres {
        /// Rows in the session table.
        rows: u64,
        /// Their `data`, bytes.
        payload_bytes: u64,
        /// `pg_total_relation_size` of the session table.
        table_bytes: u64,
    },
}

/// Memory per session, bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BytesPerSession {
    /// Per logged-in session: from the first level to the second (real logins).
    pub logged_in: Option<f64>,
    /// Per filler session (logged in, never requested): from the second level to the third.
    pub filler: Option<f64>,
    /// Everything the store holds at the top level over every session in it.
    pub all_sessions_at_top_level: f64,
}

impl StoreRun {
    /// Page views at the first (fewest sessions) and top levels, when measured.
    pub fn first_and_top(&self) -> Option<(&Level, &Level)> {
        Some((self.levels.first()?, self.levels.last()?))
    }

    /// The first level's page views as a share of the ceiling's mean.
    pub fn of_ceiling(&self) -> f64 {
        let first = self
            .levels
            .first()
            .map_or(f64::NAN, |level| level.views.load.requests_per_second);
        first / self.ceiling.requests_per_second()
    }

    /// Failed and non-2xx page views over every level.
    pub fn errors(&self) -> u64 {
        let errors = |level: &Level| level.views.load.errors + level.views.load.non_2xx;
        self.levels.iter().map(errors).sum()
    }
}

/// Memory per session. Memory store: the change of sesame's settled RSS over the sessions added;
/// Redis: the change of `used_memory` over the keys added; SQLite: the change of the database's
/// pages over the rows added. `None` unless all three levels were measured.
pub fn bytes_per_session(
    rss_idle_kib: u64,
    store_idle: &StoreSize,
    levels: &[Level],
) -> Option<BytesPerSession> {
    let [first, second, top] = levels else {
        return None;
    };
    let bytes = |level: &Level| match level.store_size {
        StoreSize::Memory => level.rss_after_kib as f64 * 1024.0,
        StoreSize::Redis { used_memory, .. } => used_memory as f64,
        StoreSize::Sqlite { database_bytes, .. } => database_bytes as f64,
        StoreSize::Postgres { table_bytes, .. } => table_bytes as f64,
    };
    let slope = |from: &Level, to: &Level| {
        let added = to.sessions as f64 - from.sessions as f64;
        (added > 0.0).then(|| (bytes(to) - bytes(from)) / added)
    };
    // What the store held with no session, and how many sessions (or keys, or rows) it holds.
    let idle = match store_idle {
        StoreSize::Memory => rss_idle_kib as f64 * 1024.0,
        StoreSize::Redis { used_memory, .. } => *used_memory as f64,
        StoreSize::Sqlite { .. } | StoreSize::Postgres { .. } => 0.0,
    };
    let count = match top.store_size {
        StoreSize::Memory => top.sessions as u64,
        StoreSize::Redis { keys, .. } => keys,
        StoreSize::Sqlite { rows, .. } | StoreSize::Postgres { rows, .. } => rows,
    };
    Some(BytesPerSession {
        logged_in: slope(first, second),
        filler: slope(second, top),
        all_sessions_at_top_level: (bytes(top) - idle) / count.max(1) as f64,
    })
}

impl Report {
    /// Every level where a page view failed or showed another user's page, every abuse
    /// page-view run that showed another user's page (errors there are what abuse may cause),
    /// and every back-channel logout that failed, left a session behind or ended another.
    pub fn wrong_answers(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for run in &self.stores {
            if let Some(cache) = run.read_cache.as_ref().filter(|cache| cache.failed > 0) {
                problems.push(format!(
                    "{} read cache: {} of {} trials failed; first: {}",
                    run.store,
                    cache.failed,
                    cache.failed + cache.refused_after_ms.len(),
                    cache.first_problem.as_deref().unwrap_or("?")
                ));
            }
            let logout = &run.backchannel_logout;
            if logout.wrong() > 0 {
                problems.push(format!(
                    "{} back-channel logout: {} failed, {} sessions left logged in, {} others \
                     logged out; first: {}",
                    run.store,
                    logout.failed,
                    logout.not_ended,
                    logout.wrongly_ended,
                    logout.first_problem.as_deref().unwrap_or("?")
                ));
            }
            for load in run.abuse.users.iter().chain(&run.abuse.page_views) {
                if load.wrong_user > 0 {
                    let first = load.first_problem.as_deref().unwrap_or("?");
                    let (store, wrong) = (run.store, load.wrong_user);
                    problems.push(format!("{store} abuse: {wrong} wrong user; first: {first}"));
                }
            }
            for level in &run.levels {
                let load = &level.views.load;
                if load.errors + load.non_2xx + load.wrong_user > 0 {
                    problems.push(format!(
                        "{} with {} sessions: {} errors, {} non-2xx, {} wrong user; first: {}",
                        run.store,
                        level.sessions,
                        load.errors,
                        load.non_2xx,
                        load.wrong_user,
                        load.first_problem.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        problems
    }
}

fn store_name<S: Serializer>(store: &Store, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(store.as_str())
}

fn parse_store<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Store, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(serde::de::Error::custom)
}
