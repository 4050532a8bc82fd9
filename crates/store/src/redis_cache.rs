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
//! only once tracking is switched back on. What it keeps, and how a read racing an
//! invalidation is not kept, is [`crate::read_cache`]'s.
//!
//! Pooled connections cannot track (the invalidations would arrive on whichever connection
//! read), hence the client of its own. It needs Redis 6 or later and permission for `HELLO 3`
//! and `CLIENT TRACKING`; without them Sesame runs without the cache and says so at start.

use crate::StoreError;
use crate::read_cache::{Meters, Records, Ticket};
use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, KeysInterface, TrackingInterface};
use fred::types::config::Config;
use fred::types::{Builder, RespVersion};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::session::{Id, Record};

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
    records: Records,
}

const METERS: Meters = Meters {
    reads: READ_CACHE_READS_TOTAL,
    pauses: READ_CACHE_PAUSES_TOTAL,
    store: "redis",
};

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
            records: Records::new(capacity, METERS),
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
        self.records.resume();
        Ok(())
    }

    /// The record of session `id`, if it was read lately and nothing has changed it since.
    pub(crate) fn get(&self, id: &Id) -> Option<Record> {
        self.records.get(id)
    }

    /// Reads `key` on the tracking connection (so Redis tracks it for this cache), with the
    /// ticket to [`keep`](Self::keep) what was read.
    pub(crate) async fn read(
        &self,
        key: String,
    ) -> Result<(Option<Vec<u8>>, Ticket), fred::error::Error> {
        let ticket = self.records.ticket();
        let value = self.client.get(key).await?;
        Ok((value, ticket))
    }

    /// Keeps `record`, read under `ticket`, unless something changed since the read began.
    pub(crate) fn keep(&self, record: &Record, ticket: Ticket) {
        self.records.keep(record, ticket);
    }

    /// Drops session `id` now, as this instance writes or deletes it: its own next view must
    /// not wait for Redis's invalidation to come back.
    pub(crate) fn forget(&self, id: &Id) {
        self.records.forget([id]);
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
        self.records.len()
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
            Ok(invalidation) if invalidation.keys.is_empty() => cache.records.forget_all(),
            Ok(invalidation) => {
                let ids: Vec<Id> = invalidation
                    .keys
                    .iter()
                    .filter_map(|key| cache.session_id(key.as_bytes()))
                    .collect();
                cache.records.forget(&ids);
            }
            Err(RecvError::Lagged(_)) => cache.records.forget_all(),
            Err(RecvError::Closed) => {
                cache.records.stop("the invalidation channel closed");
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
            cache.records.stop(why);
        }
        let serving = cache.records.serving();
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
            Err(_) => cache
                .records
                .stop("the tracking connection did not answer a ping"),
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
            records: Records::new(2, METERS),
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
}
