//! PostgreSQL: an sqlx pool (TLS through rustls), the session table and the tables beside it
//! created at start, expired rows swept periodically, every operation bounded in time.
//!
//! The session table is Sesame's own rather than tower-sessions-sqlx-store's `PostgresStore`:
//! that one upserts on save (a request finishing after a logout would bring the session back),
//! its create checks for a colliding ID and then upserts (two concurrent creates with one ID
//! both pass the check), and its migration gives up without creating the table when another
//! instance creates the schema at the same moment. Here every write is one statement whose
//! outcome PostgreSQL decides atomically. The encoding (a MessagePack `Record` in a `bytea`)
//! is the same. Session reads go through a local read cache that a row trigger keeps true
//! ([`crate::postgres_cache`]) unless it is turned off.

use crate::postgres_cache::{self, ReadCache};
use crate::readers::ReadConnections;
use crate::table::SessionTable;
use crate::{StoreConfig, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// How often expired rows are deleted: they are already invisible to every read, so this only
/// bounds the tables' growth.
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// Pooled connections per instance, for writes and everything but session reads; with
/// [`READERS`], many instances times their sum must stay under the server's `max_connections`
/// (100 by default).
const POOL_SIZE: u32 = 8;

/// Connections per instance for session reads, outside the pool ([`crate::readers`]): page
/// views are one primary-key read each, so a few carry a lot.
const READERS: usize = 16;

/// The sessions in PostgreSQL. Cheap to clone: the pool and the statements are shared.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    /// Session reads: one round trip each, where the pool adds a ping on acquire and release.
    readers: Arc<ReadConnections<PgConnection>>,
    /// Records read lately, dropped as the trigger reports changes; `None` when off.
    cache: Option<Arc<ReadCache>>,
    pub(crate) sql: Arc<Statements>,
    /// The longest one operation may take, waiting for a connection included.
    timeout: Duration,
    /// Stops the sweeper when the last clone is dropped, so tests that drop their database
    /// leave no task behind that keeps connecting to it.
    _sweeper: Arc<Sweeper>,
}

#[derive(Debug)]
struct Sweeper(tokio::task::JoinHandle<()>);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every statement, built once from the configured table names (checked identifiers, quoted).
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) insert_new: String,
    pub(crate) update_existing: String,
    pub(crate) load: String,
    pub(crate) delete: String,
    pub(crate) claim: String,
    pub(crate) load_tokens: String,
    pub(crate) put_tokens: String,
    pub(crate) replace_tokens: String,
    pub(crate) delete_tokens: String,
    pub(crate) acquire_lease: String,
    pub(crate) release_lease: String,
    pub(crate) index: String,
    pub(crate) indexed: String,
    pub(crate) unindex: String,
    /// `create ...` statements, in order.
    migration: Vec<String>,
    /// The function the read cache's trigger calls: notifies the session's ID.
    notify_function: String,
    /// The trigger's name (unqualified, as `pg_trigger` holds it) and its `create trigger`.
    trigger_name: String,
    create_trigger: String,
    /// `delete ... where expired`, one per table, each bound to the current time.
    sweeps: Vec<String>,
}

