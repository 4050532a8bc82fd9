//! The processes a run measures, each owned by a [`ChildGuard`] so that every one is stopped by PID
//! on every exit path: the mock IdP, per store a `sesame` with its `redis-server` or SQLite file,
//! and the bare-axum ceiling. Each serves on a free loopback port and is ready when returned.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};
use sesame_testkit::bins::{App, Bins, SQLITE_FILE, Store};
use sesame_testkit::process::{ChildGuard, Output, find_program, free_ports};
use sesame_testkit::redis::{self, Reply};
use sesame_testkit::{PostgresDatabase, RedisCluster, redis_ha};
use url::Url;

use crate::report::StoreSize;

/// The release binaries a run starts.
pub struct Tools {
    /// `sesame` and `mock-idp`.
    pub bins: Bins,
    /// `bench-ceiling`.
    pub ceiling: PathBuf,
}

impl Tools {
    /// The binaries next to this one (`cargo xtask bench` builds them all into `target/release/`;
    /// a missing one fails to start, naming its path).
    pub fn beside_this_program() -> Result<Self> {
        let exe = std::env::current_exe()?;
        let dir = exe.parent().context("this program has no directory")?;
        Ok(Self {
            bins: Bins {
                sesame: dir.join("sesame"),
                mock_idp: dir.join("mock-idp"),
            },
            ceiling: dir.join("bench-ceiling"),
        })
    }
}

/// Fails early, naming the package, when a tool a chosen store needs is missing.
pub fn preflight(stores: &[Store]) -> Result<()> {
    if stores.contains(&Store::Postgres) {
        sesame_testkit::postgres::available().context(
            "the postgres store needs PostgreSQL at 127.0.0.1:5432 letting user postgres in \
             (apt-get install postgresql; .ci/run sets it up)",
        )?;
    }
    if (stores.contains(&Store::Redis) || stores.contains(&Store::RedisCluster))
        && find_program("redis-server").is_none()
    {
        bail!("redis-server not found: apt-get install redis-server");
    }
    if stores.contains(&Store::Sqlite) && find_program("sqlite3").is_none() {
        bail!("sqlite3 not found (it counts the SQLite store's rows): apt-get install sqlite3");
    }
    Ok(())
}

/// Raises this process's soft open-file limit to at least 4,096, for the half-open connections of
/// the abuse step; call it before starting any server, so that they inherit it.
pub fn raise_open_file_limit() -> Result<()> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < 4_096) {
        limit.current = Some(4_096);
        setrlimit(Resource::Nofile, limit).context("cannot raise the open-file limit to 4,096")?;
    }
    Ok(())
}

/// A running server and its PID, for `/proc`.
pub struct Server {
    /// Its base URL, `http://127.0.0.1:<port>/`.
    pub url: Url,
    /// Its process ID.
    pub pid: u32,
    _guard: ChildGuard,
}

impl Server {
    /// Starts `command` as `name` on `port`, logging to `dir/<name>.log`, and waits for `/healthz`.
    fn start(name: &str, command: Command, dir: &Path, port: u16) -> Result<Self> {
        let log = Output::File(dir.join(format!("{name}.log")));
        let mut guard = ChildGuard::spawn(name, command, log)?;
        let url = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
        guard.wait_healthy(&format!("{url}healthz"))?;
        Ok(Self {
            pid: guard.id().context("it stopped")?,
            url,
            _guard: guard,
        })
    }

    /// The mock IdP, announcing itself as its own URL (without the trailing slash).
    pub fn mock_idp(tools: &Tools, dir: &Path) -> Result<Self> {
        let [port] = free_ports()?;
        let issuer = format!("http://127.0.0.1:{port}");
        Self::start(
            "mock-idp",
            tools.bins.mock_idp(dir, port, &issuer),
            dir,
            port,
        )
    }

    /// The ceiling, serving a static page of `page_bytes` bytes.
    pub fn ceiling(tools: &Tools, dir: &Path, name: &str, page_bytes: u64) -> Result<Self> {
        let [port] = free_ports()?;
        let mut command = Command::new(&tools.ceiling);
        let args = [
            "--port",
            &port.to_string(),
            "--bytes",
            &page_bytes.to_string(),
        ];
        command.current_dir(dir).args(args);
        Self::start(name, command, dir, port)
    }

    /// The issuer a mock IdP announces: its URL without the trailing slash.
    pub fn issuer(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }
}

