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
    /// Present for a TLS-only server: its certificates.
    tls: Option<TlsFiles>,
}

/// A throwaway CA and a server certificate for `localhost`/127.0.0.1 signed by it.
struct TlsFiles {
    dir: TempDir,
}

impl TlsFiles {
    /// Makes them with the `openssl` command line tool.
    fn generate() -> Self {
        let dir = TempDir::new("redis-tls");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap_or_else(|err| {
                    panic!("cannot run openssl ({err}): install it with `apt-get install openssl`")
                });
            assert!(
                output.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        std::fs::write(
            dir.path().join("san.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap_or_else(|err| panic!("cannot write san.cnf: {err}"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Sesame test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "redis.key",
            "-out",
            "redis.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "redis.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-out",
            "redis.crt",
        ]);
        Self { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }
}

impl RedisServer {
    /// Starts one, or panics saying how to install Redis: tests fail, never skip.
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
            tls: None,
        };
        server.restart();
        server
    }

    /// Starts one that speaks only TLS, with a certificate from a throwaway CA (see
    /// [`Self::ca_certificate`]); needs the `openssl` command line tool.
    pub fn start_tls() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
            tls: Some(TlsFiles::generate()),
        };
        server.restart();
        server
    }

    /// The CA certificate (PEM file) that signed a TLS server's certificate.
    pub fn ca_certificate(&self) -> Option<String> {
        self.tls.as_ref().map(|tls| tls.path("ca.crt"))
    }

    /// `redis://127.0.0.1:{port}/{db}`, or `rediss://localhost:{port}/{db}` for a TLS server
    /// (its certificate names localhost).
    pub fn url(&self, db: u8) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}/{db}", self.port),
            Some(_) => format!("rediss://localhost:{}/{db}", self.port),
        }
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
        let mut command = Command::new("redis-server");
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(["--tls-cert-file", &tls.path("redis.crt")])
                .args(["--tls-key-file", &tls.path("redis.key")])
                .args(["--tls-ca-cert-file", &tls.path("ca.crt")])
                .args(["--tls-auth-clients", "no"]),
        };
        let child = command
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

    /// Runs one command over a raw plaintext connection and returns the first reply line, e.g.
    /// `command(&["DBSIZE"])` → `":3"`. Enough for tests to look inside; for a TLS server use
    /// [`Self::cli`].
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
        let mut command = Command::new("redis-cli");
        if let Some(tls) = &self.tls {
            command.args(["--tls", "--cacert", &tls.path("ca.crt")]);
        }
        let output = command
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
            let answered = match self.tls {
                None => {
                    TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                        && self.command(&["PING"]) == "+PONG"
                }
                // The raw protocol helper speaks no TLS; redis-cli does.
                Some(_) => {
                    TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                        && self.cli(0, &["PING"]) == "PONG"
                }
            };
            if answered {
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
