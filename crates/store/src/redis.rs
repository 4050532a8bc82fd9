//! Redis (one server, a Cluster or behind Sentinel, by the URL's scheme): a fred pool with
//! bounded timeouts, so an outage or a failover fails fast and heals by itself, and Sesame's
//! own session store on it, whose keys can carry a prefix (the upstream store has none, and a
//! Cluster has only database 0 to keep apps apart).

use crate::redis_cache::ReadCache;
use crate::{StoreError, StoredTokens};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_redis_store::fred::clients::Pool;
use tower_sessions_redis_store::fred::interfaces::{
    ClientLike, KeysInterface, LuaInterface, SortedSetsInterface,
};
use tower_sessions_redis_store::fred::types::Builder;
use tower_sessions_redis_store::fred::types::Value;
use tower_sessions_redis_store::fred::types::config::{Config, ReconnectPolicy};
use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};

const POOL_SIZE: usize = 4;

pub(crate) async fn connect(
    url: &str,
    operation_timeout: Duration,
    key_prefix: &str,
    read_cache: usize,
) -> Result<RedisSessions, StoreError> {
    check_url(url)?;
    check_prefix(key_prefix)?;
    let config =
        Config::from_url(url).map_err(|err| StoreError::InvalidRedisUrl(err.to_string()))?;
    let pool = bounded(Builder::from_config(config), operation_timeout)
        .build_pool(POOL_SIZE)
        .map_err(|err| StoreError::InvalidRedisUrl(err.to_string()))?;

    let unreachable = |reason: String| StoreError::RedisUnreachable {
        url: redact_password(url),
        reason,
    };
    // `init` waits for the first connection; bound it, since a black-holed host never answers.
    match tokio::time::timeout(operation_timeout * 3, pool.init()).await {
        Ok(Ok(_connection_task)) => {}
        Ok(Err(err)) => return Err(unreachable(err.to_string())),
        Err(_) => {
            let _ = pool.quit().await;
            return Err(unreachable(format!(
                "no connection within {:?}",
                operation_timeout * 3
            )));
        }
    }
    ping_pool(&pool)
        .await
        .map_err(|err| unreachable(err.to_string()))?;
    let cache = if read_cache == 0 {
        None
    } else {
        ReadCache::connect(url, operation_timeout, key_prefix, read_cache).await?
    };
    Ok(RedisSessions {
        pool,
        prefix: Arc::from(key_prefix),
        cache,
    })
}

/// `builder` with every operation bounded by `operation_timeout`, tried once, and reconnecting
/// in the background forever: an outage fails fast, and when Redis comes back so do we, without
/// a restart. The pool and the read cache's client are built alike.
pub(crate) fn bounded(mut builder: Builder, operation_timeout: Duration) -> Builder {
    builder
        .with_connection_config(|connection| {
            connection.connection_timeout = operation_timeout;
            connection.internal_command_timeout = operation_timeout;
            // One attempt: a retry after a timeout would double the time a user waits.
            connection.max_command_attempts = 1;
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = operation_timeout;
        })
        .set_policy(ReconnectPolicy::new_constant(0, 500));
    builder
}

/// fred ignores a database number in a Cluster URL (a Cluster has database 0 only), which would
/// silently mix apps that meant to be apart: refuse it, and point at the key prefix.
fn check_url(url: &str) -> Result<(), StoreError> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(()); // fred says what is wrong with it
    };
    let database = parsed.path().trim_matches('/');
    if parsed.scheme().ends_with("-cluster") && !database.is_empty() && database != "0" {
        return Err(StoreError::InvalidRedisUrl(format!(
            "a Redis Cluster has only database 0, so `/{database}` would be ignored: remove it \
             and give this app's keys a prefix of their own instead"
        )));
    }
    Ok(())
}

/// Whether `prefix` can go before Redis keys: no braces (they would change which part of a key
/// Redis Cluster hashes), short and printable.
pub fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.len() > 64
        || prefix
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '{' || c == '}')
    {
        return Err(StoreError::InvalidKeyPrefix(
            prefix.escape_debug().to_string(),
        ));
    }
    Ok(())
}

