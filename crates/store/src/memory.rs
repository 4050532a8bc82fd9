//! The in-process store: a map behind a lock, swept of expired sessions in the background.
//!
//! tower-sessions' own `MemoryStore` never forgets an expired session (it only hides it on load),
//! so a long-running server would grow without bound; this one sweeps. It also keeps each
//! record as one MessagePack buffer (as the Redis and SQLite stores do) instead of a tree of
//! JSON values: about a third of the memory per session, and a load costs about what a clone did.

use crate::StoredTokens;
use async_trait::async_trait;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
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
    /// What is kept beside the sessions: claims, tokens, leases, the index. Off the page-view
    /// path, so one lock for all of it.
    side: Arc<Mutex<SideData>>,
}

/// Everything but the session records, each entry with the moment it lapses.
#[derive(Debug, Default)]
struct SideData {
    /// One-time claims (see [`MemoryStore::claim_once`]).
    claims: HashMap<String, Instant>,
    /// Each session's sealed tokens with their version.
    tokens: HashMap<Id, (StoredTokens, OffsetDateTime)>,
    /// Refresh leases: holder and end.
    leases: HashMap<Id, (String, Instant)>,
    /// Index key → the sessions filed under it, each with the session's expiry.
    index: HashMap<String, HashMap<Id, OffsetDateTime>>,
}

impl SideData {
    fn sweep(&mut self) {
        let (now, now_utc) = (Instant::now(), OffsetDateTime::now_utc());
        self.claims.retain(|_, lapses| *lapses > now);
        self.tokens.retain(|_, (_, expires)| *expires > now_utc);
        self.leases.retain(|_, (_, lapses)| *lapses > now);
        self.index.retain(|_, sessions| {
            sessions.retain(|_, expires| *expires > now_utc);
            !sessions.is_empty()
        });
    }
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
        let weak = (Arc::downgrade(&store.sessions), Arc::downgrade(&store.side));
        tokio::spawn(sweep_forever(weak));
        store
    }

    /// `true` for the first claim of `key`, `false` for every later one until `ttl` has passed
    /// (in this process only, like the sessions themselves).
    pub fn claim_once(&self, key: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let claims = &mut self.side().claims;
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
        self.side().sweep();
    }

    fn side(&self) -> MutexGuard<'_, SideData> {
        // Every operation on it is a few map updates that cannot panic half-way.
        self.side
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The session's sealed tokens, if any (and not lapsed).
    pub fn load_tokens(&self, id: &Id) -> Option<StoredTokens> {
        let now = OffsetDateTime::now_utc();
        self.side()
            .tokens
            .get(id)
            .filter(|(_, expires)| *expires > now)
            .map(|(tokens, _)| tokens.clone())
    }

    /// Stores a session's first tokens (version 1), replacing any.
    pub fn put_tokens(&self, id: &Id, sealed: &[u8], expires: OffsetDateTime) {
        let tokens = StoredTokens {
            version: 1,
            sealed: sealed.to_vec(),
        };
        self.side().tokens.insert(*id, (tokens, expires));
    }

    /// Replaces the tokens only if they are still at `expected_version`.
    pub fn replace_tokens(
        &self,
        id: &Id,
        expected_version: u64,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> bool {
        let mut side = self.side();
        match side.tokens.get_mut(id) {
            Some((current, lapses)) if current.version == expected_version => {
                current.version = expected_version.saturating_add(1);
                current.sealed = sealed.to_vec();
                *lapses = expires;
                true
            }
            _ => false,
        }
    }

    /// Forgets the session's tokens.
    pub fn delete_tokens(&self, id: &Id) {
        self.side().tokens.remove(id);
    }

    /// Takes the session's refresh lease for `holder`, unless someone else holds it.
    pub fn acquire_lease(&self, id: &Id, holder: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let leases = &mut self.side().leases;
        match leases.get(id) {
            Some((_, lapses)) if *lapses > now => false,
            _ => {
                leases.insert(*id, (holder.to_owned(), now + ttl));
                true
            }
        }
    }

    /// Gives the lease back, if `holder` still holds it.
    pub fn release_lease(&self, id: &Id, holder: &str) {
        let leases = &mut self.side().leases;
        if leases.get(id).is_some_and(|(current, _)| current == holder) {
            leases.remove(id);
        }
    }

    /// Files session `id` (lapsing at `expires`) under `key`.
    pub fn index_session(&self, key: &str, id: &Id, expires: OffsetDateTime) {
        let mut side = self.side();
        let now = OffsetDateTime::now_utc();
        let sessions = side.index.entry(key.to_owned()).or_default();
        sessions.retain(|_, lapses| *lapses > now);
        sessions.insert(*id, expires);
    }

    /// The live sessions filed under `key`.
    pub fn indexed_sessions(&self, key: &str) -> Vec<Id> {
        let now = OffsetDateTime::now_utc();
        self.side()
            .index
            .get(key)
            .map_or_else(Vec::new, |sessions| {
                sessions
                    .iter()
                    .filter(|(_, lapses)| **lapses > now)
                    .map(|(id, _)| *id)
                    .collect()
            })
    }

    /// Takes session `id` out from under `key`.
    pub fn unindex_session(&self, key: &str, id: &Id) {
        let mut side = self.side();
        if let Some(sessions) = side.index.get_mut(key) {
            sessions.remove(id);
            if sessions.is_empty() {
                side.index.remove(key);
            }
        }
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

type Shared = (Weak<RwLock<HashMap<Id, Stored>>>, Weak<Mutex<SideData>>);

async fn sweep_forever((sessions, side): Shared) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (Some(sessions), Some(side)) = (sessions.upgrade(), side.upgrade()) else {
            return;
        };
        MemoryStore { sessions, side }.sweep();
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
