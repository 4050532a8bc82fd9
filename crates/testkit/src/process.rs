//! Child processes that cannot outlive us: [`ChildGuard`], readiness polling and finding
//! programs on `PATH`.
//!
//! Every child is owned by a guard that stops it by PID when dropped, so children are stopped on every
//! exit path: success, `?` errors and panics (which unwind). A terminal Ctrl-C reaches the children
//! directly, because they share our foreground process group.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error;

// Where they were first, for the callers that import them from here.
pub use crate::ports::{ensure_port_free, free_port, free_ports};

/// How long a child gets to answer its readiness probe.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a child gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How many lines of a child's log an error message quotes.
const LOG_TAIL_LINES: usize = 30;

/// Where a child's stdout and stderr go.
pub enum Output {
    /// Appended to this file (created, with its directory, if missing), so a restart keeps the history.
    File(PathBuf),
    /// Forwarded to our own stdout and stderr, each line prefixed with the child's name.
    Prefixed,
}

/// Owns a running child process and stops it when dropped: SIGTERM, up to 3 s grace, then SIGKILL.
pub struct ChildGuard {
    /// A short name for messages (`sesame`, `mock-idp`, `redis`).
    name: String,
    /// The child, until it has been stopped and reaped.
    child: Option<Child>,
    /// The log file, when output goes to one.
    log: Option<PathBuf>,
}

impl ChildGuard {
    /// Starts `command` (stdin closed), sending its output to `output`.
    pub fn spawn(name: &str, mut command: Command, output: Output) -> io::Result<Self> {
        command.stdin(Stdio::null());
        let log = match output {
            Output::File(path) => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| error(format!("cannot open {}: {e}", path.display())))?;
                command.stdout(file.try_clone()?).stderr(file);
                Some(path)
            }
            Output::Prefixed => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                None
            }
        };
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .spawn()
            .map_err(|e| error(format!("cannot start {name} ({program}): {e}")))?;
        if let Some(stdout) = child.stdout.take() {
            forward(name, stdout, false);
        }
        if let Some(stderr) = child.stderr.take() {
            forward(name, stderr, true);
        }
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        })
    }

    /// The child's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process ID while it has not been stopped (for reading `/proc/<pid>/`).
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` once the child has exited (a stopped guard reports success).
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        match &mut self.child {
            Some(child) => child.try_wait(),
            None => Ok(Some(ExitStatus::default())),
        }
    }

    /// Sends `signal` (`-STOP`, `-CONT`, `-TERM`...) to the child by PID; whether `kill` succeeded.
    pub fn signal(&self, signal: &str) -> bool {
        // Until the child is reaped its PID cannot be reused, so signalling it by number is safe.
        self.child.as_ref().is_some_and(|child| {
            Command::new("kill")
                .args([signal, &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
    }

    /// Stops the child: SIGTERM by PID, up to 3 s to exit, then SIGKILL. Idempotent.
    pub fn stop(&mut self) -> io::Result<()> {
        if self.exited()?.is_none() && self.signal("-TERM") {
            let deadline = Instant::now() + STOP_GRACE;
            while self.exited()?.is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        self.kill()
    }

    /// Kills the child at once (SIGKILL: no shutdown, like a crash; nothing if it has exited) and
    /// reaps it. Idempotent.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Waits until `GET url` (a plain `http://host:port/path`) answers 200, failing if the child
    /// exits first or 20 s pass.
    pub fn wait_healthy(&mut self, url: &str) -> io::Result<()> {
        self.wait_until(url, || answers_ok(url))
    }

    /// Polls `ready` until it holds; fails with the log's tail if the child exits or time runs out.
    pub fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let problem = loop {
            if let Some(status) = self.exited()? {
                break format!("exited before it was ready ({status})");
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break format!(
                    "was not ready at {what} after {} s",
                    READY_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        };
        Err(error(format!("{} {problem}{}", self.name, self.log_tail())))
    }

    /// The last lines of the child's log, formatted for an error message (or a pointer to the terminal).
    pub fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return "; its output is above".to_owned();
        };
        let text = fs::read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n    ");
        format!("\n  last lines of {}:\n    {tail}", path.display())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("could not stop {}: {e}", self.name);
        }
    }
}

/// Copies a child's pipe to our stdout or stderr line by line, prefixed with its name.
fn forward(name: &str, pipe: impl Read + Send + 'static, to_stderr: bool) {
    let prefix = format!("[{name}] ");
    thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches('\r');
            if to_stderr {
                eprintln!("{prefix}{text}");
            } else {
                println!("{prefix}{text}");
            }
        }
    });
}

/// Whether `GET url` answers 200. A dozen lines of HTTP/1.1 rather than an HTTP client, so this
/// crate stays free of dependencies.
fn answers_ok(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let timeout = Some(Duration::from_secs(1));
    let Some(addr) = authority.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    let mut status = String::new();
    stream.set_read_timeout(timeout).is_ok()
        && stream.write_all(request.as_bytes()).is_ok()
        && BufReader::new(stream).read_line(&mut status).is_ok()
        && status.split_whitespace().nth(1) == Some("200")
}

/// The full path of `program` if it is on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file with an execute bit.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
