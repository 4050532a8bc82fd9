//! The testkit's helpers against the real things they start and read.

use std::io;

use sesame_testkit::bins::Store;
use sesame_testkit::process::free_ports;
use sesame_testkit::{RedisServer, procfs};

#[test]
fn a_private_server_answers_the_wire_client() {
    let mut redis = RedisServer::start();
    assert_eq!(redis.command(&["PING"]), "+PONG");
    assert_eq!(redis.command(&["SET", "greeting", "hello world"]), "+OK");
    assert_eq!(redis.command(&["GET", "greeting"]), "hello world");
    assert_eq!(redis.command(&["GET", "missing"]), "(nil)");
    assert_eq!(redis.command(&["DBSIZE"]), ":1");
    assert!(redis.command(&["NO-SUCH-COMMAND"]).starts_with("-ERR"));
    assert_eq!(redis.cli(0, &["DBSIZE"]), "1");
    redis.pause();
    redis.resume();
    assert_eq!(redis.command(&["DBSIZE"]), ":1");
    redis.restart();
    assert_eq!(redis.command(&["DBSIZE"]), ":0", "a restart starts empty");
}

#[test]
fn a_tls_server_answers_redis_cli() {
    let redis = RedisServer::start_tls();
    assert!(redis.url(2).starts_with("rediss://localhost:"));
    assert!(
        redis
            .ca_certificate()
            .is_some_and(|ca| ca.ends_with("ca.crt"))
    );
    assert_eq!(redis.cli(0, &["DBSIZE"]), "0");
}

#[test]
fn reads_this_process_and_machine() -> io::Result<()> {
    let me = std::process::id();
    assert!(procfs::rss_kib(me)? > 0);
    assert!(procfs::cpu_seconds(me)? >= 0.0);
    assert!(procfs::machine_busy_seconds()? > 0.0);
    assert!(procfs::memory_kib()? > procfs::rss_kib(me)?);
    assert!(!procfs::kernel().is_empty() && procfs::cpu_model() != "unknown");
    Ok(())
}

#[test]
fn ports_are_distinct_and_stores_parse() -> io::Result<()> {
    let [a, b, c] = free_ports()?;
    assert!(a != b && b != c && a != c);
    assert_eq!("redis".parse(), Ok(Store::Redis));
    let unknown = "mongo".parse::<Store>().unwrap_err();
    assert_eq!("postgres".parse(), Ok(Store::Postgres));
    assert!(
        unknown.contains("memory, redis, sqlite, postgres"),
        "{unknown}"
    );
    assert_eq!(Store::chosen(&[], &Store::ALL), Store::ALL);
    assert_eq!(Store::chosen(&[], &Store::BENCHED), Store::BENCHED);
    let named = [Store::Sqlite, Store::Memory, Store::Sqlite];
    assert_eq!(
        Store::chosen(&named, &Store::ALL),
        [Store::Sqlite, Store::Memory]
    );
    Ok(())
}
