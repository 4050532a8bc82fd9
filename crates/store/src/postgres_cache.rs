//! The PostgreSQL store's local read cache: session records this instance read lately, kept true
//! by PostgreSQL itself.
//!
//! A page view reads its session: a round trip to the server each time, and on a machine that
//! also runs PostgreSQL, its CPU too. A row trigger on the session table (created with the
//! tables) calls `pg_notify` with the session's ID whenever any client updates or deletes a
//! row: another instance logging the user out, a touch, the sweeper. Every instance listens on
//! a connection of its own and drops the entry as the notice arrives.
//!
//! Notices only count if they arrive, so the cache serves only while it hears its own
//! heartbeat: every [`HEARTBEAT_INTERVAL`] it sends an empty notice through the pool, and when
//! none has come back for [`HEARTBEAT_TIMEOUT`] (a lost or hung listening connection, a server
//! that stopped answering) it stops serving and empties. The first heartbeat heard after that,
//! which proves the channel is listened to again, resumes it from empty. What it keeps, and why a
//! read racing a change is not kept, is [`crate::read_cache`]'s.
//!
//! Creating the trigger needs the right to create functions and triggers in the session
//! table's schema; without it Sesame runs without the cache and says so at start.

use crate::read_cache::{Meters, Records, Ticket};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tower_sessions::session::{Id, Record};

/// How often the heartbeat is sent.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);
/// How long the cache serves without hearing a heartbeat: a notice sent this long ago should
/// have arrived.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long to wait before listening again after the listening connection failed.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Session reads the cache answered (`result="hit"`) or passed to PostgreSQL (`result="miss"`,
/// which includes every read while it is paused).
pub const POSTGRES_READ_CACHE_READS_TOTAL: &str = "sesame_postgres_read_cache_reads_total";
/// Times the cache paused (and emptied) because change notices might have been missed.
pub const POSTGRES_READ_CACHE_PAUSES_TOTAL: &str = "sesame_postgres_read_cache_pauses_total";

const METERS: Meters = Meters {
    reads: POSTGRES_READ_CACHE_READS_TOTAL,
    pauses: POSTGRES_READ_CACHE_PAUSES_TOTAL,
    store: "postgres",
};

/// Session records read lately, by session ID.
pub(crate) struct ReadCache {
    records: Records,
    /// The notification channel the trigger notifies on.
    channel: String,
    /// When the last heartbeat came back.
    last_heard: Mutex<Instant>,
    /// The listening and heartbeat tasks, stopped when the cache is dropped: the listener holds
    /// a connection, which must not outlive the store.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("channel", &self.channel)
            .field("sessions", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl Drop for ReadCache {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

/// The channel the trigger of the session table `name` notifies on. Tables of the same name in
/// two schemas share it; each then also drops the other's sessions, which costs a read, never
/// a stale page. PostgreSQL allows 63 bytes.
pub(crate) fn channel(table_name: &str) -> String {
    let mut channel = format!("sesame_changed_{table_name}");
    let mut end = channel.len().min(63);
    while !channel.is_char_boundary(end) {
        end -= 1;
    }
    channel.truncate(end);
    channel
}

impl ReadCache {
    /// Listens on `channel` on a connection of its own (made from `options`, outside `pool`,
    /// which sends the heartbeat) and starts the heartbeat; the cache serves once the first
    /// heartbeat is heard. `None` (with a warning) if listening fails.
    pub(crate) async fn start(
        options: PgConnectOptions,
        pool: &PgPool,
        channel: String,
        capacity: usize,
    ) -> Option<Arc<Self>> {
        // sqlx's listener holds a pooled connection for good and reconnects through the pool:
        // a pool of one keeps it from taking one of the store's.
        let listening_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(HEARTBEAT_TIMEOUT * 3)
            .connect_lazy_with(options);
        let listening = async {
            let mut listener = PgListener::connect_with(&listening_pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let listener = match tokio::time::timeout(HEARTBEAT_TIMEOUT * 3, listening).await {
            Ok(Ok(listener)) => listener,
            Ok(Err(err)) => {
                tracing::warn!(reason = %err, "the PostgreSQL read cache is off: LISTEN failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("the PostgreSQL read cache is off: LISTEN did not answer in time");
                return None;
            }
        };
        let cache = Arc::new(Self {
            records: Records::new(capacity, METERS),
            channel,
            last_heard: Mutex::new(Instant::now()),
            tasks: Mutex::new(Vec::new()),
        });
        let tasks = [
            tokio::spawn(listen(Arc::downgrade(&cache), listener)),
            tokio::spawn(heartbeat(Arc::downgrade(&cache), pool.clone())),
        ];
        cache
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tasks);
        Some(cache)
    }

    /// The record of session `id`, if it was read lately and nothing has changed it since.
    pub(crate) fn get(&self, id: &Id) -> Option<Record> {
        self.records.get(id)
    }

    /// The ticket for a read about to begin.
    pub(crate) fn ticket(&self) -> Ticket {
        self.records.ticket()
    }

    /// Keeps `record`, read under `ticket`, unless something changed since the read began.
    pub(crate) fn keep(&self, record: &Record, ticket: Ticket) {
        self.records.keep(record, ticket);
    }

    /// Drops session `id` now, as this instance writes or deletes it: its own next view must
    /// not wait for the notice to come back.
    pub(crate) fn forget(&self, id: &Id) {
        self.records.forget([id]);
    }

    /// How many sessions are kept now (for tests and the benchmark).
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the cache serves now (for tests).
    pub(crate) fn serving(&self) -> bool {
        self.records.serving()
    }

    fn since_heard(&self) -> Duration {
        self.last_heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// A heartbeat came back: the channel is listened to, so the cache may serve.
    fn heard(&self) {
        *self.last_heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        if !self.records.serving() {
            self.records.resume();
            tracing::info!("PostgreSQL read cache serving");
        }
    }
}

/// Applies each notice as it arrives. A lost connection pauses the cache; sqlx reconnects and
/// listens again on the next receive, and the next heartbeat heard resumes it.
async fn listen(cache: Weak<ReadCache>, mut listener: PgListener) {
    loop {
        let received = listener.try_recv().await;
        let Some(cache) = cache.upgrade() else { return };
        match received {
            Ok(Some(notice)) if notice.payload().is_empty() => cache.heard(),
            Ok(Some(notice)) => match notice.payload().parse::<Id>() {
                Ok(id) => cache.records.forget([&id]),
                Err(_) => cache.records.forget_all(),
            },
            Ok(None) => cache.records.stop("the listening connection was lost"),
            Err(_) => {
                cache.records.stop("the listening connection failed");
                drop(cache);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Sends the heartbeat, and pauses the cache when the last one heard is too old.
async fn heartbeat(cache: Weak<ReadCache>, pool: PgPool) {
    let mut ticks = tokio::time::interval(HEARTBEAT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(cache) = cache.upgrade() else { return };
        if cache.records.serving() && cache.since_heard() > HEARTBEAT_TIMEOUT {
            cache.records.stop("no heartbeat came back in time");
        }
        let channel = cache.channel.clone();
        drop(cache);
        // A failure shows as a heartbeat that does not come back.
        let sent = sqlx::query("select pg_notify($1, '')")
            .bind(channel)
            .execute(&pool);
        let _ = tokio::time::timeout(HEARTBEAT_TIMEOUT, sent).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_fit_postgres_and_name_the_table() {
        assert_eq!(channel("sessions"), "sesame_changed_sessions");
        let long = "t".repeat(63);
        assert_eq!(channel(&long).len(), 63);
        assert!(channel(&long).starts_with("sesame_changed_ttt"));
    }
}
