//! SQLite: one file, WAL mode, created and migrated at start, expired rows swept periodically.

use crate::SqliteSessions;
use crate::{StoreError, StoredTokens};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::session::Id;
use tower_sessions::session::Record;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions_sqlx_store::SqliteStore;

/// How often expired sessions are deleted: they are already invisible to `load`, so this only
/// bounds the file's growth.
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

pub(crate) async fn connect(url: &str) -> Result<(SqliteSessions, SqlitePool), StoreError> {
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
        .connect_with(options.clone())
        .await
        .map_err(|err| unavailable(err.to_string()))?;
    let store = SqliteStore::new(pool.clone());
    store
        .migrate()
        .await
        .map_err(|err| unavailable(format!("migration failed: {err}")))?;

    for (table, definition) in SIDE_TABLES {
        sqlx::query(&format!("create table if not exists {table} {definition}"))
            .execute(&pool)
            .await
            .map_err(|err| unavailable(format!("creating the table {table} failed: {err}")))?;
    }

    let sessions = SqliteSessions::new(store.clone(), pool.clone(), options);
    let (sweeper, sweeper_pool) = (store, pool.clone());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            ticks.tick().await;
            if let Err(err) = sweeper.delete_expired().await {
                tracing::warn!(error = ?err, "deleting expired SQLite sessions failed");
            }
            for (table, _) in SIDE_TABLES {
                let swept = sqlx::query(&format!("delete from {table} where expires_at <= ?"))
                    .bind(unix_millis_now())
                    .execute(&sweeper_pool)
                    .await;
                if let Err(err) = swept {
                    tracing::warn!(error = ?err, table, "deleting expired SQLite rows failed");
                }
            }
        }
    });
    Ok((sessions, pool))
}

/// The tables beside the sessions, each with an `expires_at` (unix ms) the sweeper prunes by.
const SIDE_TABLES: [(&str, &str); 4] = [
    (
        "sesame_claims",
        "(key text primary key not null, expires_at integer not null)",
    ),
    (
        "sesame_tokens",
        "(session_id text primary key not null, version integer not null, \
          sealed blob not null, expires_at integer not null)",
    ),
    (
        "sesame_leases",
        "(session_id text primary key not null, holder text not null, \
          expires_at integer not null)",
    ),
    (
        "sesame_session_index",
        "(key text not null, session_id text not null, expires_at integer not null, \
          primary key (key, session_id))",
    ),
];

/// Updates an existing session only (the upstream store upserts): a request that finishes after
/// a concurrent logout must not bring the deleted session back. Same table and encoding as
/// `SqliteStore`, which still does create and delete.
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

fn unavailable(err: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("SQLite: {err}"))
}

fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) async fn load_tokens(
    pool: &SqlitePool,
    id: &Id,
) -> Result<Option<StoredTokens>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "select version, sealed from sesame_tokens where session_id = ? and expires_at > ?",
    )
    .bind(id.to_string())
    .bind(unix_millis_now())
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    Ok(row.map(|(version, sealed)| StoredTokens {
        version: u64::try_from(version).unwrap_or_default(),
        sealed,
    }))
}

pub(crate) async fn put_tokens(
    pool: &SqlitePool,
    id: &Id,
    sealed: &[u8],
    expires: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into sesame_tokens (session_id, version, sealed, expires_at) values (?, 1, ?, ?) \
         on conflict (session_id) do update set version = 1, sealed = excluded.sealed, \
         expires_at = excluded.expires_at",
    )
    .bind(id.to_string())
    .bind(sealed)
    .bind(unix_millis(expires))
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(unavailable)
}

/// One conditional UPDATE: SQLite runs it as one write, so it is a compare-and-set.
pub(crate) async fn replace_tokens(
    pool: &SqlitePool,
    id: &Id,
    expected_version: u64,
    sealed: &[u8],
    expires: OffsetDateTime,
) -> Result<bool, StoreError> {
    let expected = i64::try_from(expected_version).unwrap_or(i64::MAX);
    let done = sqlx::query(
        "update sesame_tokens set version = version + 1, sealed = ?, expires_at = ? \
         where session_id = ? and version = ?",
    )
    .bind(sealed)
    .bind(unix_millis(expires))
    .bind(id.to_string())
    .bind(expected)
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete_tokens(pool: &SqlitePool, id: &Id) -> Result<(), StoreError> {
    sqlx::query("delete from sesame_tokens where session_id = ?")
        .bind(id.to_string())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(unavailable)
}

/// Takes the lease row, or takes over one that lapsed; a live lease changes no row.
pub(crate) async fn acquire_lease(
    pool: &SqlitePool,
    id: &Id,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = unix_millis_now();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let done = sqlx::query(
        "insert into sesame_leases (session_id, holder, expires_at) values (?, ?, ?) \
         on conflict (session_id) do update set holder = excluded.holder, \
         expires_at = excluded.expires_at where sesame_leases.expires_at <= ?",
    )
    .bind(id.to_string())
    .bind(holder)
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn release_lease(
    pool: &SqlitePool,
    id: &Id,
    holder: &str,
) -> Result<(), StoreError> {
    sqlx::query("delete from sesame_leases where session_id = ? and holder = ?")
        .bind(id.to_string())
        .bind(holder)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(crate) async fn index_session(
    pool: &SqlitePool,
    key: &str,
    id: &Id,
    expires: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into sesame_session_index (key, session_id, expires_at) values (?, ?, ?) \
         on conflict (key, session_id) do update set expires_at = excluded.expires_at",
    )
    .bind(key)
    .bind(id.to_string())
    .bind(unix_millis(expires))
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(unavailable)
}

/// By the primary key's prefix: an index lookup, never a scan of the table.
pub(crate) async fn indexed_sessions(pool: &SqlitePool, key: &str) -> Result<Vec<Id>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "select session_id from sesame_session_index where key = ? and expires_at > ?",
    )
    .bind(key)
    .bind(unix_millis_now())
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    Ok(rows
        .iter()
        .filter_map(|(id,)| id.parse::<Id>().ok())
        .collect())
}

pub(crate) async fn unindex_session(
    pool: &SqlitePool,
    key: &str,
    id: &Id,
) -> Result<(), StoreError> {
    sqlx::query("delete from sesame_session_index where key = ? and session_id = ?")
        .bind(key)
        .bind(id.to_string())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(unavailable)
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
