//! The Redis store's read cache against a real Redis: it saves the round trips it promises, and
//! whatever changes a session elsewhere (another instance, a `DEL` by hand, a write while its
//! connection was down) stops being served within the bound, never later.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod cache_checks;

use cache_checks::{BOUND, record, until_reads, until_reads_within};

use sesame_store::{SessionBackend, StoreConfig};
use sesame_testkit::RedisServer;
use std::time::{Duration, Instant};
use tower_sessions::SessionStore;

async fn connect(redis: &RedisServer, read_cache: usize) -> SessionBackend {
    let mut config = StoreConfig::redis(redis.url(0));
    if let StoreConfig::Redis {
        read_cache: size, ..
    } = &mut config
    {
        *size = read_cache;
    }
    SessionBackend::connect(&config).await.unwrap()
}

fn cache_len(store: &SessionBackend) -> usize {
    match store {
        SessionBackend::Redis(redis) => redis.read_cache_len(),
        _ => unreachable!("a Redis store"),
    }
}

/// `GET`s Redis has answered so far.
fn gets_served(redis: &RedisServer) -> u64 {
    redis.calls("get")
}

#[tokio::test]
async fn a_second_read_costs_no_round_trip() {
    let redis = RedisServer::start();
    let cached = connect(&redis, 100).await;
    let mut session = record("alice");
    cached.create(&mut session).await.unwrap();
    let before = gets_served(&redis);
    for _ in 0..100 {
        let loaded = cached.load(&session.id).await.unwrap().unwrap();
        assert_eq!(loaded.data["name"], "alice");
    }
    assert_eq!(gets_served(&redis) - before, 1, "one GET, then the cache");
    assert_eq!(cache_len(&cached), 1);

    let uncached = connect(&redis, 0).await;
    let before = gets_served(&redis);
    for _ in 0..10 {
        uncached.load(&session.id).await.unwrap().unwrap();
    }
    assert_eq!(gets_served(&redis) - before, 10, "off means off");
}

#[tokio::test]
async fn changes_by_another_instance_or_by_hand_stop_being_served_at_once() {
    let redis = RedisServer::start();
    let instance_a = connect(&redis, 100).await;
    let instance_b = connect(&redis, 100).await;
    let mut session = record("alice");
    instance_b.create(&mut session).await.unwrap();
    for _ in 0..2 {
        instance_a.load(&session.id).await.unwrap().unwrap(); // now cached on A
    }

    // Another instance changes the session (a touch, a refreshed hint): A reads the change.
    let mut changed = session.clone();
    changed
        .data
        .insert("name".to_owned(), serde_json::json!("alice2"));
    instance_b.save(&changed).await.unwrap();
    let took = until_reads(&instance_a, &session.id, Some("alice2")).await;
    println!("a save on B was seen on A after {took:?}");

    // Another instance logs the session out.
    instance_a.load(&session.id).await.unwrap().unwrap();
    instance_b.delete(&session.id).await.unwrap();
    let took = until_reads(&instance_a, &session.id, None).await;
    println!("a delete on B was seen on A after {took:?}");

    // Someone deletes the key by hand.
    let mut other = record("bob");
    instance_b.create(&mut other).await.unwrap();
    instance_a.load(&other.id).await.unwrap().unwrap();
    instance_a.load(&other.id).await.unwrap().unwrap();
    redis.cli(0, &["DEL", &other.id.to_string()]);
    until_reads(&instance_a, &other.id, None).await;

    // A FLUSHDB, whose keyless invalidation fred 10 drops: the entries' age limit (5 s) bounds
    // it instead.
    let mut carol = record("carol");
    instance_b.create(&mut carol).await.unwrap();
    instance_a.load(&carol.id).await.unwrap().unwrap();
    redis.cli(0, &["FLUSHDB"]);
    let took = until_reads_within(&instance_a, &carol.id, None, Duration::from_secs(7)).await;
    println!("a FLUSHDB was seen on A after {took:?}");
}

/// Redis forgets a connection's tracking when the connection goes, so what changes while it is
/// down is never announced: the cache must empty itself on reconnecting, not serve the old copy.
#[tokio::test]
async fn a_write_while_the_tracking_connection_was_down_is_not_missed() {
    let redis = RedisServer::start();
    let instance_a = connect(&redis, 100).await;
    let mut session = record("alice");
    instance_a.create(&mut session).await.unwrap();
    instance_a.load(&session.id).await.unwrap().unwrap();
    instance_a.load(&session.id).await.unwrap().unwrap();
    assert_eq!(cache_len(&instance_a), 1);

    // Cut every client that tracks (A's cache connection), then delete at once, before A can
    // reconnect and track again: Redis sends A no invalidation for this.
    redis.cli(0, &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    redis.cli(0, &["DEL", &session.id.to_string()]);
    let took = until_reads(&instance_a, &session.id, None).await;
    println!("after a reconnect, the stale copy was dropped within {took:?}");

    // It caches again once tracking is back on.
    let mut bob = record("bob");
    instance_a.create(&mut bob).await.unwrap();
    let started = Instant::now();
    while cache_len(&instance_a) == 0 {
        instance_a.load(&bob.id).await.unwrap().unwrap();
        assert!(started.elapsed() < BOUND, "the cache never resumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Redis that hangs could also be missing invalidations: within about a second the cache stops
/// answering for it, and reads fail as they do without a cache (a 503 upstream).
#[tokio::test]
async fn a_hung_redis_pauses_the_cache() {
    let redis = RedisServer::start();
    let instance_a = connect(&redis, 100).await;
    let mut session = record("alice");
    instance_a.create(&mut session).await.unwrap();
    instance_a.load(&session.id).await.unwrap().unwrap();
    redis.pause();
    let started = Instant::now();
    loop {
        match instance_a.load(&session.id).await {
            Err(_) => break,
            Ok(record) => assert!(record.is_some(), "a cached read is the record or an error"),
        }
        assert!(started.elapsed() < BOUND, "still served from the cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("paused after {:?}", started.elapsed());
    redis.resume();
    let started = Instant::now();
    while instance_a.load(&session.id).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "never healed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
