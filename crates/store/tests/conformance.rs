//! One conformance suite, expanded for every backend (the tower-sessions habit): what the
//! server relies on must hold the same on memory, a real Redis, a real SQLite file and a real
//! PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use sesame_store::{SessionBackend, SessionTable, StoreConfig, StoreKind};
use sesame_testkit::{PostgresDatabase, RedisCluster, RedisSentinel, RedisServer, TempDir};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

/// A connected store plus whatever must outlive it (the Redis process, the temp dir, the
/// database). The store is declared first: fields drop in order, so its pool closes before the
/// database is dropped.
struct Fixture {
    store: SessionBackend,
    _redis: Option<RedisServer>,
    _dir: Option<TempDir>,
    _redis_ha: Option<Box<dyn std::any::Any + Send>>,
    _database: Option<PostgresDatabase>,
}

/// What a suite runs against: a plain backend, or Redis in one of its other shapes.
enum Setup {
    Kind(StoreKind),
    /// A Redis Cluster of 3 masters and 3 replicas.
    RedisCluster,
    /// A master, a replica and 3 sentinels.
    RedisSentinel,
    /// One Redis server, every key under a prefix.
    RedisPrefixed,
    /// One Redis server, without the read cache (on by default).
    RedisUncached,
}

impl From<StoreKind> for Setup {
    fn from(kind: StoreKind) -> Self {
        Self::Kind(kind)
    }
}

impl Fixture {
    async fn new(setup: impl Into<Setup>) -> Self {
        let (config, ha): (StoreConfig, Box<dyn std::any::Any + Send>) = match setup.into() {
            Setup::Kind(kind) => return Self::of_kind(kind).await,
            Setup::RedisCluster => {
                let cluster = tokio::task::spawn_blocking(RedisCluster::start)
                    .await
                    .unwrap();
                (StoreConfig::redis(cluster.url()), Box::new(cluster))
            }
            Setup::RedisSentinel => {
                let sentinel = tokio::task::spawn_blocking(RedisSentinel::start)
                    .await
                    .unwrap();
                (StoreConfig::redis(sentinel.url(2)), Box::new(sentinel))
            }
            Setup::RedisPrefixed => {
                let redis = RedisServer::start();
                let config = StoreConfig::Redis {
                    url: redis.url(4),
                    operation_timeout: StoreConfig::DEFAULT_OPERATION_TIMEOUT,
                    key_prefix: "app1:".to_owned(),
                    read_cache: StoreConfig::DEFAULT_READ_CACHE,
                };
                (config, Box::new(redis))
            }
            Setup::RedisUncached => {
                let redis = RedisServer::start();
                let mut config = StoreConfig::redis(redis.url(6));
                if let StoreConfig::Redis { read_cache, .. } = &mut config {
                    *read_cache = 0;
                }
                (config, Box::new(redis))
            }
        };
        let store = SessionBackend::connect(&config).await.unwrap();
        store.ping().await.unwrap();
        Self {
            store,
            _redis: None,
            _dir: None,
            _redis_ha: Some(ha),
            _database: None,
        }
    }

    async fn of_kind(kind: StoreKind) -> Self {
        let mut database = None;
        let (config, redis, dir) = match kind {
            StoreKind::Memory => (StoreConfig::Memory, None, None),
            StoreKind::Postgres => {
                let fresh = PostgresDatabase::create();
                let config = StoreConfig::postgres(fresh.url(), SessionTable::default());
                database = Some(fresh);
                (config, None, None)
            }
            StoreKind::Redis => {
                let redis = RedisServer::start();
                (StoreConfig::redis(redis.url(3)), Some(redis), None)
            }
            StoreKind::Sqlite => {
                let dir = TempDir::new("conformance");
                (
                    StoreConfig::sqlite(dir.sqlite_url("sessions.db")),
                    None,
                    Some(dir),
                )
            }
        };
        let store = SessionBackend::connect(&config).await.unwrap();
        assert_eq!(store.kind(), kind);
        store.ping().await.unwrap();
        Self {
            store,
            _redis: redis,
            _dir: dir,
            _redis_ha: None,
            _database: database,
        }
    }
}

fn record(expires_in: time::Duration, value: serde_json::Value) -> Record {
    Record {
        id: Id::default(),
        data: HashMap::from([("value".to_owned(), value)]),
        expiry_date: OffsetDateTime::now_utc() + expires_in,
    }
}

fn hour() -> time::Duration {
    time::Duration::hours(1)
}

