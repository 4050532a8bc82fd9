//! SQLite session reads on connections of their own ([`crate::readers`]), outside sqlx's pool,
//! in batches.
//!
//! Every sqlx SQLite connection is a worker thread, and every query a hand-off to it and back:
//! futex waits and context switches were half the CPU of a SQLite page view. The pool's ping on
//! release was a second hand-off per page view for a local file that cannot have gone away;
//! reads here make none of that. And they share the hand-off: a reader takes every read waiting
//! for it (up to [`BATCH_MAX`]) into one `select … where id in (…)`, so under load one trip to
//! the worker thread serves many page views, and a lone read still goes at once.
//!
//! The schema and encoding are `tower_sessions_sqlx_store`'s, which still creates and deletes.

use crate::readers::ReadConnections;
use async_trait::async_trait;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::SqliteStore;

/// Readers, each with a connection: two keep both cores busy without a queue at every read, and
/// each connection costs a thread and a small page cache.
const READERS: usize = 2;

/// Each reader's page cache (SQLite's `cache_size`, in KiB when negative), larger than the
/// pool's: a lookup walks the table's interior pages, about 4 MB of them at 100,000 sessions,
/// and a batch walks them once per session it asks for. Filled only as the file grows.
const READER_CACHE_SIZE: &str = "-8192";

/// Sessions one `select` asks for at most.
const BATCH_MAX: usize = 64;

/// The batch `select`s by the number of IDs, in powers of two up to [`BATCH_MAX`] (a batch is
/// padded by repeating an ID), so that sqlx prepares and caches seven statements, not sixty-four.
static BATCH_SELECTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::successors(Some(1), |n| (n * 2 <= BATCH_MAX).then_some(n * 2))
        .map(|n| {
            let ids = vec!["?"; n].join(", ");
            format!("select id, data from tower_sessions where expiry_date > ? and id in ({ids})")
        })
        .collect()
});

/// A read waiting for a reader: the session's ID, and where its record's bytes go.
struct Wanted {
    id: String,
    answer: oneshot::Sender<Answer>,
}

/// The record's bytes (`None`: no such unexpired session), or why the read failed.
type Answer = Result<Option<Vec<u8>>, String>;

/// The SQLite session store: the upstream store for create and delete, reads in batches on
/// connections of their own. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteSessions {
    store: SqliteStore,
    pool: SqlitePool,
    /// To the readers, which end once every clone of this is gone.
    wanted: mpsc::UnboundedSender<Wanted>,
}

impl SqliteSessions {
    /// Reads with `options` (the pool's), on connections opened as first needed. Starts the
    /// readers, so it must be called within a Tokio runtime.
    pub(crate) fn new(store: SqliteStore, pool: SqlitePool, options: SqliteConnectOptions) -> Self {
        let (wanted, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(waiting));
        let options = options.pragma("cache_size", READER_CACHE_SIZE);
        for _ in 0..READERS {
            let connection = ReadConnections::new(options.clone(), 1);
            tokio::spawn(read_in_batches(waiting.clone(), connection));
        }
        Self {
            store,
            pool,
            wanted,
        }
    }

