//! The runtime-chosen store and its delegating `SessionStore` implementation.

use crate::{MemoryStore, StoreError, StoreKind, redis, sqlite};
use async_trait::async_trait;
use std::time::Duration;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::clients::Pool as RedisPool;
use tower_sessions_sqlx_store::SqliteStore;

/// How to open the store: the parsed `SESSION_STORE`, `REDIS_URL` and `DATABASE_URL`.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Which backend.
    pub kind: StoreKind,
    /// Used when `kind` is Redis.
    pub redis_url: String,
    /// Used when `kind` is SQLite.
    pub database_url: String,
    /// Upper bound for one store operation, so an outage turns into a quick error page
    /// instead of a hung request.
    pub operation_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Memory,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            database_url: "sqlite://sesame.db?mode=rwc".to_owned(),
            operation_timeout: Duration::from_millis(1500),
        }
    }
}

/// The store in use. Cheap to clone (every variant is a handle to shared state).
#[derive(Debug, Clone)]
pub enum SessionBackend {
    /// In-process memory.
    Memory(MemoryStore),
    /// Redis through a small fred connection pool.
    Redis(RedisStore<RedisPool>, RedisPool),
    /// A SQLite file through an sqlx pool.
    Sqlite(SqliteStore, sqlx::SqlitePool),
}

impl SessionBackend {
    /// Opens (and for SQLite creates and migrates) the configured store, failing with a
    /// message that names the variable to fix.
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        match config.kind {
            StoreKind::Memory => Ok(Self::Memory(MemoryStore::with_sweeper())),
            StoreKind::Redis => {
                let pool = redis::connect(&config.redis_url, config.operation_timeout).await?;
                Ok(Self::Redis(RedisStore::new(pool.clone()), pool))
            }
            StoreKind::Sqlite => {
                let (store, pool) = sqlite::connect(&config.database_url).await?;
                Ok(Self::Sqlite(store, pool))
            }
        }
    }

    /// Which backend this is.
    pub fn kind(&self) -> StoreKind {
        match self {
            Self::Memory(_) => StoreKind::Memory,
            Self::Redis(..) => StoreKind::Redis,
            Self::Sqlite(..) => StoreKind::Sqlite,
        }
    }

    /// Checks the store answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(_, pool) => redis::ping(pool).await,
            Self::Sqlite(_, pool) => sqlite::ping(pool).await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Memory(store) => store.create(record).await,
            Self::Redis(store, _) => store.create(record).await,
            Self::Sqlite(store, _) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Memory(store) => store.save(record).await,
            Self::Redis(store, _) => store.save(record).await,
            Self::Sqlite(_, pool) => sqlite::save_existing(pool, record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Memory(store) => store.load(id).await,
            Self::Redis(store, _) => store.load(id).await,
            Self::Sqlite(store, _) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Memory(store) => store.delete(id).await,
            Self::Redis(store, _) => store.delete(id).await,
            Self::Sqlite(store, _) => store.delete(id).await,
        }
    }
}
