//! A private `redis-server` on a free port, and just enough of Redis's wire protocol (RESP) to ask
//! it things. Never the machine's own Redis: tests, end-to-end runs and benchmarks stay hermetic.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{ChildGuard, Output, free_port};
use crate::{TempDir, error};

/// Starts `redis-server` on 127.0.0.1:`port` (no persistence, logging to `dir/redis.log`) and
/// waits until it answers `PING`; with `tls`, TLS-only with the certificates [`make_tls_files`]
/// left in `dir`.
pub(crate) fn spawn(dir: &Path, port: u16, tls: bool) -> io::Result<ChildGuard> {
    let port_arg = port.to_string();
    let mut command = Command::new("redis-server");
    command.current_dir(dir);
    if tls {
        command.args(["--port", "0", "--tls-port", &port_arg]).args(
            "--tls-cert-file redis.crt --tls-key-file redis.key --tls-ca-cert-file ca.crt \
             --tls-auth-clients no"
                .split(' '),
        );
    } else {
        command.args(["--port", &port_arg]);
    }
    command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    let mut redis = ChildGuard::spawn("redis", command, Output::File(dir.join("redis.log")))
        .map_err(|e| {
            error(format!(
                "{e}: install it with `apt-get install redis-server`"
            ))
        })?;
    redis.wait_until(&format!("port {port}"), || {
        if tls {
            // The wire client here speaks no TLS; redis-cli does.
            cli(dir, port, true, 0, &["PING"]).is_ok_and(|reply| reply == "PONG")
        } else {
            query(port, &["PING"]).is_ok_and(|reply| reply == Reply::Status("PONG".into()))
        }
    })?;
    Ok(redis)
}

/// One reply of the Redis protocol (arrays are not needed here, so not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5 hello`, or `None` for the nil reply `$-1`.
    Bulk(Option<String>),
}

impl fmt::Display for Reply {
    /// The reply as `redis-cli` would show its first line: `+OK`, `-ERR ...`, `:3`, the bulk text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Status(text) => write!(f, "+{text}"),
            Reply::Error(text) => write!(f, "-{text}"),
            Reply::Integer(n) => write!(f, ":{n}"),
            Reply::Bulk(text) => f.write_str(text.as_deref().unwrap_or("(nil)")),
        }
    }
}

/// Sends one command to the plaintext Redis on 127.0.0.1:`port` and reads its reply.
pub fn query(port: u16, args: &[&str]) -> io::Result<Reply> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let header = header.trim_end();
    let bad = || error(format!("Redis answered {args:?} with {header:?}"));
    let (kind, rest) = header.split_at_checked(1).ok_or_else(bad)?;
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => rest.parse().map(Reply::Integer).map_err(|_| bad()),
        "$" if rest == "-1" => Ok(Reply::Bulk(None)),
        "$" => {
            let length: usize = rest.parse().map_err(|_| bad())?;
            if length > 1 << 20 {
                return Err(error(format!("Redis reply too long ({length} bytes)")));
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body)?;
            Ok(Reply::Bulk(Some(
                String::from_utf8_lossy(&body).into_owned(),
            )))
        }
        _ => Err(bad()),
    }
}