impl Statements {
    fn new(table: &SessionTable) -> Self {
        let sessions = table.sessions();
        let claims = table.with_suffix("_claims");
        let tokens = table.with_suffix("_tokens");
        let leases = table.with_suffix("_leases");
        let index = table.with_suffix("_session_index");
        let expiry_index = format!(r#""{}_expiry_idx""#, table.name());
        let notify = table.with_suffix("_notify_change");
        let trigger_name = format!("{}_notify_change", table.name());
        // The channel is made of checked identifier characters only: safe inside quotes.
        let channel = postgres_cache::channel(table.name());
        Self {
            notify_function: format!(
                "create or replace function {notify}() returns trigger language plpgsql as \
                 $body$ begin perform pg_notify('{channel}', old.id); return null; end $body$"
            ),
            create_trigger: format!(
                "create trigger \"{trigger_name}\" after update or delete on {sessions} \
                 for each row execute function {notify}()"
            ),
            trigger_name,
            // `do nothing` on a colliding ID: the caller picks another and tries again.
            insert_new: format!(
                "insert into {sessions} (id, data, expiry_date) values ($1, $2, $3) \
                 on conflict (id) do nothing"
            ),
            update_existing: format!(
                "update {sessions} set data = $2, expiry_date = $3 where id = $1"
            ),
            load: format!("select data from {sessions} where id = $1 and expiry_date > $2"),
            delete: format!("delete from {sessions} where id = $1"),
            // A live claim makes the statement change no row; a lapsed one (not yet swept) is
            // taken over. ON CONFLICT locks the row and rechecks the WHERE on its newest
            // version, so of two concurrent claims exactly one changes a row.
            claim: format!(
                "insert into {claims} as c (key, expires_at) values ($1, $2) \
                 on conflict (key) do update set expires_at = excluded.expires_at \
                 where c.expires_at <= $3"
            ),
            load_tokens: format!(
                "select version, sealed from {tokens} where session_id = $1 and expires_at > $2"
            ),
            put_tokens: format!(
                "insert into {tokens} (session_id, version, sealed, expires_at) \
                 values ($1, 1, $2, $3) on conflict (session_id) do update \
                 set version = 1, sealed = excluded.sealed, expires_at = excluded.expires_at"
            ),
            // A concurrent replace waits for the row lock, then rechecks `version` on the row
            // the winner wrote: it no longer matches, so it changes nothing.
            replace_tokens: format!(
                "update {tokens} set version = version + 1, sealed = $3, expires_at = $4 \
                 where session_id = $1 and version = $2"
            ),
            delete_tokens: format!("delete from {tokens} where session_id = $1"),
            acquire_lease: format!(
                "insert into {leases} as l (session_id, holder, expires_at) values ($1, $2, $3) \
                 on conflict (session_id) do update set holder = excluded.holder, \
                 expires_at = excluded.expires_at where l.expires_at <= $4"
            ),
            release_lease: format!("delete from {leases} where session_id = $1 and holder = $2"),
            index: format!(
                "insert into {index} (key, session_id, expires_at) values ($1, $2, $3) \
                 on conflict (key, session_id) do update set expires_at = excluded.expires_at"
            ),
            indexed: format!("select session_id from {index} where key = $1 and expires_at > $2"),
            unindex: format!("delete from {index} where key = $1 and session_id = $2"),
            migration: vec![
                format!(
                    "create table if not exists {sessions} (id text primary key not null, \
                     data bytea not null, expiry_date timestamptz not null)"
                ),
                format!("create index if not exists {expiry_index} on {sessions} (expiry_date)"),
                format!(
                    "create table if not exists {claims} (key text primary key not null, \
                     expires_at timestamptz not null)"
                ),
                format!(
                    "create table if not exists {tokens} (session_id text primary key not null, \
                     version bigint not null, sealed bytea not null, \
                     expires_at timestamptz not null)"
                ),
                format!(
                    "create table if not exists {leases} (session_id text primary key not null, \
                     holder text not null, expires_at timestamptz not null)"
                ),
                // The primary key's prefix serves lookups by key: never a scan.
                format!(
                    "create table if not exists {index} (key text not null, \
                     session_id text not null, expires_at timestamptz not null, \
                     primary key (key, session_id))"
                ),
            ],
            sweeps: vec![
                format!("delete from {sessions} where expiry_date <= $1"),
                format!("delete from {claims} where expires_at <= $1"),
                format!("delete from {tokens} where expires_at <= $1"),
                format!("delete from {leases} where expires_at <= $1"),
                format!("delete from {index} where expires_at <= $1"),
            ],
        }
    }
}

/// Connects, creates what is missing and starts the sweeper. Fails within a few seconds when
/// the server does not answer, naming the URL without its password.
pub(crate) async fn connect(
    url: &str,
    table: &SessionTable,
    read_cache: usize,
) -> Result<PostgresStore, StoreError> {
    let timeout = StoreConfig::DEFAULT_OPERATION_TIMEOUT;
    let redacted = redact(url);
    let unavailable = |reason: String| StoreError::PostgresUnavailable {
        url: redacted.clone(),
        reason,
    };
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| StoreError::InvalidPostgresUrl(format!("{redacted}: {err}")))?;
    let connecting = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        // Waiting for a connection counts against the request: an outage is a quick 503.
        .acquire_timeout(timeout)
        .connect_with(options.clone());
    // `acquire_timeout` bounds the first connection too; this bounds a TLS handshake that hangs.
    let pool = match tokio::time::timeout(timeout * 3, connecting).await {
        Ok(Ok(pool)) => pool,
        Ok(Err(err)) => return Err(unavailable(err.to_string())),
        Err(_) => {
            return Err(unavailable(format!(
                "no connection within {:?}",
                timeout * 3
            )));
        }
    };
    let sql = Arc::new(Statements::new(table));
    migrate(&pool, table, &sql)
        .await
        .map_err(|err| unavailable(format!("creating the table {table} failed: {err}")))?;
    let cache = if read_cache == 0 {
        None
    } else {
        match notify_changes(&pool, table, &sql).await {
            Ok(()) => {
                let channel = postgres_cache::channel(table.name());
                ReadCache::start(options.clone(), &pool, channel, read_cache).await
            }
            Err(err) => {
                tracing::warn!(
                    reason = %err,
                    "the PostgreSQL read cache is off: creating its trigger on {table} failed \
                     (it needs the right to create functions and triggers in that schema)"
                );
                None
            }
        }
    };
    let sweeper = tokio::spawn(sweep(pool.clone(), sql.clone()));
    Ok(PostgresStore {
        pool,
        readers: Arc::new(ReadConnections::new(options, READERS)),
        cache,
        sql,
        timeout,
        _sweeper: Arc::new(Sweeper(sweeper)),
    })
}