    /// The record's bytes, if the session exists and has not expired.
    async fn read(&self, id: &Id) -> Answer {
        let (answer, answered) = oneshot::channel();
        let wanted = Wanted {
            id: id.to_string(),
            answer,
        };
        let gone = || "the SQLite readers have stopped".to_owned();
        self.wanted.send(wanted).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
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
        let data = self.read(id).await.map_err(session_store::Error::Backend)?;
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

/// One reader: takes every read waiting (the next reader waits for the reads that come in
/// meanwhile) and answers them with one `select`, until every sender is gone.
async fn read_in_batches(
    waiting: Arc<Mutex<mpsc::UnboundedReceiver<Wanted>>>,
    connection: ReadConnections<SqliteConnection>,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        let taken = waiting.lock().await.recv_many(&mut batch, BATCH_MAX).await;
        if taken == 0 {
            return;
        }
        answer_batch(&connection, &mut batch).await;
    }
}

/// Reads the sessions `batch` wants in one `select` and answers each (emptying `batch`).
async fn answer_batch(connection: &ReadConnections<SqliteConnection>, batch: &mut Vec<Wanted>) {
    // A read whose page view was abandoned (a timeout) needs no answer.
    batch.retain(|wanted| !wanted.answer.is_closed());
    let mut ids: Vec<String> = batch.iter().map(|wanted| wanted.id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(padding) = ids.last().cloned() else {
        return;
    };
    let width = ids.len().next_power_of_two();
    ids.resize(width, padding);
    let select: &'static str = &BATCH_SELECTS[width.trailing_zeros() as usize];
    let rows = connection
        .read(|connection| {
            let mut query =
                sqlx::query_as::<_, (String, Vec<u8>)>(select).bind(OffsetDateTime::now_utc());
            for id in &ids {
                query = query.bind(id.clone());
            }
            Box::pin(query.fetch_all(connection))
        })
        .await;
    match rows {
        Ok(rows) => {
            let found: HashMap<String, Vec<u8>> = rows.into_iter().collect();
            for wanted in batch.drain(..) {
                let _ = wanted.answer.send(Ok(found.get(&wanted.id).cloned()));
            }
        }
        Err(err) => {
            let reason = err.to_string();
            for wanted in batch.drain(..) {
                let _ = wanted.answer.send(Err(reason.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    /// A reader's connection to a private in-memory database holding `rows` (ID, data, expiry
    /// in seconds from now).
    async fn reader_with(rows: &[(&str, &[u8], i64)]) -> ReadConnections<SqliteConnection> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let connection = ReadConnections::new(options, 1);
        let rows: Vec<(String, Vec<u8>, OffsetDateTime)> = rows
            .iter()
            .map(|(id, data, expires_in)| {
                let expiry = OffsetDateTime::now_utc() + time::Duration::seconds(*expires_in);
                (id.to_string(), data.to_vec(), expiry)
            })
            .collect();
        let created = connection.read(|connection| {
            let rows = rows.clone();
            Box::pin(async move {
                sqlx::query(
                    "create table tower_sessions \
                     (id text primary key, data blob not null, expiry_date integer not null)",
                )
                .execute(&mut *connection)
                .await?;
                for (id, data, expiry) in rows {
                    sqlx::query("insert into tower_sessions values (?, ?, ?)")
                        .bind(id)
                        .bind(data)
                        .bind(expiry)
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        });
        created.await.unwrap();
        connection
    }

    fn wanted(id: &str) -> (Wanted, oneshot::Receiver<Answer>) {
        let (answer, answered) = oneshot::channel();
        let id = id.to_owned();
        (Wanted { id, answer }, answered)
    }

    #[tokio::test]
    async fn one_select_answers_every_read_of_a_batch_with_its_own_session() {
        let connection = reader_with(&[("a", b"A", 60), ("b", b"B", 60), ("old", b"O", -1)]).await;
        // Duplicates, a miss, an expired session, and a count that is not a power of two.
        let ids = ["b", "a", "missing", "b", "old", "a", "b"];
        let (mut batch, answers): (Vec<_>, Vec<_>) = ids.iter().map(|id| wanted(id)).unzip();
        let (abandoned, gone) = wanted("a");
        drop(gone);
        batch.push(abandoned);
        answer_batch(&connection, &mut batch).await;
        assert!(batch.is_empty());
        for (id, answered) in ids.iter().zip(answers) {
            let expected = match *id {
                "a" => Some(b"A".to_vec()),
                "b" => Some(b"B".to_vec()),
                _ => None,
            };
            assert_eq!(answered.await.unwrap(), Ok(expected), "{id}");
        }
    }

    #[tokio::test]
    async fn a_failed_select_is_every_reads_error() {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let connection = ReadConnections::new(options, 1); // no table: the select fails
        let (mut batch, answers): (Vec<_>, Vec<_>) = ["a", "b"].iter().map(|id| wanted(id)).unzip();
        answer_batch(&connection, &mut batch).await;
        for answered in answers {
            let error = answered.await.unwrap().unwrap_err();
            assert!(error.contains("no such table"), "{error}");
        }
    }

    #[test]
    fn the_selects_ask_for_one_to_sixty_four_sessions() {
        let widths: Vec<usize> = BATCH_SELECTS
            .iter()
            .map(|sql| sql.matches('?').count() - 1)
            .collect();
        assert_eq!(widths, [1, 2, 4, 8, 16, 32, 64]);
    }
}
