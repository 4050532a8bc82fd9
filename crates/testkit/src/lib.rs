//! Helpers shared by Sesame's tests and tooling (`cargo xtask`, the benchmark), each with one home.
//! Everything here starts real things (processes, a `redis-server`, files) and cleans them up on
//! drop, so runs stay hermetic: they never touch the machine's own Redis on 6379, an existing
//! PostgreSQL database or the repository's files. Standard library only, so every crate can afford it.
//!
//! - [`process`]: [`process::ChildGuard`] (a child stopped by PID on every exit path), readiness
//!   polling, finding programs.
//! - [`ports`]: free ports outside the kernel's ephemeral range, so no connection takes one before
//!   the child that was given it binds it.
//! - [`redis`]: a private `redis-server` ([`RedisServer`] for tests) and a Redis wire client.
//! - [`redis_ha`]: a Redis Cluster and a Sentinel setup, with failovers on demand.
//! - [`postgres`]: a fresh database on the machine's PostgreSQL ([`PostgresDatabase`]), dropped on
//!   drop.
//! - [`procfs`]: CPU time and memory of processes and of the machine, from `/proc`.
//! - [`bins`]: starting `sesame` and `mock-idp` with an explicit environment, and the stores.
//! - [`leaks`]: finding a JWT where none may be (pages, logs, store dumps).
//! - [`TempDir`]: a directory removed on drop.

pub mod bins;
pub mod leaks;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod procfs;
pub mod redis;
pub mod redis_ha;

pub use leaks::{assert_no_jwt, find_jwt};
pub use ports::{free_listener, free_port};
pub use postgres::PostgresDatabase;
pub use redis::RedisServer;
pub use redis_ha::{RedisCluster, RedisSentinel};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// An error carrying `message`: every failure here is for a human to read.
pub(crate) fn error(message: impl Into<String>) -> io::Error {
    io::Error::other(message.into())
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Makes one, unique within this process and across processes; panics if it cannot (for tests).
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sesame-test-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A `sqlite://` URL for a database file inside it, created on first use.
    pub fn sqlite_url(&self, file: &str) -> String {
        format!("sqlite://{}?mode=rwc", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
