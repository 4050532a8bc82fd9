//! SQLite session reads on connections of their own ([`crate::readers`]), outside sqlx's pool.
//!
//! Every sqlx SQLite connection is a worker thread, and every query a hand-off to it and back;
//! a profile of a SQLite page view showed futex waits and context switches as half its CPU.
//! The pool's ping on release was a second hand-off per page view for a local file that cannot
//! have gone away; reads here make one.
//!
//! The schema and encoding are `tower_sessions_sqlx_store`'s, which still creates and deletes.

use crate::readers::ReadConnections;
use async_trait::async_trait;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{SqliteConnection, SqlitePool};
use std::sync::Arc;
use time::OffsetDateTime;
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
    readers: Arc<ReadConnections<SqliteConnection>>,
}

impl SqliteSessions {
    /// Reads with `options` (the pool's), on connections opened as first needed.
    pub(crate) fn new(store: SqliteStore, pool: SqlitePool, options: SqliteConnectOptions) -> Self {
        Self {
            store,
            pool,
            readers: Arc::new(ReadConnections::new(options, READERS)),
        }
    }

    async fn read(&self, id: &Id) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let id = id.to_string();
        let read = self.readers.read(|connection| {
            Box::pin(
                sqlx::query_as::<_, (Vec<u8>,)>(
                    "select data from tower_sessions where id = ? and expiry_date > ?",
                )
                .bind(id.clone())
                .bind(OffsetDateTime::now_utc())
                .fetch_optional(connection),
            )
        });
        Ok(read.await?.map(|(data,)| data))
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
