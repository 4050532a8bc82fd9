//! The Redis store's local read cache: session records this instance read lately, kept true by
//! Redis itself.
//!
//! A page view reads its session; with Redis that is a network round trip each time, most of
//! what a logged-in view costs. The records are read on a dedicated RESP3 connection with
//! `CLIENT TRACKING` on, so Redis remembers which keys this connection read and pushes an
//! invalidation on that same connection the moment any client (another instance logging the
//! user out, a touch, an expiry) changes or deletes one; the entry is dropped as it arrives.
//! A second read of a session is then served from memory until it changes.
//!
//! Staleness is what a cache of sessions must never add, so it stops serving (and empties)
//! whenever it cannot be sure invalidations still arrive: the connection dropped or reconnected
//! (after a failover too, where the new master knows nothing of this client), the connection
//! failed a liveness ping, or invalidations were lost in a lagging channel. It serves again
//! only once tracking is switched back on. A read racing an invalidation never caches what it
//! read ([`Ticket`]). Entries are also dropped after [`MAX_AGE`] whatever happens, and at most
//! `capacity` sessions are kept.
//!
//! Pooled connections cannot track (the invalidations would arrive on whichever connection
//! read), hence the client of its own. It needs Redis 6 or later and permission for `HELLO 3`
//! and `CLIENT TRACKING`; without them Sesame runs without the cache and says so at start.

use crate::StoreError;
use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, KeysInterface, TrackingInterface};
use fred::types::config::Config;
use fred::types::{Builder, RespVersion};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::session::{Id, Record};

/// An entry older than this is read again even if no invalidation came. It bounds what no
/// invalidation reports: fred 10 drops the keyless invalidation Redis sends for `FLUSHALL` and
/// `FLUSHDB`, so a flushed session is served at most this long; and anything else that fails
/// unseen. Still, a busy session is read from Redis once in thousands of views.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5);

/// How often the tracking connection is pinged, and how long the answer may take: a connection
/// that hangs without closing would also stop delivering invalidations, so a hung Redis or a cut
/// link pauses the cache within the two together.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(250);
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Room for invalidations not yet applied; past it they are lost, and the cache starts over.
/// fred gives all nine of a client's event channels this capacity, preallocated: 16,384 cost
/// 15 MB of RSS, while the task applying them keeps up with far fewer.
const INVALIDATION_BACKLOG: usize = 512;

/// Session reads the cache answered (`result="hit"`) or passed to Redis (`result="miss"`, which
/// includes every read while it is paused).
pub const READ_CACHE_READS_TOTAL: &str = "sesame_redis_read_cache_reads_total";
/// Times the cache paused (and emptied) because invalidations might have been missed.
pub const READ_CACHE_PAUSES_TOTAL: &str = "sesame_redis_read_cache_pauses_total";

/// Session records read lately, by session ID. Cheap to share (`Arc`).
pub(crate) struct ReadCache {
    client: Client,
    /// What goes before a session ID in its key (`prefix{` with a prefix), to map the keys in
    /// invalidations back to IDs.
    key_start: String,
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    /// Whether invalidations are known to arrive: tracking is on and the connection is live.
    serving: bool,
    /// Moves on every invalidation, flush and local write: a read that began at another epoch
    /// may have raced one, so what it read is not kept.
    epoch: u64,
    entries: HashMap<Id, Entry>,
}

struct Entry {
    record: Record,
    read_at: Instant,
}