/// One store's `sesame` and what backs it.
pub struct Sesame {
    /// Which store.
    pub store: Store,
    /// `target/bench/run/<store>/`: working directory, logs, the SQLite file.
    pub dir: PathBuf,
    /// `sesame` itself (declared first: fields drop in order, so it stops before its Redis).
    pub server: Server,
    /// The redis store's `redis-server`.
    redis: Option<ChildGuard>,
    redis_port: u16,
    /// The postgres store's fresh database, dropped after `sesame` stops.
    database: Option<PostgresDatabase>,
    /// The redis-cluster store's six nodes.
    cluster: Option<RedisCluster>,
    /// How it was started, for a second instance on the same store.
    app: App,
}

impl Sesame {
    /// Starts the store's backing (if any) and `sesame` in front of the provider at `issuer`, with
    /// `env` on top of its usual environment.
    pub fn start(
        tools: &Tools,
        issuer: &str,
        store: Store,
        dir: PathBuf,
        env: &[(&str, String)],
    ) -> Result<Self> {
        fs::create_dir_all(&dir)?;
        let [redis_port, port] = free_ports()?;
        let mut app = App::local(issuer, port, store)?;
        let redis = app.start_store(&dir, redis_port)?;
        let database = app.start_database()?;
        let cluster = (store == Store::RedisCluster).then(RedisCluster::start);
        if let Some(cluster) = &cluster {
            app.redis_url = Some(cluster.url());
        }
        let mut command = app.command(&tools.bins.sesame, &dir);
        command.envs(env.iter().map(|(name, value)| (name, value)));
        let server = Server::start("sesame", command, &dir, port)?;
        Ok(Self {
            store,
            dir,
            server,
            redis,
            redis_port,
            database,
            cluster,
            app,
        })
    }

    /// Another `sesame` on the same store with the same secret key (cookies from one work on
    /// the other), on a port of its own, with `env` on top: what a load balancer spreads over.
    /// It logs to `sesame-<name>.log` and stops when dropped.
    pub fn second_instance(
        &self,
        tools: &Tools,
        name: &str,
        env: &[(&str, String)],
    ) -> Result<Server> {
        let [port] = free_ports()?;
        let mut app = self.app.clone();
        app.port = port;
        app.base_url = format!("http://127.0.0.1:{port}");
        let mut command = app.command(&tools.bins.sesame, &self.dir);
        command.envs(env.iter().map(|(name, value)| (name, value)));
        Server::start(&format!("sesame-{name}"), command, &self.dir, port)
    }

    /// The PID of the `redis-server` working for it, if any.
    pub fn redis_pid(&self) -> Option<u32> {
        self.redis.as_ref().and_then(ChildGuard::id)
    }

    /// How much the store holds now.
    pub fn store_size(&self) -> Result<StoreSize> {
        match self.store {
            Store::Memory => Ok(StoreSize::Memory),
            Store::Redis => {
                let info = match redis::query(self.redis_port, &["INFO", "memory"])? {
                    Reply::Bulk(Some(info)) => info,
                    other => bail!("INFO memory answered {other}"),
                };
                let used_memory = info
                    .lines()
                    .find_map(|line| line.strip_prefix("used_memory:"))
                    .and_then(|value| value.trim().parse().ok())
                    .context("INFO memory without used_memory")?;
                let keys = match redis::query(self.redis_port, &["DBSIZE"])? {
                    Reply::Integer(keys) => u64::try_from(keys)?,
                    other => bail!("DBSIZE answered {other}"),
                };
                Ok(StoreSize::Redis { used_memory, keys })
            }
            Store::Sqlite => sqlite_size(&self.dir.join(SQLITE_FILE)),
            Store::Postgres => self.postgres_size(),
            Store::RedisCluster => {
                let cluster = self.cluster.as_ref().context("no cluster")?;
                let (mut used_memory, mut keys) = (0, 0);
                for master in cluster.masters() {
                    let info = redis_ha::cli(master, &["INFO", "memory"]);
                    used_memory += info
                        .lines()
                        .find_map(|line| line.strip_prefix("used_memory:"))
                        .and_then(|value| value.trim().parse::<u64>().ok())
                        .context("INFO memory without used_memory")?;
                    keys += redis_ha::cli(master, &["DBSIZE"]).parse::<u64>()?;
                }
                Ok(StoreSize::Redis { used_memory, keys })
            }
        }
    }