async fn create_load_save_delete(store: SessionBackend) {
    let mut original = record(hour(), serde_json::json!({"name": "alice"}));
    store.create(&mut original).await.unwrap();
    let loaded = store
        .load(&original.id)
        .await
        .unwrap()
        .expect("created record loads");
    assert_eq!(loaded.data, original.data);

    let mut changed = original.clone();
    changed
        .data
        .insert("value".into(), serde_json::json!({"name": "bob"}));
    store.save(&changed).await.unwrap();
    assert_eq!(
        store.load(&original.id).await.unwrap().unwrap().data,
        changed.data
    );

    store.delete(&original.id).await.unwrap();
    assert!(store.load(&original.id).await.unwrap().is_none());
    assert!(
        store.load(&Id::default()).await.unwrap().is_none(),
        "unknown ID"
    );
    // Deleting twice is not an error: logout may race with expiry.
    store.delete(&original.id).await.unwrap();
}

async fn save_never_resurrects_a_deleted_session(store: SessionBackend) {
    let mut session = record(hour(), serde_json::json!("logged in"));
    store.create(&mut session).await.unwrap();
    store.delete(&session.id).await.unwrap();
    // A slow request that loaded the session before logout now saves it.
    store.save(&session).await.unwrap();
    assert!(
        store.load(&session.id).await.unwrap().is_none(),
        "a save after logout must not log the user back in"
    );
}

async fn create_never_overwrites_on_id_collision(store: SessionBackend) {
    let mut first = record(hour(), serde_json::json!("first"));
    store.create(&mut first).await.unwrap();
    let mut second = record(hour(), serde_json::json!("second"));
    second.id = first.id;
    store.create(&mut second).await.unwrap();
    assert_ne!(second.id, first.id, "a colliding ID must be replaced");
    assert_eq!(
        store.load(&first.id).await.unwrap().unwrap().data["value"],
        "first"
    );
    let loaded = store.load(&second.id).await.unwrap().unwrap();
    assert_eq!(loaded.data["value"], "second");
    assert_eq!(loaded.id, second.id, "the record carries its new ID");
}