/// Creates the schema and tables if missing, in one transaction under an advisory lock keyed by
/// the table: instances starting together take turns, instead of racing on PostgreSQL's
/// catalog (concurrent `create ... if not exists` can fail with a unique violation).
async fn migrate(pool: &PgPool, table: &SessionTable, sql: &Statements) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("sesame:{table}"))
        .execute(&mut *tx)
        .await?;
    // `create schema if not exists` needs the CREATE privilege on the database even when the
    // schema exists; an operator who made the schema for a less privileged role may not grant it.
    let schema_exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_namespace where nspname = $1)")
            .bind(table.schema())
            .fetch_one(&mut *tx)
            .await?;
    if !schema_exists {
        sqlx::query(&format!("create schema {}", table.quoted_schema()))
            .execute(&mut *tx)
            .await?;
    }
    for statement in &sql.migration {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Creates the read cache's trigger if missing (and its function, always, so a newer Sesame
/// updates it), under the migration's lock.
async fn notify_changes(pool: &PgPool, table: &SessionTable, sql: &Statements) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("sesame:{table}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&sql.notify_function).execute(&mut *tx).await?;
    let exists: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_trigger where tgname = $1 and tgrelid = $2::regclass)",
    )
    .bind(&sql.trigger_name)
    .bind(table.sessions())
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        sqlx::query(&sql.create_trigger).execute(&mut *tx).await?;
    }
    tx.commit().await
}

async fn sweep(pool: PgPool, sql: Arc<Statements>) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        ticks.tick().await;
        for statement in &sql.sweeps {
            let swept = sqlx::query(statement)
                .bind(OffsetDateTime::now_utc())
                .execute(&pool)
                .await;
            if let Err(err) = swept {
                tracing::warn!(error = %err, "deleting expired PostgreSQL rows failed");
            }
        }
    }
}

