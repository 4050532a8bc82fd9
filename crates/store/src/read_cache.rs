//! What the Redis and PostgreSQL read caches share: session records read lately, kept only while
//! the store's change notices are known to arrive.
//!
//! Each store's cache ([`crate::redis_cache`], [`crate::postgres_cache`]) drops a record as the
//! store reports it changed, and stops serving (and empties) whenever it cannot be sure that
//! reports still arrive. This part keeps the records: a read racing a change never keeps what it
//! read ([`Ticket`]), an entry is read again after [`MAX_AGE`] whatever happens, an expired record
//! is never served, and at most `capacity` sessions are kept.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

/// An entry older than this is read again even if no change was reported. It bounds what no
/// report covers: fred 10 drops the keyless invalidation Redis sends for `FLUSHALL` and
/// `FLUSHDB`, and PostgreSQL's `TRUNCATE` fires no row trigger; and anything else that fails
/// unseen. Still, a busy session is read from the store once in thousands of views.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5);

/// The metrics one store's cache counts under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meters {
    /// Reads answered (`result="hit"`) or passed to the store (`result="miss"`).
    pub(crate) reads: &'static str,
    /// Times the cache paused (and emptied).
    pub(crate) pauses: &'static str,
    /// The store's name in log lines.
    pub(crate) store: &'static str,
}

/// Session records by ID, and whether they may be served.
pub(crate) struct Records {
    capacity: usize,
    meters: Meters,
    state: Mutex<State>,
}

struct State {
    /// Whether change notices are known to arrive.
    serving: bool,
    /// Moves on every change notice, flush and local write: a read that began at another epoch
    /// may have raced one, so what it read is not kept.
    epoch: u64,
    entries: HashMap<Id, Entry>,
}

struct Entry {
    record: Record,
    read_at: Instant,
}

/// Taken before a read, handed back to [`Records::keep`]: the epoch the read began in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Records {
    /// Empty and not serving until [`resume`](Self::resume) says change notices arrive.
    pub(crate) fn new(capacity: usize, meters: Meters) -> Self {
        Self {
            capacity,
            meters,
            state: Mutex::new(State {
                serving: false,
                epoch: 0,
                entries: HashMap::new(),
            }),
        }
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

    /// Serves again, from a fresh start: change notices are known to arrive from now on.
    pub(crate) fn resume(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        state.entries.clear();
        state.serving = true;
    }

    /// Stops serving and forgets everything until [`resume`](Self::resume).
    pub(crate) fn stop(&self, why: &str) {
        let mut state = self.lock();
        if state.serving {
            metrics::counter!(self.meters.pauses).increment(1);
            tracing::warn!(
                why,
                store = self.meters.store,
                "read cache paused: sessions are read from the store until it resumes"
            );
        }
        state.serving = false;
        state.epoch += 1;
        state.entries.clear();
    }

    /// Whether the cache serves now.
    pub(crate) fn serving(&self) -> bool {
        self.lock().serving
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
        metrics::counter!(self.meters.reads, "result" => result).increment(1);
        found
    }

    /// The ticket for a read about to begin.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().epoch)
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

    /// Drops these sessions (reported changed, or written here).
    pub(crate) fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a Id>) {
        let mut state = self.lock();
        state.epoch += 1;
        for id in ids {
            state.entries.remove(id);
        }
    }

    /// Drops everything but keeps serving: a notice that may have named any session.
    pub(crate) fn forget_all(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        state.entries.clear();
    }

    /// How many sessions are kept now.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METERS: Meters = Meters {
        reads: "test_reads_total",
        pauses: "test_pauses_total",
        store: "test",
    };

    fn serving(capacity: usize) -> Records {
        let records = Records::new(capacity, METERS);
        records.resume();
        records
    }

    fn record() -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = serving(2);
        let record = record();
        let ticket = cache.ticket();
        cache.forget([&Id::default()]); // any change moves the epoch
        cache.keep(&record, ticket);
        assert!(cache.get(&record.id).is_none());
        let ticket = cache.ticket();
        cache.keep(&record, ticket);
        assert_eq!(cache.get(&record.id).map(|kept| kept.id), Some(record.id));
        cache.forget_all();
        assert!(cache.get(&record.id).is_none());
    }

    #[test]
    fn stays_within_capacity_and_serves_nothing_when_paused() {
        let cache = serving(2);
        for _ in 0..5 {
            let ticket = cache.ticket();
            cache.keep(&record(), ticket);
        }
        assert_eq!(cache.len(), 2);
        let kept = record();
        let ticket = cache.ticket();
        cache.keep(&kept, ticket);
        cache.stop("test");
        assert!(!cache.serving());
        assert!(cache.get(&kept.id).is_none());
        assert_eq!(cache.len(), 0);
        // Nothing is kept until it resumes.
        let ticket = cache.ticket();
        cache.keep(&kept, ticket);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_new_cache_serves_nothing_until_resumed() {
        let cache = Records::new(2, METERS);
        let kept = record();
        let ticket = cache.ticket();
        cache.keep(&kept, ticket);
        assert!(cache.get(&kept.id).is_none());
    }

    #[test]
    fn expired_records_are_not_served() {
        let cache = serving(2);
        let mut expired = record();
        expired.expiry_date = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let ticket = cache.ticket();
        cache.keep(&expired, ticket);
        assert!(cache.get(&expired.id).is_none());
    }
}
