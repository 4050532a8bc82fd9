//! Session reads on a few connections of their own, outside sqlx's pool.
//!
//! sqlx's pool pings every connection as it is returned (unconditionally, in 0.8): for SQLite a
//! second hand-off to the connection's worker thread per page view, for PostgreSQL a second
//! round trip to the server. A page view is one `select` by primary key, so reads go instead to
//! a few connections held here, each behind an async lock, opened when first needed. A
//! connection whose read fails or is abandoned midway (a timeout) is dropped, and a kept one
//! that fails is replaced and the read tried once more on the new one: it may have died while
//! idle (a server restart, a failover, an idle-connection reaper), which is no reason to fail a
//! page view. Writes stay on the pool.

use sqlx::{ConnectOptions as _, Connection};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Mutex;

/// A read on a borrowed connection, as [`ReadConnections::read`] takes it.
pub(crate) type Query<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// Connections kept for reads, each opened with the pool's options.
pub(crate) struct ReadConnections<C: Connection> {
    options: <C as Connection>::Options,
    connections: Vec<Mutex<Option<C>>>,
    next: AtomicUsize,
}

impl<C: Connection> std::fmt::Debug for ReadConnections<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadConnections")
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl<C: Connection> ReadConnections<C> {
    /// `count` connections (at least one) opened with `options` as first needed.
    pub(crate) fn new(options: <C as Connection>::Options, count: usize) -> Self {
        Self {
            options,
            connections: (0..count.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// `query` run on a read connection: a free one if there is one, else the next in turn
    /// when it is free, connecting first if that one has none.
    pub(crate) async fn read<T>(
        &self,
        query: impl for<'c> Fn(&'c mut C) -> Query<'c, T>,
    ) -> Result<T, sqlx::Error> {
        let free = self
            .connections
            .iter()
            .find_map(|slot| slot.try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
                self.connections[turn].lock().await
            }
        };
        // Out of the slot while in use: if this future is dropped midway, the connection (which
        // may hold half an answer) goes with it and the slot stays empty.
        let (mut connection, kept) = match slot.take() {
            Some(connection) => (connection, true),
            None => (self.options.connect().await?, false),
        };
        let mut result = query(&mut connection).await;
        if result.is_err() && kept {
            connection = self.options.connect().await?;
            result = query(&mut connection).await;
        }
        if result.is_ok() {
            *slot = Some(connection);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::SqliteConnection;
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr as _;

    fn readers() -> ReadConnections<SqliteConnection> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        ReadConnections::new(options, 1)
    }

    /// Runs `sql` on a read connection.
    async fn run(readers: &ReadConnections<SqliteConnection>, sql: &'static str) -> bool {
        let read = readers.read(|connection| Box::pin(sqlx::query(sql).execute(connection)));
        read.await.is_ok()
    }

    #[tokio::test]
    async fn a_connection_is_kept_after_a_read_and_a_failed_one_is_tried_again_fresh() {
        let readers = readers();
        assert!(run(&readers, "create temp table mark (x)").await);
        assert!(
            run(&readers, "select count(*) from temp.mark").await,
            "the same one again"
        );
        // Fails on the kept connection, then succeeds on a fresh one, which is kept.
        assert!(run(&readers, "create temp table mark (x)").await);
        assert!(run(&readers, "select count(*) from temp.mark").await);
        assert!(
            !run(&readers, "select nonsense from nowhere").await,
            "twice is enough"
        );
        assert!(
            !run(&readers, "select count(*) from temp.mark").await,
            "a new one"
        );
    }

    #[tokio::test]
    async fn a_read_abandoned_midway_leaves_a_fresh_connection_for_the_next() {
        let readers = readers();
        assert!(run(&readers, "create temp table mark (x)").await);
        let hang = readers.read(|_| Box::pin(std::future::pending::<Result<(), sqlx::Error>>()));
        let timeout = tokio::time::timeout(std::time::Duration::from_millis(50), hang).await;
        assert!(timeout.is_err());
        // Had the abandoned connection been kept, the mark would still be there.
        let check = readers.read(|connection| {
            Box::pin(
                sqlx::query_scalar::<_, i64>("select count(*) from temp.mark")
                    .fetch_one(connection),
            )
        });
        assert!(
            check.await.is_err(),
            "the abandoned connection was not kept"
        );
    }
}
