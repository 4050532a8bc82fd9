//! The in-process store: a map behind a lock, swept of expired sessions in the background.
//!
//! tower-sessions' own `MemoryStore` never forgets an expired session (it only hides it on load),
//! so a long-running server would grow without bound; this one sweeps. It also keeps each
//! record as one MessagePack buffer (as the Redis and SQLite stores do) instead of a tree of
//! JSON values: about a third of the memory per session, and a load costs about what a clone did.

use async_trait::async_trait;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// How often expired sessions are dropped from memory.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Sessions in this process's memory. Gone on restart, invisible to other instances.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    // A std lock, not an async one: every operation is a short map access with no await inside,
    // so the lock is never held across a suspension point.
    sessions: Arc<RwLock<HashMap<Id, Stored>>>,
    /// One-time claims (see [`MemoryStore::claim_once`]) and when each lapses.
    claims: Arc<Mutex<HashMap<String, Instant>>>,
}

/// One session as held in memory.
#[derive(Debug)]
struct Stored {
    expiry_date: OffsetDateTime,
    /// The whole record, MessagePack-encoded.
    record: Box<[u8]>,
}

impl Stored {
    fn encode(record: &Record) -> session_store::Result<Self> {
        let bytes = rmp_serde::to_vec(record)
            .map_err(|err| session_store::Error::Encode(err.to_string()))?;
        Ok(Self {
            expiry_date: record.expiry_date,
            record: bytes.into_boxed_slice(),
        })
    }

    fn decode(&self) -> session_store::Result<Record> {
        rmp_serde::from_slice(&self.record)
            .map_err(|err| session_store::Error::Decode(err.to_string()))
    }
}

impl MemoryStore {
    /// An empty store whose expired sessions are swept every minute for as long as the store
    /// lives (the sweeper holds only a weak reference).
    pub fn with_sweeper() -> Self {
        let store = Self::default();
        let weak = (
            Arc::downgrade(&store.sessions),
            Arc::downgrade(&store.claims),
        );
        tokio::spawn(sweep_forever(weak));
        store
    }

    /// `true` for the first claim of `key`, `false` for every later one until `ttl` has passed
    /// (in this process only, like the sessions themselves).
    pub fn claim_once(&self, key: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match claims.get(key) {
            Some(lapses) if *lapses > now => false,
            _ => {
                claims.insert(key.to_owned(), now + ttl);
                true
            }
        }
    }

    /// How many sessions are held, expired ones included until the next sweep.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops expired sessions now.
    pub fn sweep(&self) {
        let now = OffsetDateTime::now_utc();
        self.write().retain(|_, stored| stored.expiry_date > now);
        let now = Instant::now();
        self.claims
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, lapses| *lapses > now);
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<Id, Stored>> {
        // A panic while holding the lock cannot leave the map half-updated (each operation is
        // one insert or remove), so a poisoned lock still guards consistent data.
        self.sessions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Id, Stored>> {
        self.sessions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type Shared = (
    Weak<RwLock<HashMap<Id, Stored>>>,
    Weak<Mutex<HashMap<String, Instant>>>,
);

async fn sweep_forever((sessions, claims): Shared) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (Some(sessions), Some(claims)) = (sessions.upgrade(), claims.upgrade()) else {
            return;
        };
        MemoryStore { sessions, claims }.sweep();
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut stored = Stored::encode(record)?;
        let mut sessions = self.write();
        // IDs are 128 random bits, so this loops again only in theory; but it must not
        // overwrite someone else's session if it ever happens.
        loop {
            match sessions.entry(record.id) {
                // The ID is inside the encoded record too, so a new one means encoding again
                // (under the lock, but this is the one-in-2^128 path).
                Entry::Occupied(_) => {
                    record.id = Id::default();
                    stored = Stored::encode(record)?;
                }
                Entry::Vacant(slot) => {
                    slot.insert(stored);
                    return Ok(());
                }
            }
        }
    }

    /// Updates an existing session only: a request that finishes after a concurrent logout
    /// must not bring the deleted session back.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let fresh = Stored::encode(record)?;
        if let Some(stored) = self.write().get_mut(&record.id) {
            *stored = fresh;
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        self.read()
            .get(id)
            .filter(|stored| stored.expiry_date > now)
            .map(Stored::decode)
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.write().remove(id);
        Ok(())
    }
}