/// Taken before a read, handed back to [`ReadCache::keep`]: the epoch the read began in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl ReadCache {
    /// Connects the tracking client to `url` and starts tracking; `Ok(None)` (with a warning in
    /// the log) when this Redis cannot track, so the store runs uncached rather than not at all.
    pub(crate) async fn connect(
        url: &str,
        operation_timeout: Duration,
        prefix: &str,
        capacity: usize,
    ) -> Result<Option<Arc<Self>>, StoreError> {
        let mut config =
            Config::from_url(url).map_err(|err| StoreError::InvalidRedisUrl(err.to_string()))?;
        config.version = RespVersion::RESP3;
        let mut builder = crate::redis::bounded(Builder::from_config(config), operation_timeout);
        builder.with_performance_config(|performance| {
            performance.broadcast_channel_capacity = INVALIDATION_BACKLOG;
        });
        let client = builder
            .build()
            .map_err(|err| StoreError::InvalidRedisUrl(err.to_string()))?;
        let cache = Arc::new(Self {
            key_start: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}{{")
            },
            client,
            capacity,
            state: Mutex::new(State {
                serving: false,
                epoch: 0,
                entries: HashMap::new(),
            }),
        });
        // Listen before anything is tracked, so no invalidation can go by unheard.
        let invalidations = cache.client.invalidation_rx();
        let mut reconnects = cache.client.reconnect_rx();
        let errors = cache.client.error_rx();
        let started = async {
            cache.client.init().await?;
            cache.track().await
        };
        match tokio::time::timeout(operation_timeout * 3, started).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(
                    reason = %err,
                    "the Redis read cache is off: this Redis cannot track reads for it (it needs \
                     Redis 6 or later, and permission for HELLO 3 and CLIENT TRACKING)"
                );
                let _ = cache.client.quit().await;
                return Ok(None);
            }
            Err(_) => {
                tracing::warn!("the Redis read cache is off: its connection did not start in time");
                let _ = cache.client.quit().await;
                return Ok(None);
            }
        }
        // The first connection announced itself as a reconnect; tracking is on for it already.
        while reconnects.try_recv().is_ok() {}
        tokio::spawn(apply_invalidations(Arc::downgrade(&cache), invalidations));
        tokio::spawn(watch_connection(Arc::downgrade(&cache), reconnects, errors));
        Ok(Some(cache))
    }

    /// Switches tracking on (again) and, once Redis agreed, serves from a fresh start.
    async fn track(&self) -> Result<(), fred::error::Error> {
        self.client
            .start_tracking(Vec::<String>::new(), false, false, false, false)
            .await?;
        let mut state = self.lock();
        state.epoch += 1;
        state.entries.clear();
        state.serving = true;
        Ok(())
    }

    /// Stops serving and forgets everything until tracking is known to be on again.
    fn stop(&self, why: &str) {
        let mut state = self.lock();
        if state.serving {
            metrics::counter!(READ_CACHE_PAUSES_TOTAL).increment(1);
            tracing::warn!(
                why,
                "Redis read cache paused: sessions are read from Redis until it resumes"
            );
        }
        state.serving = false;
        state.epoch += 1;
        state.entries.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic mid-update; starting over is always safe for a cache.
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut state = poisoned.into_inner();
            state.entries.clear();
            state.epoch += 1;
            state
        })
    }

    /// The record of session `id`, if it was read lately and nothing has changed it since.
    pub(crate) fn get(&self, id: &Id) -> Option<Record> {
        let found = {
            let state = self.lock();
            state
                .entries
                .get(id)
                .filter(|entry| {
                    state.serving
                        && entry.read_at.elapsed() < MAX_AGE
                        && entry.record.expiry_date > OffsetDateTime::now_utc()
                })
                .map(|entry| entry.record.clone())
        };
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!(READ_CACHE_READS_TOTAL, "result" => result).increment(1);
        found
    }

    /// Reads `key` on the tracking connection (so Redis tracks it for this cache), with the
    /// ticket to [`keep`](Self::keep) what was read.
    pub(crate) async fn read(
        &self,
        key: String,
    ) -> Result<(Option<Vec<u8>>, Ticket), fred::error::Error> {
        let ticket = Ticket(self.lock().epoch);
        let value = self.client.get(key).await?;
        Ok((value, ticket))
    }

    /// Keeps `record`, read under `ticket`, unless something changed since the read began.
    pub(crate) fn keep(&self, record: &Record, ticket: Ticket) {
        let mut state = self.lock();
        if !state.serving || state.epoch != ticket.0 {
            return;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&record.id) {
            // Full: make room by dropping an arbitrary entry; a busy one comes back on its
            // next view.
            let Some(victim) = state.entries.keys().next().copied() else {
                return;
            };
            state.entries.remove(&victim);
        }
        state.entries.insert(
            record.id,
            Entry {
                record: record.clone(),
                read_at: Instant::now(),
            },
        );
    }

    /// Drops session `id` now, as this instance writes or deletes it: its own next view must
    /// not wait for Redis's invalidation to come back.
    pub(crate) fn forget(&self, id: &Id) {
        let mut state = self.lock();
        state.epoch += 1;
        state.entries.remove(id);
    }

    /// The session ID in a key Redis invalidated, when it is a session's key.
    fn session_id(&self, key: &[u8]) -> Option<Id> {
        let key = std::str::from_utf8(key).ok()?;
        let id = if self.key_start.is_empty() {
            key
        } else {
            key.strip_prefix(&self.key_start)?.strip_suffix('}')?
        };
        id.parse().ok()
    }

    /// How many sessions are kept now (for tests and the benchmark).
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Drops each invalidated session as Redis reports it; an invalidation without keys (should fred
/// ever pass Redis's flush notice on) or a lost one empties the cache.
async fn apply_invalidations(
    cache: std::sync::Weak<ReadCache>,
    mut invalidations: tokio::sync::broadcast::Receiver<fred::types::client::Invalidation>,
) {
    loop {
        let received = invalidations.recv().await;
        let Some(cache) = cache.upgrade() else { return };
        match received {
            Ok(invalidation) if invalidation.keys.is_empty() => {
                let mut state = cache.lock();
                state.epoch += 1;
                state.entries.clear();
            }
            Ok(invalidation) => {
                let ids: Vec<Id> = invalidation
                    .keys
                    .iter()
                    .filter_map(|key| cache.session_id(key.as_bytes()))
                    .collect();
                let mut state = cache.lock();
                state.epoch += 1;
                for id in &ids {
                    state.entries.remove(id);
                }
            }
            Err(RecvError::Lagged(_)) => {
                let mut state = cache.lock();
                state.epoch += 1;
                state.entries.clear();
            }
            Err(RecvError::Closed) => {
                cache.stop("the invalidation channel closed");
                return;
            }
        }
    }
}

/// Pauses the cache whenever the tracking connection may have missed an invalidation (an
/// error, a reconnect: a new connection is not tracked, a failover's new master never was, or
/// a failed liveness ping), and resumes it once tracking is switched on again.
async fn watch_connection(
    cache: std::sync::Weak<ReadCache>,
    mut reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
    mut errors: tokio::sync::broadcast::Receiver<(
        fred::error::Error,
        Option<fred::types::config::Server>,
    )>,
) {
    let mut liveness = tokio::time::interval(LIVENESS_INTERVAL);
    liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            reconnect = reconnects.recv() => Event::Paused(match reconnect {
                Err(RecvError::Closed) => return,
                _ => "the tracking connection reconnected",
            }),
            error = errors.recv() => Event::Paused(match error {
                Err(RecvError::Closed) => return,
                _ => "the tracking connection failed",
            }),
            _ = liveness.tick() => Event::Tick,
        };
        let Some(cache) = cache.upgrade() else { return };
        if let Event::Paused(why) = event {
            cache.stop(why);
        }
        let serving = cache.lock().serving;
        let checked = if serving {
            match tokio::time::timeout(LIVENESS_TIMEOUT, cache.client.ping::<()>(None)).await {
                Ok(answer) => answer.map_err(|err| err.to_string()),
                Err(_) => Err("no answer in time".to_owned()),
            }
        } else {
            cache.track().await.map_err(|err| err.to_string())
        };
        match checked {
            Ok(()) if !serving => tracing::info!("Redis read cache resumed"),
            Ok(()) => {}
            Err(_) if !serving => {} // still down: the next tick tries again
            Err(_) => cache.stop("the tracking connection did not answer a ping"),
        }
    }
}

