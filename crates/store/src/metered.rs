//! [`MeteredStore`]: the [`SessionBackend`] with every call timed and its failures counted,
//! through the `metrics` facade (nothing is recorded until the application installs a recorder).
//!
//! A wrapper rather than code in each backend's match arms: every backend, including ones added
//! later, is measured the same way, and the backends stay free of bookkeeping. Labels are static
//! strings (the backend's name and the operation's), so a store call costs one histogram record
//! and, on failure, one counter increment; never a session ID, key or user in a label.

use crate::{SessionBackend, StoreError, StoreKind, StoredTokens};
use async_trait::async_trait;
use std::future::Future;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// Seconds one store operation took, by backend and operation.
pub const STORE_OPERATION_SECONDS: &str = "sesame_store_operation_seconds";
/// Store operations that failed (an error or a timeout), by backend and operation.
pub const STORE_ERRORS_TOTAL: &str = "sesame_store_errors_total";
/// Sessions the store holds, where it can say cheaply, by backend.
pub const ACTIVE_SESSIONS: &str = "sesame_active_sessions";

/// Gives the HELP text of this crate's metrics to the installed recorder. Call once at start,
/// after installing it (calls before are lost, as every record is without a recorder).
pub fn describe_metrics() {
    metrics::describe_histogram!(
        STORE_OPERATION_SECONDS,
        metrics::Unit::Seconds,
        "Time one session store operation took, by backend and operation."
    );
    metrics::describe_counter!(
        STORE_ERRORS_TOTAL,
        "Session store operations that failed or timed out, by backend and operation."
    );
    metrics::describe_counter!(
        crate::READ_CACHE_READS_TOTAL,
        "Session reads the Redis read cache answered (result=hit) or passed to Redis (miss)."
    );
    metrics::describe_counter!(
        crate::READ_CACHE_PAUSES_TOTAL,
        "Times the Redis read cache paused and emptied itself because its connection failed, \
         reconnected or missed a ping."
    );
    metrics::describe_counter!(
        crate::POSTGRES_READ_CACHE_READS_TOTAL,
        "Session reads the PostgreSQL read cache answered (result=hit) or passed to PostgreSQL \
         (miss)."
    );
    metrics::describe_counter!(
        crate::POSTGRES_READ_CACHE_PAUSES_TOTAL,
        "Times the PostgreSQL read cache paused and emptied itself because its listening \
         connection was lost or its heartbeat did not come back in time."
    );
    metrics::describe_gauge!(
        ACTIVE_SESSIONS,
        "Sessions the store holds (memory: this instance's, expired ones until the next sweep; \
         sqlite: unexpired rows). Not reported for redis."
    );
}

/// The session store, measured. Cheap to clone, like the backend it wraps.
#[derive(Debug, Clone)]
pub struct MeteredStore {
    inner: SessionBackend,
    /// The backend's name, the `backend` label of every record.
    backend: &'static str,
}

impl MeteredStore {
    /// Measures `inner`.
    pub fn new(inner: SessionBackend) -> Self {
        let backend = inner.kind().as_str();
        Self { inner, backend }
    }

    /// The backend, unmeasured (for what needs no record, or a test).
    pub fn backend(&self) -> &SessionBackend {
        &self.inner
    }

    /// Which backend this is.
    pub fn kind(&self) -> StoreKind {
        self.inner.kind()
    }

