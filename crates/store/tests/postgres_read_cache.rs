//! The PostgreSQL store's read cache against a real server: a second read is served from memory,
//! whatever changes a session elsewhere (another instance, SQL by hand) stops being served
//! within the bound, and a lost listening connection empties the cache until it listens again.
//!
//! "From memory" is shown by changing a row with triggers off (`session_replication_role =
//! replica`, as a superuser): no notice is sent, so only a cache still serves the old row.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod cache_checks;

use cache_checks::{BOUND, record, until_reads};

use sesame_store::{SessionBackend, SessionTable, StoreConfig};
use sesame_testkit::PostgresDatabase;
use std::time::{Duration, Instant};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

async fn connect(database: &PostgresDatabase, read_cache: usize) -> SessionBackend {
    let mut config = StoreConfig::postgres(database.url(), SessionTable::default());
    if let StoreConfig::Postgres {
        read_cache: size, ..
    } = &mut config
    {
        *size = read_cache;
    }
    SessionBackend::connect(&config).await.unwrap()
}

fn postgres(store: &SessionBackend) -> &sesame_store::PostgresStore {
    match store {
        SessionBackend::Postgres(store) => store,
        _ => unreachable!("a PostgreSQL store"),
    }
}

/// Waits until the cache serves (it starts once its first heartbeat comes back).
async fn until_serving(store: &SessionBackend) {
    let started = Instant::now();
    while !postgres(store).read_cache_serving() {
        assert!(started.elapsed() < BOUND, "the read cache did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Deletes session `id` without firing triggers: a change no notice reports.
fn delete_unseen(database: &PostgresDatabase, id: &Id) {
    database
        .query(&format!(
            "set session_replication_role = replica; \
             delete from sesame.sessions where id = '{id}'"
        ))
        .unwrap();
}

#[tokio::test]
async fn a_second_read_is_served_from_memory_and_off_means_off() {
    let database = PostgresDatabase::create();
    let cached = connect(&database, 100).await;
    let uncached = connect(&database, 0).await;
    until_serving(&cached).await;
    assert!(!postgres(&uncached).read_cache_serving());
    let mut session = record("alice");
    cached.create(&mut session).await.unwrap();
    for store in [&cached, &uncached] {
        let loaded = store.load(&session.id).await.unwrap().unwrap();
        assert_eq!(loaded.data["name"], "alice");
    }
    assert_eq!(postgres(&cached).read_cache_len(), 1);

    delete_unseen(&database, &session.id);
    assert!(uncached.load(&session.id).await.unwrap().is_none());
    let served = cached.load(&session.id).await.unwrap().unwrap();
    assert_eq!(
        served.data["name"], "alice",
        "the second read came from memory"
    );
}

#[tokio::test]
async fn changes_by_another_instance_or_by_hand_stop_being_served_at_once() {
    let database = PostgresDatabase::create();
    let instance_a = connect(&database, 100).await;
    let instance_b = connect(&database, 100).await;
    until_serving(&instance_a).await;

    // Another instance saves, then deletes.
    let mut session = record("alice");
    instance_b.create(&mut session).await.unwrap();
    until_reads(&instance_a, &session.id, Some("alice")).await;
    let mut renamed = session.clone();
    renamed
        .data
        .insert("name".to_owned(), serde_json::json!("alice2"));
    instance_b.save(&renamed).await.unwrap();
    let took = until_reads(&instance_a, &session.id, Some("alice2")).await;
    println!("a save on B was seen on A after {took:?}");
    instance_b.delete(&session.id).await.unwrap();
    let took = until_reads(&instance_a, &session.id, None).await;
    println!("a delete on B was seen on A after {took:?}");

    // SQL by hand, triggers on.
    let mut session = record("bob");
    instance_b.create(&mut session).await.unwrap();
    until_reads(&instance_a, &session.id, Some("bob")).await;
    database
        .query(&format!(
            "delete from sesame.sessions where id = '{}'",
            session.id
        ))
        .unwrap();
    until_reads(&instance_a, &session.id, None).await;
}

#[tokio::test]
async fn a_lost_listening_connection_empties_the_cache_until_it_listens_again() {
    let database = PostgresDatabase::create();
    let store = connect(&database, 100).await;
    until_serving(&store).await;
    let mut session = record("carol");
    store.create(&mut session).await.unwrap();
    until_reads(&store, &session.id, Some("carol")).await;
    assert_eq!(postgres(&store).read_cache_len(), 1);

    // The listener's backend goes away, and a change no notice reports happens meanwhile:
    // without the pause it would be served for the entry's whole age (5 s).
    let terminated = database
        .query(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where datname = current_database() and query like 'LISTEN%'",
        )
        .unwrap();
    assert_eq!(terminated.trim(), "1", "one listening connection");
    delete_unseen(&database, &session.id);
    until_reads(&store, &session.id, None).await;

    // It listens again and serves again.
    until_serving(&store).await;
    let mut session = record("dave");
    store.create(&mut session).await.unwrap();
    until_reads(&store, &session.id, Some("dave")).await;
    delete_unseen(&database, &session.id);
    let served = store.load(&session.id).await.unwrap();
    assert!(
        served.is_some(),
        "the cache serves again after reconnecting"
    );
}