enum Event {
    Paused(&'static str),
    Tick,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_with_prefix(prefix: &str) -> ReadCache {
        ReadCache {
            client: Builder::default_centralized()
                .build()
                .unwrap_or_else(|_| unreachable!("a default client always builds")),
            key_start: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}{{")
            },
            capacity: 2,
            state: Mutex::new(State {
                serving: true,
                epoch: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn record() -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    }

    #[test]
    fn invalidated_keys_map_back_to_session_ids() {
        let id = Id::default();
        let bare = cache_with_prefix("");
        assert_eq!(bare.session_id(id.to_string().as_bytes()), Some(id));
        let prefixed = cache_with_prefix("app1:");
        assert_eq!(
            prefixed.session_id(format!("app1:{{{id}}}").as_bytes()),
            Some(id)
        );
        assert_eq!(prefixed.session_id(id.to_string().as_bytes()), None);
        assert_eq!(
            prefixed.session_id(format!("app1:sesame:tokens:{{{id}}}").as_bytes()),
            None
        );
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = cache_with_prefix("");
        let record = record();
        let ticket = Ticket(cache.lock().epoch);
        cache.forget(&Id::default()); // any change moves the epoch
        cache.keep(&record, ticket);
        assert!(cache.get(&record.id).is_none());
        let ticket = Ticket(cache.lock().epoch);
        cache.keep(&record, ticket);
        assert_eq!(cache.get(&record.id).map(|kept| kept.id), Some(record.id));
    }

    #[test]
    fn stays_within_capacity_and_serves_nothing_when_paused() {
        let cache = cache_with_prefix("");
        for _ in 0..5 {
            let ticket = Ticket(cache.lock().epoch);
            cache.keep(&record(), ticket);
        }
        assert_eq!(cache.len(), 2);
        let kept = record();
        let ticket = Ticket(cache.lock().epoch);
        cache.keep(&kept, ticket);
        cache.stop("test");
        assert!(cache.get(&kept.id).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn expired_records_are_not_served() {
        let cache = cache_with_prefix("");
        let mut expired = record();
        expired.expiry_date = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let ticket = Ticket(cache.lock().epoch);
        cache.keep(&expired, ticket);
        assert!(cache.get(&expired.id).is_none());
    }
}
