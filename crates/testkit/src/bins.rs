//! How to start Sesame's two binaries, `mock-idp` and `sesame`, each with an explicit environment,
//! and the session stores they can run with: what `cargo xtask test` and the benchmark share.
//!
//! Children get a cleared environment plus `PATH` and exactly the variables below, so whatever the
//! developer's shell exports cannot change a test. Sesame also reads `./.env` in its working directory
//! (and only there), for variables not set; the tools start it in a directory they have just emptied,
//! so no `.env` can fill in what [`App::command`] leaves unset.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use crate::process::ChildGuard;

/// A session store the app can run with (`SESSION_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// In-process memory: sessions die with the process.
    Memory,
    /// Redis: sessions survive restarts and are shared between instances.
    Redis,
    /// SQLite file: sessions survive restarts and are shared between instances.
    Sqlite,
    /// PostgreSQL: a fresh database on the machine's server ([`crate::PostgresDatabase`]).
    Postgres,
    /// Redis Cluster (3 masters, 3 replicas; `SESSION_STORE=redis`): benchmarked, while the
    /// scenarios run on it from `cargo test` ([`crate::RedisCluster`]).
    RedisCluster,
}

impl Store {
    /// Every store, in the order the tools run them.
    pub const ALL: [Store; 4] = [Store::Memory, Store::Redis, Store::Sqlite, Store::Postgres];

    /// The stores the benchmark runs unless told otherwise.
    pub const BENCHED: [Store; 5] = [
        Store::Memory,
        Store::Redis,
        Store::Sqlite,
        Store::Postgres,
        Store::RedisCluster,
    ];

    /// Every store a command line may name.
    const NAMED: [Store; 5] = Store::BENCHED;

    /// The store's name (`--store`, reports); `SESSION_STORE`'s value but for the Cluster,
    /// which is `redis` there (see [`Store::session_store`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis",
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
            Store::RedisCluster => "redis-cluster",
        }
    }

    /// The value of `SESSION_STORE` for this store.
    pub fn session_store(self) -> &'static str {
        match self {
            Store::RedisCluster => "redis",
            other => other.as_str(),
        }
    }

    /// The stores named on a command line (`--store`, repeatable), each once, in the order given;
    /// `default` when none is named.
    pub fn chosen(named: &[Store], default: &[Store]) -> Vec<Store> {
        let mut stores = Vec::new();
        for &store in named {
            if !stores.contains(&store) {
                stores.push(store);
            }
        }
        if stores.is_empty() {
            stores = default.to_vec();
        }
        stores
    }
}

impl FromStr for Store {
    type Err = String;

