//! The runtime-chosen store and its delegating `SessionStore` implementation.

use crate::redis::RedisSessions;
use crate::{
    MemoryStore, PostgresStore, SessionTable, SqliteSessions, StoreError, StoreKind, postgres,
    redis, sqlite,
};
use async_trait::async_trait;
use std::time::Duration;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// How to open the store: one variant per backend, each with what that backend needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// In-process memory.
    Memory,
    /// Redis, in any of fred's URL forms: one server (`redis://host:port/db`), a Cluster
    /// (`redis-cluster://host:port?node=host2:port2`, any node is enough to find the rest; a
    /// database number is refused, a Cluster has only 0) or behind Sentinel
    /// (`redis-sentinel://sentinel:port/db?sentinelServiceName=NAME&node=sentinel2:port2`);
    /// `rediss` for TLS.
    Redis {
        /// The server's URL.
        url: String,
        /// Upper bound for one store operation, so an outage or a failover turns into a quick
        /// error page instead of a hung request.
        operation_timeout: Duration,
        /// Put before every key (empty: none), so apps can share a Redis (a Cluster has only
        /// database 0).
        key_prefix: String,
        /// Sessions kept in the local read cache that Redis invalidates (0: no cache).
        read_cache: usize,
    },
    /// A SQLite file (`sqlite://path?mode=rwc`), created and migrated when opened.
    Sqlite {
        /// The database URL.
        url: String,
    },
    /// A PostgreSQL database (`postgres://` or `postgresql://`; TLS through rustls as the URL's
    /// `sslmode` asks), its tables created and migrated when opened.
    Postgres {
        /// The database URL.
        url: String,
        /// The session table; the tables beside it are named after it.
        table: SessionTable,
        /// Sessions kept in the local read cache that PostgreSQL's notices keep true (0: no
        /// cache).
        read_cache: usize,
    },
}

impl Default for StoreConfig {
    /// Memory: the store that needs nothing outside the process.
    fn default() -> Self {
        Self::Memory
    }
}

impl StoreConfig {
    /// The Redis URL used when none is configured.
    pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
    /// The SQLite URL used when none is configured.
    pub const DEFAULT_SQLITE_URL: &str = "sqlite://sesame.db?mode=rwc";
    /// How long one Redis operation may take unless configured otherwise.
    pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);
    /// Sessions the Redis and PostgreSQL stores' read caches keep unless configured otherwise,
    /// about 1.5 KB each: as many logins as the page cache and the known-logins map keep, so
    /// an instance serving up to that many active users misses only on a change.
    pub const DEFAULT_READ_CACHE: usize = 16_384;

    /// Redis at `url`, with the default operation timeout.
    pub fn redis(url: impl Into<String>) -> Self {
        Self::Redis {
            url: url.into(),
            operation_timeout: Self::DEFAULT_OPERATION_TIMEOUT,
            key_prefix: String::new(),
            read_cache: Self::DEFAULT_READ_CACHE,
        }
    }

    /// SQLite at `url`.
    pub fn sqlite(url: impl Into<String>) -> Self {
        Self::Sqlite { url: url.into() }
    }

    /// PostgreSQL at `url`, with the sessions in `table`.
    pub fn postgres(url: impl Into<String>, table: SessionTable) -> Self {
        Self::Postgres {
            url: url.into(),
            table,
            read_cache: Self::DEFAULT_READ_CACHE,
        }
    }

    /// The backend this configures.
    pub fn kind(&self) -> StoreKind {
        match self {
            Self::Memory => StoreKind::Memory,
            Self::Redis { .. } => StoreKind::Redis,
            Self::Sqlite { .. } => StoreKind::Sqlite,
            Self::Postgres { .. } => StoreKind::Postgres,
        }
    }
}

/// The store in use. Cheap to clone (every variant is a handle to shared state).
#[derive(Debug, Clone)]
pub enum SessionBackend {
    /// In-process memory.
    Memory(MemoryStore),
    /// Redis through a small fred connection pool (a single server, a Cluster or Sentinel).
    Redis(RedisSessions),
    /// A SQLite file through an sqlx pool.
    Sqlite(SqliteSessions, sqlx::SqlitePool),
    /// A PostgreSQL database through an sqlx pool.
    Postgres(PostgresStore),
}

impl SessionBackend {
    /// Opens (and for SQLite and PostgreSQL creates and migrates) the configured store.
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        match config {
            StoreConfig::Memory => Ok(Self::Memory(MemoryStore::with_sweeper())),
            StoreConfig::Redis {
                url,
                operation_timeout,
                key_prefix,
                read_cache,
            } => {
                let redis =
                    redis::connect(url, *operation_timeout, key_prefix, *read_cache).await?;
                Ok(Self::Redis(redis))
            }
            StoreConfig::Sqlite { url } => {
                let (store, pool) = sqlite::connect(url).await?;
                Ok(Self::Sqlite(store, pool))
            }
            StoreConfig::Postgres {
                url,
                table,
                read_cache,
            } => Ok(Self::Postgres(
                postgres::connect(url, table, *read_cache).await?,
            )),
        }
    }

    /// Which backend this is.
    pub fn kind(&self) -> StoreKind {
        match self {
            Self::Memory(_) => StoreKind::Memory,
            Self::Redis(..) => StoreKind::Redis,
            Self::Sqlite(..) => StoreKind::Sqlite,
            Self::Postgres(_) => StoreKind::Postgres,
        }
    }

    /// Claims `key` once: `true` for the first caller, `false` for every later one until `ttl`
    /// has passed, across every instance sharing the store. Atomic in each backend (`SET NX`
    /// in Redis, `INSERT … ON CONFLICT` in SQLite and PostgreSQL, the map under its lock in memory), so of
    /// two concurrent callers exactly one wins. Used for one-time values: a callback's `state`
    /// before its code is exchanged.
    pub async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.claim_once(key, ttl)),
            Self::Redis(redis_store) => redis::claim_once(redis_store, key, ttl).await,
            Self::Sqlite(_, pool) => sqlite::claim_once(pool, key, ttl).await,
            Self::Postgres(store) => store.claim_once(key, ttl).await,
        }
    }

    /// Checks the store answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(redis_store) => redis::ping(redis_store).await,
            Self::Sqlite(_, pool) => sqlite::ping(pool).await,
            Self::Postgres(store) => store.ping().await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Memory(store) => store.create(record).await,
            Self::Redis(store) => store.create(record).await,
            Self::Sqlite(store, _) => store.create(record).await,
            Self::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Memory(store) => store.save(record).await,
            Self::Redis(store) => store.save(record).await,
            Self::Sqlite(_, pool) => sqlite::save_existing(pool, record).await,
            Self::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Memory(store) => store.load(id).await,
            Self::Redis(store) => store.load(id).await,
            Self::Sqlite(store, _) => store.load(id).await,
            Self::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Memory(store) => store.delete(id).await,
            Self::Redis(store) => store.delete(id).await,
            Self::Sqlite(store, _) => store.delete(id).await,
            Self::Postgres(store) => store.delete(id).await,
        }
    }
}