/// Sesame's sessions in Redis, and what lives beside them. Keys: the session under its bare ID
/// (as before prefixes existed, so sessions survive an upgrade) or `{prefix}{ID}` with a
/// prefix; beside it `{prefix}sesame:tokens:{ID}` and `{prefix}sesame:lease:{ID}`, which share
/// its Cluster slot (a key's slot is the hash of its `{…}` part, or of the whole key if it has
/// none, so `ID` and `{ID}` hash alike).
#[derive(Clone)]
pub struct RedisSessions {
    pool: Pool,
    prefix: Arc<str>,
    /// Records read lately, kept true by Redis's invalidations; `None` when off.
    cache: Option<Arc<ReadCache>>,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("prefix", &self.prefix)
            .field("read_cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// How many sessions the read cache holds now (0 when it is off).
    pub fn read_cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |cache| cache.len())
    }

    /// Drops session `id` from the read cache as this instance writes or deletes it: before, and
    /// again after, so that a read racing the write cannot keep the old record until Redis's
    /// own invalidation arrives.
    fn forget_cached(&self, id: &Id) {
        if let Some(cache) = &self.cache {
            cache.forget(id);
        }
    }

    fn session_key(&self, id: &Id) -> String {
        if self.prefix.is_empty() {
            id.to_string()
        } else {
            format!("{}{{{id}}}", self.prefix)
        }
    }

    async fn write(&self, record: &Record, condition: SetOptions) -> session_store::Result<bool> {
        self.forget_cached(&record.id);
        let value = rmp_serde::to_vec(record)
            .map_err(|err| session_store::Error::Encode(err.to_string()))?;
        let written: Option<String> = self
            .pool
            .set(
                self.session_key(&record.id),
                value.as_slice(),
                Some(Expiration::EXAT(record.expiry_date.unix_timestamp())),
                Some(condition),
                false,
            )
            .await
            .map_err(backend_error)?;
        self.forget_cached(&record.id);
        Ok(written.is_some())
    }
}

fn decode_record(data: Option<Vec<u8>>) -> session_store::Result<Option<Record>> {
    data.map(|bytes| {
        rmp_serde::from_slice(&bytes).map_err(|err| session_store::Error::Decode(err.to_string()))
    })
    .transpose()
}

fn backend_error(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(format!("Redis: {err}"))
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // NX: never overwrite someone else's session, however unlikely a collision.
        while !self.write(record, SetOptions::NX).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    /// XX: updates an existing session only, so a request finishing after a logout cannot
    /// bring the session back.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, SetOptions::XX).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(cache) = &self.cache else {
            let data: Option<Vec<u8>> = self
                .pool
                .get(self.session_key(id))
                .await
                .map_err(backend_error)?;
            return decode_record(data);
        };
        if let Some(record) = cache.get(id) {
            return Ok(Some(record));
        }
        let (data, ticket) = cache
            .read(self.session_key(id))
            .await
            .map_err(backend_error)?;
        let record = decode_record(data)?;
        // A record under another ID (never written so by Sesame) is served, not kept.
        if let Some(record) = record.as_ref().filter(|record| record.id == *id) {
            cache.keep(record, ticket);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget_cached(id);
        let deleted = self
            .pool
            .del::<(), _>(self.session_key(id))
            .await
            .map_err(backend_error);
        self.forget_cached(id);
        deleted
    }
}

pub(crate) async fn claim_once(
    redis: &RedisSessions,
    key: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    // Beside the sessions, under a name no session ID can have.
    set_if_absent(
        redis,
        format!("{}sesame:claim:{key}", redis.prefix),
        "1",
        ttl,
    )
    .await
}

/// `SET key value NX PX ttl`: `true` for the one caller that created the key, `false` for
/// everyone else until it lapses.
async fn set_if_absent(
    redis: &RedisSessions,
    key: String,
    value: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
    let reply: Option<String> = redis
        .pool
        .set(
            key,
            value,
            Some(Expiration::PX(ttl_ms)),
            Some(SetOptions::NX),
            false,
        )
        .await
        .map_err(unavailable)?;
    Ok(reply.is_some())
}

// What lives beside a session shares its Cluster slot (see [`RedisSessions`]).
fn tokens_key(redis: &RedisSessions, id: &Id) -> String {
    format!("{}sesame:tokens:{{{id}}}", redis.prefix)
}

fn lease_key(redis: &RedisSessions, id: &Id) -> String {
    format!("{}sesame:lease:{{{id}}}", redis.prefix)
}

/// Index keys have a slot of their own: every command on one touches that one key only.
fn index_key(redis: &RedisSessions, key: &str) -> String {
    format!("{}sesame:index:{key}", redis.prefix)
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("Redis: {err}"))
}

fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Tokens are stored as one string: the version (8 bytes, big-endian), then the sealed bytes.
/// One value, so a load is one GET and the compare-and-set script compares a prefix.
fn encode_tokens(version: u64, sealed: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + sealed.len());
    value.extend_from_slice(&version.to_be_bytes());
    value.extend_from_slice(sealed);
    value
}

