//! A fresh PostgreSQL database on the machine's server (127.0.0.1:5432, user `postgres` without a
//! password), created under a random name and dropped on drop: every test, end-to-end run and
//! benchmark gets its own, so they run in parallel and leave nothing behind. Driven through
//! `psql`, keeping this crate free of database drivers.

use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error;

/// The server and role the tests use; `.ci/run` installs, starts and opens it on a fresh machine.
const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// What to do when the server is missing: the same advice wherever it is needed.
const SETUP: &str = "the tests need PostgreSQL at 127.0.0.1:5432 accepting user postgres \
                     without a password: `.ci/run` sets this up (apt-get install postgresql, \
                     pg_ctlcluster <version> main start, `host all all 127.0.0.1/32 trust` in \
                     pg_hba.conf)";

/// A database of its own, dropped (with its connections) on drop.
pub struct PostgresDatabase {
    name: String,
}

impl PostgresDatabase {
    /// Creates one; panics with what to install or start if PostgreSQL is not there (for tests).
    pub fn create() -> Self {
        Self::try_create().unwrap_or_else(|err| panic!("{err}"))
    }

    /// Creates one, or says what to install or start.
    pub fn try_create() -> io::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sesame_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            random_suffix()?
        );
        psql("postgres", &format!("create database {name}"))?;
        Ok(Self { name })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL, for `DATABASE_URL`.
    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    /// Runs `sql` in the database; returns the output, one row a line, columns split by `|`.
    pub fn query(&self, sql: &str) -> io::Result<String> {
        psql(&self.name, sql)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // FORCE (PostgreSQL 13+) ends the connections a still-running app or pool holds.
        let dropped = psql(
            "postgres",
            &format!("drop database if exists {} with (force)", self.name),
        );
        if let Err(err) = dropped {
            eprintln!("could not drop the test database {}: {err}", self.name);
        }
    }
}

/// Whether `psql` can reach the server: for tools that check before they start.
pub fn available() -> io::Result<()> {
    psql("postgres", "select 1").map(|_| ())
}

/// `sql` through `psql` in `database`: unaligned, tuples only, stopping at the first error.
fn psql(database: &str, sql: &str) -> io::Result<String> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg("-d")
        .arg(format!("{SERVER}/{database}"))
        .arg("-c")
        .arg(sql)
        // A server that does not answer fails the test quickly instead of hanging it.
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .map_err(|err| {
            if err.kind() == io::ErrorKind::NotFound {
                error(format!("psql not found: {SETUP}"))
            } else {
                error(format!("cannot run psql: {err}"))
            }
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(error(format!(
            "psql `{sql}` failed: {}\n{SETUP}",
            stderr.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Eight random hex digits from the kernel, so names do not repeat across runs.
fn random_suffix() -> io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