    /// Parses a store name, listing the valid names on error.
    fn from_str(name: &str) -> Result<Self, String> {
        Self::NAMED
            .into_iter()
            .find(|store| store.as_str() == name)
            .ok_or_else(|| {
                format!("unknown store `{name}`: expected one of memory, redis, sqlite, postgres, redis-cluster")
            })
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client the mock IdP knows and the app uses.
pub const CLIENT_ID: &str = "sesame";

/// The secret of [`CLIENT_ID`]; the end-to-end tests check it never reaches the app's log.
pub const CLIENT_SECRET: &str = "sesame-secret";

/// The SQLite store's database file, in the directory given to [`App::start_store`].
pub const SQLITE_FILE: &str = "sesame.db";

/// Paths of the built binaries.
pub struct Bins {
    /// The app (`crates/server`, bin `sesame`).
    pub sesame: PathBuf,
    /// The mock OpenID provider (`crates/mock-idp`, bin `mock-idp`).
    pub mock_idp: PathBuf,
}

impl Bins {
    /// A command starting the mock IdP on `127.0.0.1:port`, announcing itself as `issuer`.
    pub fn mock_idp(&self, cwd: &Path, port: u16, issuer: &str) -> Command {
        let mut command = clean_command(&self.mock_idp, cwd);
        command
            .env("MOCK_IDP_HOST", "127.0.0.1")
            .env("MOCK_IDP_PORT", port.to_string())
            .env("MOCK_IDP_ISSUER", issuer)
            .env("MOCK_IDP_CLIENT_ID", CLIENT_ID)
            .env("MOCK_IDP_CLIENT_SECRET", CLIENT_SECRET)
            .env("RUST_LOG", "info");
        command
    }
}

/// Everything one `sesame` instance is started with.
#[derive(Clone)]
pub struct App {
    /// `OIDC_ISSUER`: the mock IdP's issuer URL.
    pub issuer: String,
    /// `APP_BASE_URL`: where the browser reaches the app (several instances may share one).
    pub base_url: String,
    /// `PORT` (the app listens on 127.0.0.1).
    pub port: u16,
    /// `APP_SECRET_KEY`.
    pub secret_key: String,
    /// `SESSION_STORE`.
    pub store: Store,
    /// `REDIS_URL`, for the redis store.
    pub redis_url: Option<String>,
    /// `DATABASE_URL`, for the sqlite and postgres stores.
    pub database_url: Option<String>,
    /// Whether the log may use colours (not in log files, where they only get in the way).
    pub colour: bool,
}

impl App {
    /// A local instance on 127.0.0.1:`port` in front of `issuer`, with a fresh random secret key
    /// and logs without colour; the store's URL is left for the caller to fill in.
    pub fn local(issuer: &str, port: u16, store: Store) -> io::Result<Self> {
        Ok(Self {
            issuer: issuer.to_owned(),
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            secret_key: random_hex(32)?,
            store,
            redis_url: None,
            database_url: None,
            colour: false,
        })
    }

    /// Gives the app its store: for redis a private `redis-server` on `redis_port` (returned: the
    /// caller keeps it running), for sqlite the file [`SQLITE_FILE`] in `dir`. For postgres, see
    /// [`App::start_database`].
    pub fn start_store(&mut self, dir: &Path, redis_port: u16) -> io::Result<Option<ChildGuard>> {
        match self.store {
            Store::Memory => Ok(None),
            Store::Redis => {
                let redis = crate::redis::spawn(dir, redis_port, false)?;
                self.redis_url = Some(format!("redis://127.0.0.1:{redis_port}/0"));
                Ok(Some(redis))
            }
            Store::Sqlite => {
                let db = dir.join(SQLITE_FILE);
                self.database_url = Some(format!("sqlite://{}?mode=rwc", db.display()));
                Ok(None)
            }
            // Started by the caller: see `crate::RedisCluster`.
            Store::Postgres | Store::RedisCluster => Ok(None),
        }
    }

    /// For postgres, a fresh database (returned: the caller keeps it until the app has stopped,
    /// and it is dropped with it); `None` for the other stores.
    pub fn start_database(&mut self) -> io::Result<Option<crate::PostgresDatabase>> {
        if self.store != Store::Postgres {
            return Ok(None);
        }
        let database = crate::PostgresDatabase::try_create()?;
        self.database_url = Some(database.url());
        Ok(Some(database))
    }

    /// A command starting `sesame` (binary `bin`) in `cwd` with exactly this configuration.
    pub fn command(&self, bin: &Path, cwd: &Path) -> Command {
        let mut command = clean_command(bin, cwd);
        command
            .env("OIDC_ISSUER", &self.issuer)
            .env("AUTH0_CLIENT_ID", CLIENT_ID)
            .env("AUTH0_CLIENT_SECRET", CLIENT_SECRET)
            .env("APP_SECRET_KEY", &self.secret_key)
            .env("APP_BASE_URL", &self.base_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("SESSION_STORE", self.store.session_store())
            // The documented defaults, set so a stray `.env` cannot change them.
            .env("SESSION_IDLE_TIMEOUT", "1h")
            .env("SESSION_ABSOLUTE_TIMEOUT", "7d")
            .env("RUST_LOG", "info");
        if let Some(url) = &self.redis_url {
            command.env("REDIS_URL", url);
        }
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        if !self.colour {
            command.env("NO_COLOR", "1");
        }
        command
    }
}

/// A command for `program` in `cwd` whose environment holds only `PATH` (and a backtrace switch).
fn clean_command(program: &Path, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .env_clear()
        .env("RUST_BACKTRACE", "1");
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// `bytes` random bytes from the kernel, as lowercase hex (a fresh `APP_SECRET_KEY`).
fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut buf))
        .map_err(|e| crate::error(format!("cannot read /dev/urandom: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