/// `url` with any password replaced by `***`: in the user info, or as a `password` parameter
/// (which sqlx also reads).
pub(crate) fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(unparseable URL)".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.contains("password") {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl PostgresStore {
    /// Runs one operation within the store's timeout: a server that stopped answering (not
    /// refusing, which fails at once) must not hold the request.
    pub(crate) async fn bounded<T>(
        &self,
        operation: impl Future<Output = sqlx::Result<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::Unavailable(format!("PostgreSQL: {err}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "PostgreSQL: no answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// Inserts a new session; on an ID collision (live or not yet swept) picks another ID,
    /// never overwriting someone else's session.
    pub(crate) async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data = encode(record)?;
            let done = self
                .bounded(
                    sqlx::query(&self.sql.insert_new)
                        .bind(record.id.to_string())
                        .bind(data)
                        .bind(record.expiry_date)
                        .execute(&self.pool),
                )
                .await
                .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates an existing session only: a request that finishes after a concurrent logout
    /// must not bring the deleted session back.
    pub(crate) async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        self.forget_cached(&record.id);
        let saved = self
            .bounded(
                sqlx::query(&self.sql.update_existing)
                    .bind(record.id.to_string())
                    .bind(data)
                    .bind(record.expiry_date)
                    .execute(&self.pool),
            )
            .await
            .map(|_| ())
            .map_err(backend);
        self.forget_cached(&record.id);
        saved
    }

    /// Drops session `id` from the read cache as this instance writes or deletes it: before,
    /// and again after, so a read racing the write cannot keep what it read.
    fn forget_cached(&self, id: &Id) {
        if let Some(cache) = &self.cache {
            cache.forget(id);
        }
    }

    /// How many sessions the read cache holds now (0 when it is off).
    pub fn read_cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |cache| cache.len())
    }

    /// Whether the read cache is on and serving (it pauses while its notices may not arrive).
    pub fn read_cache_serving(&self) -> bool {
        self.cache.as_ref().is_some_and(|cache| cache.serving())
    }

    /// The session, unless missing or expired (expired rows wait for the sweeper). From the
    /// read cache when it has the session.
    pub(crate) async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let ticket = match &self.cache {
            Some(cache) => match cache.get(id) {
                Some(record) => return Ok(Some(record)),
                None => Some(cache.ticket()),
            },
            None => None,
        };
        let record = self.read(id).await?;
        if let (Some(cache), Some(ticket), Some(record)) = (&self.cache, ticket, &record) {
            // A record under another ID (never written so by Sesame) is served, not kept.
            if record.id == *id {
                cache.keep(record, ticket);
            }
        }
        Ok(record)
    }

    /// Reads session `id` from the database.
    async fn read(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let id = id.to_string();
        let read = self.readers.read(|connection| {
            let (sql, id) = (self.sql.clone(), id.clone());
            Box::pin(async move {
                sqlx::query_as::<_, (Vec<u8>,)>(&sql.load)
                    .bind(id)
                    .bind(OffsetDateTime::now_utc())
                    .fetch_optional(connection)
                    .await
            })
        });
        let row = self.bounded(read).await.map_err(backend)?;
        row.map(|(data,)| {
            rmp_serde::from_slice(&data)
                .map_err(|err| session_store::Error::Decode(err.to_string()))
        })
        .transpose()
    }

    pub(crate) async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget_cached(id);
        let deleted = self
            .bounded(
                sqlx::query(&self.sql.delete)
                    .bind(id.to_string())
                    .execute(&self.pool),
            )
            .await
            .map(|_| ())
            .map_err(backend);
        self.forget_cached(id);
        deleted
    }

    /// See [`crate::SessionBackend::claim_once`]: one `insert ... on conflict` statement.
    pub(crate) async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let done = self
            .bounded(
                sqlx::query(&self.sql.claim)
                    .bind(key)
                    .bind(after(now, ttl))
                    .bind(now)
                    .execute(&self.pool),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(sqlx::query("select 1").execute(&self.pool))
            .await
            .map(|_| ())
    }
}

/// `now + ttl`, saturating far in the future rather than failing.
pub(crate) fn after(now: OffsetDateTime, ttl: Duration) -> OffsetDateTime {
    now.saturating_add(time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX))
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    rmp_serde::to_vec(record).map_err(|err| session_store::Error::Encode(err.to_string()))
}

fn backend(err: StoreError) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://app@db/app?password=hunter2"),
            "postgresql://app@db/app?password=***"
        );
        assert_eq!(redact("postgres://db/app"), "postgres://db/app");
    }
}
