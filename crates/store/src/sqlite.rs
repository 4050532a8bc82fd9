//! SQLite: one file, WAL mode, created and migrated at start, expired rows swept periodically.

use crate::StoreError;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use tower_sessions::session::Record;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions_sqlx_store::SqliteStore;

/// How often expired sessions are deleted: they are already invisible to `load`, so this only
/// bounds the file's growth.
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

pub(crate) async fn connect(url: &str) -> Result<(SqliteStore, SqlitePool), StoreError> {
    let unavailable = |reason: String| StoreError::SqliteUnavailable {
        url: url.to_owned(),
        reason,
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| StoreError::InvalidDatabaseUrl(err.to_string()))?
        .create_if_missing(true)
        // WAL lets readers proceed while a writer commits: page views never wait on a login.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(2))
        // 512 KiB of page cache per connection (SQLite's default is 2 MiB): session lookups are
        // by primary key, and the OS page cache holds the file anyway.
        .pragma("cache_size", "-512");
    let pool = SqlitePoolOptions::new()
        // Each connection is a worker thread with its own page cache: more than a few buy no
        // throughput on a small machine (SQLite has one writer anyway) and cost memory.
        .max_connections(4)
        // sqlx pings every connection on acquire by default: a thread round trip per page view
        // for a local file that cannot have gone away.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
        .map_err(|err| unavailable(err.to_string()))?;
    let store = SqliteStore::new(pool.clone());
    store
        .migrate()
        .await
        .map_err(|err| unavailable(format!("migration failed: {err}")))?;

    sqlx::query(
        "create table if not exists sesame_claims \
         (key text primary key not null, expires_at integer not null)",
    )
    .execute(&pool)
    .await
    .map_err(|err| unavailable(format!("creating the claims table failed: {err}")))?;

    let (sweeper, sweeper_pool) = (store.clone(), pool.clone());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            ticks.tick().await;
            if let Err(err) = sweeper.delete_expired().await {
                tracing::warn!(error = ?err, "deleting expired SQLite sessions failed");
            }
            let swept = sqlx::query("delete from sesame_claims where expires_at <= ?")
                .bind(unix_millis_now())
                .execute(&sweeper_pool)
                .await;
            if let Err(err) = swept {
                tracing::warn!(error = ?err, "deleting expired SQLite claims failed");
            }
        }
    });
    Ok((store, pool))
}

/// Updates an existing session only (the upstream store upserts): a request that finishes after
/// a concurrent logout must not bring the deleted session back. Same table and encoding as
/// `SqliteStore`, which still does create, load and delete.
pub(crate) async fn save_existing(
    pool: &SqlitePool,
    record: &Record,
) -> Result<(), tower_sessions::session_store::Error> {
    use tower_sessions::session_store::Error;
    let data = rmp_serde::to_vec(record).map_err(|err| Error::Encode(err.to_string()))?;
    sqlx::query("update tower_sessions set data = ?, expiry_date = ? where id = ?")
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .execute(pool)
        .await
        .map_err(|err| Error::Backend(err.to_string()))?;
    Ok(())
}

/// Inserts the claim, or takes over one whose time has passed (not yet swept); a live claim
/// makes the statement change no row. SQLite runs it as one write, so it is atomic.
pub(crate) async fn claim_once(
    pool: &SqlitePool,
    key: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = unix_millis_now();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let done = sqlx::query(
        "insert into sesame_claims (key, expires_at) values (?, ?) \
         on conflict (key) do update set expires_at = excluded.expires_at \
         where sesame_claims.expires_at <= ?",
    )
    .bind(key)
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await
    .map_err(|err| StoreError::Unavailable(format!("SQLite: {err}")))?;
    Ok(done.rows_affected() == 1)
}

fn unix_millis_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("select 1")
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|err| StoreError::Unavailable(format!("SQLite: {err}")))
}