async fn expired_sessions_do_not_load(store: SessionBackend) {
    let mut expired = record(time::Duration::seconds(-5), serde_json::json!("old"));
    // A record can only expire after it was stored; store it live, then let it lapse.
    expired.expiry_date = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    store.create(&mut expired).await.unwrap();
    let mut live = record(hour(), serde_json::json!("live"));
    store.create(&mut live).await.unwrap();
    assert!(store.load(&expired.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.load(&expired.id).await.unwrap().is_none(), "expired");
    assert!(store.load(&live.id).await.unwrap().is_some(), "unexpired");

    // Saving with a later expiry extends the session (the rolling idle timeout).
    let mut rolling = record(time::Duration::seconds(1), serde_json::json!("rolling"));
    store.create(&mut rolling).await.unwrap();
    rolling.expiry_date = OffsetDateTime::now_utc() + hour();
    store.save(&rolling).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(store.load(&rolling.id).await.unwrap().is_some(), "extended");
}

async fn concurrent_writes_to_one_session_stay_whole(store: SessionBackend) {
    let mut session = record(hour(), serde_json::json!({"writer": -1, "payload": ""}));
    store.create(&mut session).await.unwrap();
    let writers: Vec<_> = (0..32)
        .map(|writer| {
            let store = store.clone();
            let mut mine = session.clone();
            mine.data.insert(
                "value".into(),
                serde_json::json!({"writer": writer, "payload": "x".repeat(2000 + writer)}),
            );
            tokio::spawn(async move { store.save(&mine).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let loaded = store.load(&session.id).await.unwrap().unwrap();
    let writer = loaded.data["value"]["writer"].as_u64().unwrap() as usize;
    assert!(writer < 32);
    assert_eq!(
        loaded.data["value"]["payload"].as_str().unwrap().len(),
        2000 + writer,
        "the stored record is one writer's whole record, never a mix"
    );
}

async fn large_records_round_trip(store: SessionBackend) {
    let claims: serde_json::Map<_, _> = (0..500)
        .map(|i| (format!("claim_{i}"), serde_json::json!("v".repeat(200))))
        .collect();
    let mut big = record(hour(), serde_json::Value::Object(claims));
    big.data
        .insert("blob".into(), serde_json::json!("ü".repeat(256 * 1024)));
    store.create(&mut big).await.unwrap();
    let loaded = store.load(&big.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, big.data);
}

async fn many_sessions_are_independent(store: SessionBackend) {
    let mut ids = Vec::new();
    for i in 0..200 {
        let mut session = record(hour(), serde_json::json!(i));
        store.create(&mut session).await.unwrap();
        ids.push(session.id);
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(store.load(id).await.unwrap().unwrap().data["value"], i);
    }
}

/// Many reads at once, of sessions that exist (each asked for twice) and of some that do not:
/// each read gets its own session or nothing (the SQLite store answers reads waiting together
/// with one query).
async fn concurrent_reads_each_get_their_own_session(store: SessionBackend) {
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..150 {
        let mut session = record(hour(), serde_json::json!(i));
        store.create(&mut session).await.unwrap();
        for _ in 0..2 {
            let (store, id) = (store.clone(), session.id);
            reads.spawn(async move { (Some(i), store.load(&id).await) });
        }
        if i % 3 == 0 {
            let store = store.clone();
            reads.spawn(async move { (None, store.load(&Id::default()).await) });
        }
    }
    let mut answered = 0;
    while let Some(read) = reads.join_next().await {
        let (expected, loaded) = read.unwrap();
        let value = loaded.unwrap().map(|record| record.data["value"].clone());
        assert_eq!(value, expected.map(|i| serde_json::json!(i)));
        answered += 1;
    }
    assert_eq!(answered, 350);
}

/// 16 concurrent claims of one key: exactly one wins; others keys are independent; a claim
/// can be made again once its time has passed.
async fn a_claim_has_exactly_one_winner(store: SessionBackend) {
    let claims: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_once("state-a", Duration::from_secs(60)).await })
        })
        .collect();
    let mut winners = 0;
    for claim in claims {
        winners += usize::from(claim.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1, "one winner among concurrent claims");
    assert!(
        !store
            .claim_once("state-a", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_once("state-b", Duration::from_secs(60))
            .await
            .unwrap()
    );

    assert!(
        store
            .claim_once("short", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_once("short", Duration::from_millis(300))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        store
            .claim_once("short", Duration::from_millis(300))
            .await
            .unwrap(),
        "a lapsed claim is free again"
    );
}

fn in_an_hour() -> OffsetDateTime {
    OffsetDateTime::now_utc() + hour()
}

/// Tokens: stored at version 1, replaced only from the version read (of 8 concurrent
/// replaces from one version exactly one lands), never seen after delete.
async fn tokens_are_replaced_by_compare_and_set(store: SessionBackend) {
    let id = Id::default();
    assert_eq!(store.load_tokens(&id).await.unwrap(), None);
    store.put_tokens(&id, b"first", in_an_hour()).await.unwrap();
    let stored = store.load_tokens(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.sealed.as_slice()),
        (1, &b"first"[..])
    );

    let replaces: Vec<_> = (0..8u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .replace_tokens(&id, 1, &[b'r', n], in_an_hour())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut landed = 0;
    for replace in replaces {
        landed += usize::from(replace.await.unwrap());
    }
    assert_eq!(landed, 1, "one replace from version 1 lands");
    let now = store.load_tokens(&id).await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(now.sealed[0], b'r');
    assert!(
        !store
            .replace_tokens(&id, 1, b"stale", in_an_hour())
            .await
            .unwrap(),
        "a writer holding version 1 cannot overwrite version 2"
    );

    let other = Id::default();
    assert!(
        !store
            .replace_tokens(&other, 1, b"x", in_an_hour())
            .await
            .unwrap(),
        "no tokens, nothing to replace"
    );
    store.delete_tokens(&id).await.unwrap();
    assert_eq!(store.load_tokens(&id).await.unwrap(), None);

    let soon = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    store.put_tokens(&other, b"short", soon).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.load_tokens(&other).await.unwrap(), None, "lapsed");
}

/// Leases: one holder among concurrent takers; only the holder releases; a lapsed lease is
/// free again.
async fn a_lease_has_one_holder_and_only_it_releases(store: SessionBackend) {
    let id = Id::default();
    let takers: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let holder = format!("holder-{n}");
                let taken = store
                    .acquire_lease(&id, &holder, Duration::from_secs(60))
                    .await
                    .unwrap();
                taken.then_some(holder)
            })
        })
        .collect();
    let mut holders = Vec::new();
    for taker in takers {
        holders.extend(taker.await.unwrap());
    }
    assert_eq!(holders.len(), 1, "one holder: {holders:?}");
    store.release_lease(&id, "someone-else").await.unwrap();
    assert!(
        !store
            .acquire_lease(&id, "late", Duration::from_secs(60))
            .await
            .unwrap(),
        "a stranger's release does not free the lease"
    );
    store.release_lease(&id, &holders[0]).await.unwrap();
    assert!(
        store
            .acquire_lease(&id, "next", Duration::from_millis(300))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        store
            .acquire_lease(&id, "after", Duration::from_secs(60))
            .await
            .unwrap(),
        "a lapsed lease is free again"
    );
}

