//! Test helpers shared by Sesame's crates. Everything here starts real things (a real
//! `redis-server`, real files) and cleans them up on drop, so tests stay hermetic: they never
//! touch the machine's own Redis on 6379 or the repository's files.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A port that was free a moment ago (bind to port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("cannot find a free port: {err}"))
}

/// A `redis-server` of our own on a free loopback port, killed on drop.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or panics saying how to install Redis: tests fail, never skip.
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:{port}/{db}`.
    pub fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (SIGKILL, like a crash or a network cut), keeping the port for [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes it (SIGSTOP): connections stay open but nothing answers, like a hung server or
    /// a black-holed network. Data survives; [`Self::resume`] thaws it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let Some(child) = &self.child else {
            panic!("redis-server is not running");
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap_or_else(|err| panic!("cannot run kill: {err}"));
        assert!(status.success(), "kill {signal} failed");
    }

    /// Starts it again on the same port, empty (it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start redis-server ({err}): install it with `apt-get install redis-server`"
                )
            });
        self.child = Some(child);
        self.wait_until_ready();
    }

    /// Runs one command over a raw connection and returns the first reply line, e.g.
    /// `command(&["DBSIZE"])` → `":3"`. Enough for tests to look inside.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|err| panic!("cannot connect to test redis: {err}"));
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|err| panic!("cannot write to test redis: {err}"));
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .unwrap_or_else(|err| panic!("cannot read from test redis: {err}"));
        line.trim_end().to_owned()
    }

    /// Runs `redis-cli -n {db} args...` against this server and returns its output, trimmed.
    /// For reading replies that are more than a line (INFO, KEYS).
    pub fn cli(&self, db: u8, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "-n", &db.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run redis-cli ({err}): install it with `apt-get install redis-tools`"
                )
            });
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.command(&["PING"]) == "+PONG"
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused process ignores SIGKILL until continued on some systems' tooling; thaw first.
        if self.child.is_some() {
            let _ = Command::new("kill")
                .args([
                    "-CONT",
                    &self.child.as_ref().map_or(0, Child::id).to_string(),
                ])
                .status();
        }
        self.stop();
    }
}

/// A fresh directory under the target dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Makes one, unique within this process and across processes.
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