    /// The session table's rows and payload, and the table with its indexes.
    fn postgres_size(&self) -> Result<StoreSize> {
        let database = self.database.as_ref().context("no database")?;
        let text = database.query(
            "select count(*), coalesce(sum(length(data)), 0), \
             pg_total_relation_size('sesame.sessions') from sesame.sessions",
        )?;
        let numbers: Vec<u64> = text
            .trim()
            .split('|')
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        let &[rows, payload_bytes, table_bytes] = numbers.as_slice() else {
            bail!("unexpected psql output: {text:?}");
        };
        Ok(StoreSize::Postgres {
            rows,
            payload_bytes,
            table_bytes,
        })
    }

    /// Adds `count` copies of a logged-in session already in the Redis or SQLite store, written
    /// straight into it under fresh IDs of the real IDs' length (22 characters): sessions of a
    /// real size, made in a second instead of minutes of logins. Not for the memory store.
    pub fn copy_a_session(&self, count: usize) -> Result<()> {
        const ID: &str = "bench-filler-%09d";
        const POSTGRES_ID: &str = "bench-filler-%s";
        match self.store {
            Store::Memory => bail!("the memory store cannot be written from outside sesame"),
            Store::RedisCluster => {
                bail!("a Cluster spreads keys over nodes: fill it with logins instead")
            }
            Store::Postgres => {
                let database = self.database.as_ref().context("no database")?;
                database
                    .query(&format!(
                        "insert into sesame.sessions (id, data, expiry_date) select \
                         format('{POSTGRES_ID}', i), s.data, s.expiry_date from \
                         generate_series(1, {count}) as i, (select data, expiry_date from \
                         sesame.sessions limit 1) as s"
                    ))
                    .map(drop)
                    .map_err(Into::into)
            }
            Store::Redis => {
                // Beside the sessions (bare IDs) the store keeps `sesame:`-prefixed keys (tokens,
                // leases, the index, claims), some not strings: copy a session, never one of them.
                let pick = "for _ = 1, 1000 do local k = redis.call('RANDOMKEY') if not k then \
                            return false end if string.sub(k, 1, 7) ~= 'sesame:' then return k end \
                            end return false";
                let Reply::Bulk(Some(key)) = redis::query(self.redis_port, &["EVAL", pick, "0"])?
                else {
                    bail!("the Redis store holds no session to copy");
                };
                let script = format!(
                    "local v = redis.call('GET', KEYS[1]) local ttl = redis.call('PTTL', KEYS[1]) \
                     for i = 1, tonumber(ARGV[1]) do redis.call('SET', \
                     string.format('{ID}', i), v, 'PX', ttl > 0 and ttl or 3600000) end return 1"
                );
                let count = count.to_string();
                match redis::query(self.redis_port, &["EVAL", &script, "1", &key, &count])? {
                    Reply::Integer(1) => Ok(()),
                    other => bail!("copying a Redis session answered {other}"),
                }
            }
            Store::Sqlite => sqlite3(
                &self.dir.join(SQLITE_FILE),
                &format!(
                    "pragma busy_timeout = 5000; with recursive n(i) as (select 1 union all \
                     select i + 1 from n where i < {count}) insert into tower_sessions (id, data, \
                     expiry_date) select printf('{ID}', i), s.data, s.expiry_date from n, (select \
                     data, expiry_date from tower_sessions limit 1) as s;"
                ),
            )
            .map(drop),
        }
    }
}

/// Runs `sql` on the database `db` with the `sqlite3` tool; its output.
fn sqlite3(db: &Path, sql: &str) -> Result<String> {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .context("cannot run sqlite3")?;
    ensure!(
        output.status.success(),
        "sqlite3 {}: {}",
        db.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The SQLite store's rows, their payload and the database's pages, from the `sqlite3` tool.
fn sqlite_size(db: &Path) -> Result<StoreSize> {
    let text = sqlite3(
        db,
        "select count(*), coalesce(sum(length(data)), 0) from tower_sessions; \
         pragma page_count; pragma page_size;",
    )?;
    let numbers: Vec<u64> = text
        .split(['|', '\n'])
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    let &[rows, payload_bytes, pages, page_size] = numbers.as_slice() else {
        bail!("unexpected sqlite3 output: {text:?}");
    };
    let file = |suffix: &str| {
        fs::metadata(format!("{}{suffix}", db.display())).map_or(0, |meta| meta.len())
    };
    Ok(StoreSize::Sqlite {
        rows,
        payload_bytes,
        database_bytes: pages * page_size,
        file_bytes: file(""),
        wal_bytes: file("-wal"),
    })
}
