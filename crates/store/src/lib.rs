//! The session store Sesame uses, chosen at runtime from `SESSION_STORE`.
//!
//! [`SessionBackend`] is one type for all backends, so the router is written once: it implements
//! tower-sessions' `SessionStore` by delegating to whichever backend was configured, including
//! `create`, so each backend keeps its own collision-safe insert.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod backend;
mod error;
mod kind;
mod memory;
mod metered;
mod postgres;
mod postgres_cache;
mod postgres_data;
mod read_cache;
mod readers;
mod redis;
mod redis_cache;
mod session_data;
mod sqlite;
mod sqlite_reads;
mod table;

pub use backend::{SessionBackend, StoreConfig};
pub use error::StoreError;
pub use kind::{StoreKind, UnknownStoreKind};
pub use memory::MemoryStore;
pub use metered::{
    ACTIVE_SESSIONS, MeteredStore, STORE_ERRORS_TOTAL, STORE_OPERATION_SECONDS, describe_metrics,
};
pub use postgres::PostgresStore;
pub use postgres_cache::{POSTGRES_READ_CACHE_PAUSES_TOTAL, POSTGRES_READ_CACHE_READS_TOTAL};
pub use redis::{RedisSessions, check_prefix as check_redis_key_prefix};
pub use redis_cache::{READ_CACHE_PAUSES_TOTAL, READ_CACHE_READS_TOTAL};
pub use session_data::StoredTokens;
pub use sqlite_reads::SqliteSessions;
pub use table::{InvalidSessionTable, SessionTable};