pub(crate) async fn load_tokens(
    redis: &RedisSessions,
    id: &Id,
) -> Result<Option<StoredTokens>, StoreError> {
    let value: Option<Vec<u8>> = redis
        .pool
        .get(tokens_key(redis, id))
        .await
        .map_err(unavailable)?;
    Ok(value.and_then(|value| {
        let (version, sealed) = value.split_first_chunk::<8>()?;
        Some(StoredTokens {
            version: u64::from_be_bytes(*version),
            sealed: sealed.to_vec(),
        })
    }))
}

pub(crate) async fn put_tokens(
    redis: &RedisSessions,
    id: &Id,
    sealed: &[u8],
    expires: OffsetDateTime,
) -> Result<(), StoreError> {
    redis
        .pool
        .set::<(), _, _>(
            tokens_key(redis, id),
            encode_tokens(1, sealed),
            Some(Expiration::PXAT(unix_millis(expires))),
            None,
            false,
        )
        .await
        .map_err(unavailable)
}

/// Replaces the value only while its version prefix is the expected one: atomic in Redis, so of
/// two instances replacing the same version exactly one succeeds.
const REPLACE_TOKENS: &str = r"
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, 8) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
  return 1
end
return 0";

pub(crate) async fn replace_tokens(
    redis: &RedisSessions,
    id: &Id,
    expected_version: u64,
    sealed: &[u8],
    expires: OffsetDateTime,
) -> Result<bool, StoreError> {
    let replaced: i64 = redis
        .pool
        .eval(
            REPLACE_TOKENS,
            vec![tokens_key(redis, id)],
            vec![
                Value::from(&expected_version.to_be_bytes()[..]),
                Value::from(&encode_tokens(expected_version.saturating_add(1), sealed)[..]),
                Value::from(unix_millis(expires)),
            ],
        )
        .await
        .map_err(unavailable)?;
    Ok(replaced == 1)
}

pub(crate) async fn delete_tokens(redis: &RedisSessions, id: &Id) -> Result<(), StoreError> {
    redis
        .pool
        .del::<(), _>(tokens_key(redis, id))
        .await
        .map_err(unavailable)
}

pub(crate) async fn acquire_lease(
    redis: &RedisSessions,
    id: &Id,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    set_if_absent(redis, lease_key(redis, id), holder, ttl).await
}

/// Deletes the lease only if it is still this holder's: one that outlived its TTL and was taken
/// by another instance must not be released by the first.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

pub(crate) async fn release_lease(
    redis: &RedisSessions,
    id: &Id,
    holder: &str,
) -> Result<(), StoreError> {
    redis
        .pool
        .eval::<i64, _, _, _>(RELEASE_LEASE, vec![lease_key(redis, id)], vec![holder])
        .await
        .map(|_| ())
        .map_err(unavailable)
}

/// The index is a sorted set scored by each session's expiry (ms): adding prunes the lapsed,
/// and the key itself lapses with its last session.
const INDEX_SESSION: &str = r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 1";

pub(crate) async fn index_session(
    redis: &RedisSessions,
    key: &str,
    id: &Id,
    expires: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = unix_millis(OffsetDateTime::now_utc());
    redis
        .pool
        .eval::<i64, _, _, _>(
            INDEX_SESSION,
            vec![index_key(redis, key)],
            vec![
                Value::from(id.to_string()),
                Value::from(unix_millis(expires)),
                Value::from(now),
            ],
        )
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(crate) async fn indexed_sessions(
    redis: &RedisSessions,
    key: &str,
) -> Result<Vec<Id>, StoreError> {
    let now = unix_millis(OffsetDateTime::now_utc());
    let members: Vec<String> = redis
        .pool
        .zrangebyscore(
            index_key(redis, key),
            format!("({now}"),
            "+inf",
            false,
            None,
        )
        .await
        .map_err(unavailable)?;
    Ok(members
        .iter()
        .filter_map(|member| member.parse::<Id>().ok())
        .collect())
}

pub(crate) async fn unindex_session(
    redis: &RedisSessions,
    key: &str,
    id: &Id,
) -> Result<(), StoreError> {
    redis
        .pool
        .zrem::<(), _, _>(index_key(redis, key), id.to_string())
        .await
        .map_err(unavailable)
}

pub(crate) async fn ping(redis: &RedisSessions) -> Result<(), StoreError> {
    ping_pool(&redis.pool).await
}

async fn ping_pool(pool: &Pool) -> Result<(), StoreError> {
    pool.ping::<()>(None)
        .await
        .map_err(|err| StoreError::Unavailable(format!("Redis: {err}")))
}

/// `redis://user:secret@host/0` → `redis://user:***@host/0`, for error messages.
pub(crate) fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_password("redis://:hunter2@cache:6379/2"),
            "redis://:***@cache:6379/2"
        );
        assert_eq!(redact_password("redis://cache:6379"), "redis://cache:6379");
    }
}
