//! One conformance suite, expanded for every backend (the tower-sessions habit): what the
//! server relies on must hold the same on memory, a real Redis and a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use sesame_store::{SessionBackend, StoreConfig, StoreKind};
use sesame_testkit::{RedisServer, TempDir};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

/// A connected store plus whatever must outlive it (the Redis process, the temp dir).
struct Fixture {
    store: SessionBackend,
    _redis: Option<RedisServer>,
    _dir: Option<TempDir>,
}

impl Fixture {
    async fn new(kind: StoreKind) -> Self {
        let (config, redis, dir) = match kind {
            StoreKind::Memory => (StoreConfig::Memory, None, None),
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

macro_rules! conformance_suite {
    ($($backend:ident => $kind:expr),+ $(,)?) => {$(
        mod $backend {
            use super::*;

            async fn store() -> (SessionBackend, Fixture) {
                let fixture = Fixture::new($kind).await;
                (fixture.store.clone(), fixture)
            }

            #[tokio::test]
            async fn create_load_save_delete() {
                let (store, _fixture) = store().await;
                super::create_load_save_delete(store).await;
            }

            #[tokio::test]
            async fn save_never_resurrects_a_deleted_session() {
                let (store, _fixture) = store().await;
                super::save_never_resurrects_a_deleted_session(store).await;
            }

            #[tokio::test]
            async fn create_never_overwrites_on_id_collision() {
                let (store, _fixture) = store().await;
                super::create_never_overwrites_on_id_collision(store).await;
            }

            #[tokio::test]
            async fn expired_sessions_do_not_load() {
                let (store, _fixture) = store().await;
                super::expired_sessions_do_not_load(store).await;
            }

            #[tokio::test]
            async fn concurrent_writes_to_one_session_stay_whole() {
                let (store, _fixture) = store().await;
                super::concurrent_writes_to_one_session_stay_whole(store).await;
            }

            #[tokio::test]
            async fn large_records_round_trip() {
                let (store, _fixture) = store().await;
                super::large_records_round_trip(store).await;
            }

            #[tokio::test]
            async fn a_claim_has_exactly_one_winner() {
                let (store, _fixture) = store().await;
                super::a_claim_has_exactly_one_winner(store).await;
            }

            #[tokio::test]
            async fn many_sessions_are_independent() {
                let (store, _fixture) = store().await;
                super::many_sessions_are_independent(store).await;
            }
        }
    )+};
}

conformance_suite! {
    memory => StoreKind::Memory,
    redis => StoreKind::Redis,
    sqlite => StoreKind::Sqlite,
}