/// Runs `redis-cli -p port -n db args...` (with TLS against `dir`'s CA) and returns its output.
fn cli(dir: &Path, port: u16, tls: bool, db: u8, args: &[&str]) -> io::Result<String> {
    let mut command = Command::new("redis-cli");
    if tls {
        command.args(["--tls", "--cacert"]).arg(dir.join("ca.crt"));
    }
    let output = command
        .args(["-p", &port.to_string(), "-n", &db.to_string()])
        .args(args)
        .output()
        .map_err(|e| {
            error(format!(
                "cannot run redis-cli ({e}): apt-get install redis-tools"
            ))
        })?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A throwaway CA, and a certificate for `localhost`/127.0.0.1 signed by it, made in `dir` by the
/// `openssl` command line tool.
fn make_tls_files(dir: &Path) -> io::Result<()> {
    std::fs::write(
        dir.join("san.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )?;
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sesame-test-ca -keyout ca.key -out ca.crt",
        "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout redis.key -out redis.csr",
        "x509 -req -in redis.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
         -extfile san.cnf -out redis.crt",
    ] {
        let output = Command::new("openssl")
            .current_dir(dir)
            .args(args.split_whitespace())
            .output()
            .map_err(|e| error(format!("cannot run openssl ({e}): apt-get install openssl")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(error(format!("openssl {args} failed: {stderr}")));
        }
    }
    Ok(())
}

/// A `redis-server` of our own on a free loopback port for a test, stopped on drop. Its methods
/// panic on failure, saying how to install what is missing: tests fail, never skip.
pub struct RedisServer {
    /// The server, until stopped (declared first: fields drop in order, so it stops before its
    /// directory is removed).
    child: Option<ChildGuard>,
    /// Its working directory: the log and, for TLS, the certificates.
    dir: TempDir,
    port: u16,
    tls: bool,
}

impl RedisServer {
    /// Starts one.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts one that speaks only TLS, with a certificate from a throwaway CA (see
    /// [`Self::ca_certificate`]); needs the `openssl` command line tool.
    pub fn start_tls() -> Self {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Self {
        let dir = TempDir::new("redis");
        if tls && let Err(e) = make_tls_files(dir.path()) {
            panic!("{e}");
        }
        let mut server = Self {
            child: None,
            dir,
            port: free_port(),
            tls,
        };
        server.restart();
        server
    }

    /// The CA certificate (PEM file) that signed a TLS server's certificate.
    pub fn ca_certificate(&self) -> Option<String> {
        self.tls
            .then(|| self.dir.path().join("ca.crt").display().to_string())
    }

    /// `redis://127.0.0.1:{port}/{db}`, or `rediss://localhost:{port}/{db}` for a TLS server
    /// (its certificate names localhost).
    pub fn url(&self, db: u8) -> String {
        if self.tls {
            format!("rediss://localhost:{}/{db}", self.port)
        } else {
            format!("redis://127.0.0.1:{}/{db}", self.port)
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (SIGKILL, like a crash or a network cut), keeping the port for [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(e) = child.kill()
        {
            panic!("cannot kill redis-server: {e}");
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
        let sent = self
            .child
            .as_ref()
            .is_some_and(|child| child.signal(signal));
        assert!(sent, "kill {signal} redis-server failed (is it running?)");
    }

    /// Starts it again on the same port, empty (it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.stop();
        match spawn(self.dir.path(), self.port, self.tls) {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!("{e}"),
        }
    }

    /// Runs one command over a plaintext connection and returns its reply as its first line
    /// reads, e.g. `command(&["DBSIZE"])` → `":3"`. For a TLS server use [`Self::cli`].
    pub fn command(&self, args: &[&str]) -> String {
        match query(self.port, args) {
            Ok(reply) => reply.to_string(),
            Err(e) => panic!("test redis {args:?}: {e}"),
        }
    }

    /// Runs `redis-cli -n {db} args...` against this server and returns its output, trimmed.
    /// For reading replies that are more than a line (INFO, KEYS).
    pub fn cli(&self, db: u8, args: &[&str]) -> String {
        cli(self.dir.path(), self.port, self.tls, db, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// How many times this server has run `command` (lowercase, as `get`) since it started or
    /// since `CONFIG RESETSTAT`, from `INFO commandstats`: what a test counts round trips by.
    pub fn calls(&self, command: &str) -> u64 {
        command_calls(&self.cli(0, &["INFO", "commandstats"]), command)
    }
}

/// `command`'s `calls=` in the text of `INFO commandstats`; 0 for a command not run yet (Redis
/// lists only commands it has run).
fn command_calls(commandstats: &str, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    commandstats
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| {
            calls
                .parse()
                .unwrap_or_else(|_| panic!("INFO commandstats: calls={calls}"))
        })
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused server would sit out SIGTERM's grace period: thaw it first.
        if let Some(child) = &self.child {
            child.signal("-CONT");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::command_calls;

    #[test]
    fn calls_are_read_from_commandstats_and_unlisted_commands_ran_none() {
        let stats = "# Commandstats\r\n\
                     cmdstat_get:calls=20,usec=50,usec_per_call=2.50,rejected_calls=0\r\n\
                     cmdstat_getex:calls=3,usec=9,usec_per_call=3.00,rejected_calls=0\r\n";
        assert_eq!(command_calls(stats, "get"), 20);
        assert_eq!(command_calls(stats, "getex"), 3);
        assert_eq!(command_calls(stats, "set"), 0);
    }
}
