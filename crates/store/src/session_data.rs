//! What each backend keeps beside a session record: the session's sealed provider tokens
//! (versioned, replaced by compare-and-set), its refresh lease, and an index from a key (a
//! hashed `sub` or `sid`) to session IDs.
//!
//! The tokens live outside the session record on purpose: tower-sessions saves a record whole,
//! so a request that loaded the session before a refresh and saves it after (an idle touch)
//! would write the old refresh token back. A separate, versioned value cannot be overwritten by
//! a stale copy. In Redis, the token and lease keys carry the session ID as a hash tag, so they
//! share its Cluster slot; each index key is one key, touched by one command at a time.

use crate::{SessionBackend, StoreError, redis, sqlite};
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::session::Id;

/// A session's tokens as stored: sealed by the caller (the store never sees them in the clear)
/// and versioned for compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokens {
    /// 1 when first stored, one more on every successful replace.
    pub version: u64,
    /// The caller's sealed bytes.
    pub sealed: Vec<u8>,
}

impl SessionBackend {
    /// The session's tokens, if stored and not lapsed.
    pub async fn load_tokens(&self, id: &Id) -> Result<Option<StoredTokens>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.load_tokens(id)),
            Self::Redis(redis_store) => redis::load_tokens(redis_store, id).await,
            Self::Sqlite(_, pool) => sqlite::load_tokens(pool, id).await,
            Self::Postgres(store) => store.load_tokens(id).await,
        }
    }

    /// Stores a new session's tokens at version 1 (at login), lapsing at `expires`.
    pub async fn put_tokens(
        &self,
        id: &Id,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.put_tokens(id, sealed, expires);
                Ok(())
            }
            Self::Redis(redis_store) => redis::put_tokens(redis_store, id, sealed, expires).await,
            Self::Sqlite(_, pool) => sqlite::put_tokens(pool, id, sealed, expires).await,
            Self::Postgres(store) => store.put_tokens(id, sealed, expires).await,
        }
    }

    /// Replaces the tokens with `sealed` (version + 1) only if they are still at
    /// `expected_version`; `false` when another writer got there first (or they are gone).
    pub async fn replace_tokens(
        &self,
        id: &Id,
        expected_version: u64,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.replace_tokens(id, expected_version, sealed, expires)),
            Self::Redis(redis_store) => {
                redis::replace_tokens(redis_store, id, expected_version, sealed, expires).await
            }
            Self::Sqlite(_, pool) => {
                sqlite::replace_tokens(pool, id, expected_version, sealed, expires).await
            }
            Self::Postgres(store) => {
                store
                    .replace_tokens(id, expected_version, sealed, expires)
                    .await
            }
        }
    }

    /// Forgets the session's tokens.
    pub async fn delete_tokens(&self, id: &Id) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.delete_tokens(id);
                Ok(())
            }
            Self::Redis(redis_store) => redis::delete_tokens(redis_store, id).await,
            Self::Sqlite(_, pool) => sqlite::delete_tokens(pool, id).await,
            Self::Postgres(store) => store.delete_tokens(id).await,
        }
    }

    /// Takes the session's refresh lease for `holder` (a random value of the caller's) for
    /// `ttl`: `true` if taken, `false` while anyone holds it. Across every instance sharing
    /// the store, at most one holds it at a time.
    pub async fn acquire_lease(
        &self,
        id: &Id,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.acquire_lease(id, holder, ttl)),
            Self::Redis(redis_store) => redis::acquire_lease(redis_store, id, holder, ttl).await,
            Self::Sqlite(_, pool) => sqlite::acquire_lease(pool, id, holder, ttl).await,
            Self::Postgres(store) => store.acquire_lease(id, holder, ttl).await,
        }
    }

    /// Releases the lease if `holder` still holds it (compare-and-delete): a lease that lapsed
    /// and was taken by someone else stays theirs.
    pub async fn release_lease(&self, id: &Id, holder: &str) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.release_lease(id, holder);
                Ok(())
            }
            Self::Redis(redis_store) => redis::release_lease(redis_store, id, holder).await,
            Self::Sqlite(_, pool) => sqlite::release_lease(pool, id, holder).await,
            Self::Postgres(store) => store.release_lease(id, holder).await,
        }
    }

    /// Files session `id`, which lapses at `expires`, under `key`. The entry lapses with it.
    pub async fn index_session(
        &self,
        key: &str,
        id: &Id,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.index_session(key, id, expires);
                Ok(())
            }
            Self::Redis(redis_store) => redis::index_session(redis_store, key, id, expires).await,
            Self::Sqlite(_, pool) => sqlite::index_session(pool, key, id, expires).await,
            Self::Postgres(store) => store.index_session(key, id, expires).await,
        }
    }

    /// The sessions filed under `key` whose entries have not lapsed. An entry may outlive its
    /// session (a logout that did not unindex it): callers check each session before acting.
    pub async fn indexed_sessions(&self, key: &str) -> Result<Vec<Id>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.indexed_sessions(key)),
            Self::Redis(redis_store) => redis::indexed_sessions(redis_store, key).await,
            Self::Sqlite(_, pool) => sqlite::indexed_sessions(pool, key).await,
            Self::Postgres(store) => store.indexed_sessions(key).await,
        }
    }

    /// Takes session `id` out from under `key`.
    pub async fn unindex_session(&self, key: &str, id: &Id) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.unindex_session(key, id);
                Ok(())
            }
            Self::Redis(redis_store) => redis::unindex_session(redis_store, key, id).await,
            Self::Sqlite(_, pool) => sqlite::unindex_session(pool, key, id).await,
            Self::Postgres(store) => store.unindex_session(key, id).await,
        }
    }
}