    /// Times `call` as `operation`, and counts it as an error when it fails.
    async fn timed<T, E>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        self.record(operation, started.elapsed(), result.is_ok());
        result
    }

    fn record(&self, operation: &'static str, took: Duration, ok: bool) {
        let labels = [("backend", self.backend), ("operation", operation)];
        metrics::histogram!(STORE_OPERATION_SECONDS, &labels).record(took.as_secs_f64());
        if !ok {
            metrics::counter!(STORE_ERRORS_TOTAL, &labels).increment(1);
        }
    }

    /// See [`SessionBackend::claim_once`].
    pub async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.timed("claim", self.inner.claim_once(key, ttl)).await
    }

    /// See [`SessionBackend::ping`]; `/readyz` asks it.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }

    /// See [`SessionBackend::load_tokens`].
    pub async fn load_tokens(&self, id: &Id) -> Result<Option<StoredTokens>, StoreError> {
        self.timed("load_tokens", self.inner.load_tokens(id)).await
    }

    /// See [`SessionBackend::put_tokens`].
    pub async fn put_tokens(
        &self,
        id: &Id,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let call = self.inner.put_tokens(id, sealed, expires);
        self.timed("put_tokens", call).await
    }

    /// See [`SessionBackend::replace_tokens`].
    pub async fn replace_tokens(
        &self,
        id: &Id,
        expected_version: u64,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let call = self
            .inner
            .replace_tokens(id, expected_version, sealed, expires);
        self.timed("replace_tokens", call).await
    }

    /// See [`SessionBackend::delete_tokens`].
    pub async fn delete_tokens(&self, id: &Id) -> Result<(), StoreError> {
        self.timed("delete_tokens", self.inner.delete_tokens(id))
            .await
    }

    /// See [`SessionBackend::acquire_lease`].
    pub async fn acquire_lease(
        &self,
        id: &Id,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let call = self.inner.acquire_lease(id, holder, ttl);
        self.timed("acquire_lease", call).await
    }

    /// See [`SessionBackend::release_lease`].
    pub async fn release_lease(&self, id: &Id, holder: &str) -> Result<(), StoreError> {
        let call = self.inner.release_lease(id, holder);
        self.timed("release_lease", call).await
    }

    /// See [`SessionBackend::index_session`].
    pub async fn index_session(
        &self,
        key: &str,
        id: &Id,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let call = self.inner.index_session(key, id, expires);
        self.timed("index_session", call).await
    }

    /// See [`SessionBackend::indexed_sessions`].
    pub async fn indexed_sessions(&self, key: &str) -> Result<Vec<Id>, StoreError> {
        self.timed("indexed_sessions", self.inner.indexed_sessions(key))
            .await
    }

    /// See [`SessionBackend::unindex_session`].
    pub async fn unindex_session(&self, key: &str, id: &Id) -> Result<(), StoreError> {
        let call = self.inner.unindex_session(key, id);
        self.timed("unindex_session", call).await
    }

    /// How many sessions the store holds, where that is cheap to learn: memory counts its map,
    /// SQLite counts unexpired rows (one indexed query; call it at scrape time, not per
    /// request). `None` for Redis, whose keyspace would have to be scanned (its sessions are
    /// plain keys beside others), and for any backend that cannot say. Sets the
    /// `sesame_active_sessions` gauge too.
    pub async fn active_sessions(&self) -> Option<u64> {
        let count = match &self.inner {
            SessionBackend::Memory(store) => u64::try_from(store.len()).ok(),
            SessionBackend::Sqlite(_, pool) => {
                let query = "select count(*) from tower_sessions where expiry_date > ?";
                let counted = sqlx::query_scalar::<_, i64>(query)
                    .bind(OffsetDateTime::now_utc())
                    .fetch_one(pool);
                match self.timed("count", counted).await {
                    Ok(count) => u64::try_from(count).ok(),
                    Err(err) => {
                        tracing::warn!(error = ?err.to_string(), "counting the sessions failed");
                        None
                    }
                }
            }
            _ => None,
        }?;
        // A gauge holds f64; session counts stay far below 2^53.
        metrics::gauge!(ACTIVE_SESSIONS, "backend" => self.backend).set(count as f64);
        Some(count)
    }
}

#[async_trait]
impl SessionStore for MeteredStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.timed("create", self.inner.create(record)).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.timed("save", self.inner.save(record)).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.timed("load", self.inner.load(id)).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.timed("delete", self.inner.delete(id)).await
    }
}