/// The index: sessions filed under a key come back, others' do not, a removed or lapsed entry
/// is gone.
async fn the_index_finds_what_was_filed(store: SessionBackend) {
    let (a, b, c) = (Id::default(), Id::default(), Id::default());
    store
        .index_session("sub:alice", &a, in_an_hour())
        .await
        .unwrap();
    store
        .index_session("sub:alice", &b, in_an_hour())
        .await
        .unwrap();
    store
        .index_session("sub:bob", &c, in_an_hour())
        .await
        .unwrap();
    let mut alice = store.indexed_sessions("sub:alice").await.unwrap();
    alice.sort_by_key(|id| id.to_string());
    let mut expected = vec![a, b];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(alice, expected);
    assert_eq!(store.indexed_sessions("sub:bob").await.unwrap(), vec![c]);
    assert!(
        store
            .indexed_sessions("sub:nobody")
            .await
            .unwrap()
            .is_empty()
    );

    store.unindex_session("sub:alice", &a).await.unwrap();
    assert_eq!(store.indexed_sessions("sub:alice").await.unwrap(), vec![b]);

    let soon = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    store.index_session("sid:s1", &a, soon).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        store.indexed_sessions("sid:s1").await.unwrap().is_empty(),
        "a lapsed entry is not returned"
    );
}

macro_rules! conformance_suite {
    ($($backend:ident => $kind:expr),+ $(,)?) => {$(
        mod $backend {
            use super::*;

            conformance_cases!($kind;
                create_load_save_delete,
                save_never_resurrects_a_deleted_session,
                create_never_overwrites_on_id_collision,
                expired_sessions_do_not_load,
                concurrent_writes_to_one_session_stay_whole,
                large_records_round_trip,
                a_claim_has_exactly_one_winner,
                many_sessions_are_independent,
                concurrent_reads_each_get_their_own_session,
                tokens_are_replaced_by_compare_and_set,
                a_lease_has_one_holder_and_only_it_releases,
                the_index_finds_what_was_filed,
            );
        }
    )+};
}

/// One `#[tokio::test]` per case, each with its own freshly started backend.
macro_rules! conformance_cases {
    ($kind:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let fixture = Fixture::new($kind).await;
            super::$case(fixture.store.clone()).await;
        }
    )+};
}

conformance_suite! {
    memory => StoreKind::Memory,
    redis => StoreKind::Redis,
    sqlite => StoreKind::Sqlite,
    redis_cluster => Setup::RedisCluster,
    redis_sentinel => Setup::RedisSentinel,
    redis_prefixed => Setup::RedisPrefixed,
    redis_uncached => Setup::RedisUncached,
    postgres => StoreKind::Postgres,
}

/// Every key Sesame writes carries the prefix, so apps sharing a Redis never meet; without one,
/// a session's key is its bare ID, as before prefixes existed (sessions survive an upgrade).
#[tokio::test]
async fn a_key_prefix_goes_before_every_key() {
    let redis = RedisServer::start();
    let prefixed = SessionBackend::connect(&StoreConfig::Redis {
        url: redis.url(5),
        operation_timeout: StoreConfig::DEFAULT_OPERATION_TIMEOUT,
        key_prefix: "app1:".to_owned(),
        read_cache: 0,
    })
    .await
    .unwrap();
    let plain = SessionBackend::connect(&StoreConfig::redis(redis.url(5)))
        .await
        .unwrap();
    let mut session = record(hour(), serde_json::json!("x"));
    prefixed.create(&mut session).await.unwrap();
    prefixed
        .put_tokens(&session.id, b"t", in_an_hour())
        .await
        .unwrap();
    prefixed
        .index_session("sub:a", &session.id, in_an_hour())
        .await
        .unwrap();
    assert!(
        prefixed
            .claim_once("c", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(plain.load(&session.id).await.unwrap().is_none(), "apart");
    let keys = redis.cli(5, &["--scan"]);
    assert_eq!(keys.lines().count(), 4, "{keys}");
    for key in keys.lines() {
        assert!(key.starts_with("app1:"), "{keys}");
    }
    assert!(keys.contains(&format!("app1:{{{}}}", session.id)), "{keys}");

    let mut bare = record(hour(), serde_json::json!("y"));
    plain.create(&mut bare).await.unwrap();
    assert_eq!(redis.cli(5, &["EXISTS", &bare.id.to_string()]), "1");
}

#[tokio::test]
async fn a_database_in_a_cluster_url_or_a_brace_in_a_prefix_is_refused() {
    let err = SessionBackend::connect(&StoreConfig::redis("redis-cluster://127.0.0.1:1/2"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only database 0"), "{err}");
    let err = SessionBackend::connect(&StoreConfig::Redis {
        url: "redis://127.0.0.1:1/0".to_owned(),
        operation_timeout: StoreConfig::DEFAULT_OPERATION_TIMEOUT,
        key_prefix: "a{b}".to_owned(),
        read_cache: 0,
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("key prefix"), "{err}");
}
