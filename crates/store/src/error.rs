//! The one error type of this crate, backend-neutral.

/// Why a store could not be opened or answered.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `REDIS_URL` is not a valid Redis URL.
    #[error("REDIS_URL is invalid: {0}")]
    InvalidRedisUrl(String),
    /// Redis did not answer at startup.
    #[error("cannot reach Redis at REDIS_URL ({url}): {reason}")]
    RedisUnreachable {
        /// The URL, with any password removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// `DATABASE_URL` is not a valid SQLite URL.
    #[error("DATABASE_URL is invalid: {0}")]
    InvalidDatabaseUrl(String),
    /// The SQLite file could not be opened, created or migrated.
    #[error("cannot open the SQLite database at DATABASE_URL ({url}): {reason}")]
    SqliteUnavailable {
        /// The URL as configured.
        url: String,
        /// Why.
        reason: String,
    },
    /// The store did not answer a health check.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
}
