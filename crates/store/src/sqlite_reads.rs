//! SQLite session reads on connections of their own, outside sqlx's pool.
//!
//! Every sqlx SQLite connection is a worker thread, and every query a hand-off to it and back;
//! a profile of a SQLite page view showed futex waits and context switches as half its CPU.
//! sqlx's pool then pings each connection as it is returned (unconditionally, in 0.8), a
//! second hand-off per page view for a local file that cannot have gone away. Reads (one
//! `select` by primary key) go instead to a couple of connections held here, each behind an
//! async lock: one hand-off per read. Writes stay on the pool.
//!
//! The schema and encoding are `tower_sessions_sqlx_store`'s, which still creates and deletes.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, SqliteConnection, SqlitePool};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::SqliteStore;

/// Connections for reads: two keep both cores busy without a queue at every read, and each
/// costs a thread and a small page cache.
const READERS: usize = 2;

/// The SQLite session store: the upstream store for create and delete, reads on connections of
/// their own. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteSessions {
    store: SqliteStore,
    pool: SqlitePool,
    readers: Arc<Readers>,
}

struct Readers {
    options: SqliteConnectOptions,
    connections: Vec<Mutex<Option<SqliteConnection>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl SqliteSessions {
    /// Reads with `options` (the pool's), on connections opened as first needed.
    pub(crate) fn new(store: SqliteStore, pool: SqlitePool, options: SqliteConnectOptions) -> Self {
        Self {
            store,
            pool,
            readers: Arc::new(Readers {
                options,
                connections: (0..READERS).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            }),
        }
    }

    async fn read(&self, id: &Id) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let readers = &self.readers;
        // A free connection if there is one, else wait in turn for the next.
        let mut slot = match readers
            .connections
            .iter()
            .find_map(|slot| slot.try_lock().ok())
        {
            Some(slot) => slot,
            None => {
                let turn = readers.next.fetch_add(1, Ordering::Relaxed) % readers.connections.len();
                readers.connections[turn].lock().await
            }
        };
        let connection = match &mut *slot {
            Some(connection) => connection,
            empty => empty.insert(readers.options.connect().await?),
        };
        let read = sqlx::query_as::<_, (Vec<u8>,)>(
            "select data from tower_sessions where id = ? and expiry_date > ?",
        )
        .bind(id.to_string())
        .bind(OffsetDateTime::now_utc())
        .fetch_optional(&mut *connection)
        .await;
        if read.is_err() {
            // Whatever broke, the next read starts on a fresh connection.
            *slot = None;
        }
        Ok(read?.map(|(data,)| data))
    }
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await
    }

    /// Updates only (see [`crate::sqlite::save_existing`]).
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        crate::sqlite::save_existing(&self.pool, record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let data = self
            .read(id)
            .await
            .map_err(|err| session_store::Error::Backend(err.to_string()))?;
        data.map(|bytes| {
            rmp_serde::from_slice(&bytes)
                .map_err(|err| session_store::Error::Decode(err.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete(id).await
    }
}
