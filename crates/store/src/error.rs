//! The one error type of this crate, backend-neutral.

/// Why a store could not be opened or answered. Messages name the URL, never a variable: where
/// the URL came from is the caller's business.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not a valid Redis URL.
    #[error("not a valid Redis URL: {0}")]
    InvalidRedisUrl(String),
    /// The Redis key prefix cannot be used.
    #[error(
        "not a usable Redis key prefix: `{0}` (at most 64 printable characters, no spaces or braces)"
    )]
    InvalidKeyPrefix(String),
    /// Redis did not answer at startup.
    #[error("cannot reach Redis at {url}: {reason}")]
    RedisUnreachable {
        /// The URL, with any password removed.
        url: String,
        /// The connection's error, or the timeout that ran out.
        reason: String,
    },
    /// The URL is not a valid SQLite URL.
    #[error("not a valid SQLite URL: {0}")]
    InvalidDatabaseUrl(String),
    /// The SQLite file could not be opened, created or migrated.
    #[error("cannot open the SQLite database at {url}: {reason}")]
    SqliteUnavailable {
        /// The URL as configured.
        url: String,
        /// sqlx's error, or the migration that failed.
        reason: String,
    },
    /// The URL is not a valid PostgreSQL URL.
    #[error("not a valid PostgreSQL URL: {0}")]
    InvalidPostgresUrl(String),
    /// PostgreSQL could not be reached, or the session tables could not be created or migrated.
    #[error("cannot use PostgreSQL at {url}: {reason}")]
    PostgresUnavailable {
        /// The URL, with any password removed.
        url: String,
        /// sqlx's error, the timeout that ran out, or the migration that failed.
        reason: String,
    },
    /// The store did not answer a health check.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
}
