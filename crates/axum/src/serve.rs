//! A server loop that holds up under abuse: [`serve`] and its [`ServeConfig`].
//!
//! `axum::serve` is a fine default for a demo, but it builds hyper's connection without a timer,
//! so it cannot time out a client that never finishes its request head, and it accepts until
//! the process runs out of file descriptors. This loop drives hyper's HTTP/1 connection itself:
//! a timer for the header-read timeout (which in hyper 1.x also runs while a connection waits
//! for its first byte and while an idle keep-alive connection waits for its next request), a
//! semaphore taken *before* `accept` so the kernel's listen backlog holds the excess, a request
//! timeout and a body limit around the app, and a shutdown that lets in-flight requests finish
//! for a bounded time.

use crate::env::{Env, setting};
use crate::vars;
use crate::{BuildError, ConfigError};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;
use tower_http::limit::RequestBodyLimit;

/// How the server loop of [`serve`] treats connections. [`Default`] is what the `sesame`
/// binary uses when no `SERVER_*` variable is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// A connection that has not sent a whole request head this long after it opened, or after
    /// its previous response, is closed. So this is also the keep-alive idle limit, and what
    /// frees the slot of a client that connects and sends nothing or half a request line.
    pub header_read_timeout: Duration,
    /// A request not answered within this is answered `503` (the handler is dropped). Keep it
    /// longer than a login callback's three provider calls (3 × `OIDC_HTTP_TIMEOUT`).
    pub request_timeout: Duration,
    /// The largest request body accepted, in bytes: a larger `Content-Length` is answered `413`
    /// at once, and a chunked body fails with `413` when it grows past it.
    pub body_limit: usize,
    /// At most this many connections at once; the rest wait in the kernel's listen backlog.
    /// `None`: three quarters of the open-file limit ([`ServeConfig::connection_cap`]).
    pub max_connections: Option<usize>,
    /// On shutdown, how long in-flight requests may take to finish before their connections
    /// are cut.
    pub shutdown_grace: Duration,
}

impl ServeConfig {
    /// `SERVER_HEADER_READ_TIMEOUT`'s default: generous for a real browser on a slow link (a
    /// request head is one packet), short enough that idle sockets do not pile up.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// `SERVER_REQUEST_TIMEOUT`'s default: twice a callback's worst case (three provider calls
    /// of the default 10 s `OIDC_HTTP_TIMEOUT`).
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// `SERVER_BODY_LIMIT`'s default: Sesame's own routes take no body worth the name; this
    /// leaves room for a host's forms.
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
    /// `SERVER_SHUTDOWN_GRACE`'s default: what `docker stop` waits before it kills.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// The configuration from the environment and `./.env`, like [`crate::Sesame::from_env`].
    pub fn from_env() -> Result<Self, BuildError> {
        let env = Env::load().map_err(|err| BuildError::Config(vec![err]))?;
        Self::from_lookup(|name| env.get(name)).map_err(BuildError::Config)
    }

    /// The configuration through `lookup` (a variable's value by name): the `SERVER_*`
    /// variables of [`crate::vars`], each defaulting to the [`Default`]. Every problem is
    /// reported at once, each naming its variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let var = |name: &'static str| setting(&lookup, name);
        let mut errors = Vec::new();
        let mut problem =
            |var: &'static str, problem: String| errors.push(ConfigError { var, problem });
        let mut duration = |name: &'static str, zero_allowed: bool, default: Duration| {
            let Some(text) = var(name) else {
                return default;
            };
            match humantime::parse_duration(&text) {
                Ok(value) if zero_allowed || !value.is_zero() => value,
                _ => {
                    problem(name, format!("`{text}` is not a duration (e.g. 10s, 1m)"));
                    default
                }
            }
        };
        let defaults = Self::default();
        let header_read_timeout = duration(
            vars::SERVER_HEADER_READ_TIMEOUT,
            false,
            defaults.header_read_timeout,
        );
        let request_timeout = duration(
            vars::SERVER_REQUEST_TIMEOUT,
            false,
            defaults.request_timeout,
        );
        // Zero is a choice here: stop at once, cutting whatever is in flight.
        let shutdown_grace = duration(vars::SERVER_SHUTDOWN_GRACE, true, defaults.shutdown_grace);

        let body_limit = match var(vars::SERVER_BODY_LIMIT) {
            None => defaults.body_limit,
            Some(text) => parse_size(&text).filter(|&n| n > 0).unwrap_or_else(|| {
                problem(
                    vars::SERVER_BODY_LIMIT,
                    format!("`{text}` is not a size in bytes (e.g. 65536, 64KiB, 1MiB)"),
                );
                defaults.body_limit
            }),
        };
        let max_connections =
            var(vars::SERVER_MAX_CONNECTIONS).and_then(|text| match text.parse::<usize>() {
                Ok(n) if (1..=MAX_CONNECTION_CAP).contains(&n) => Some(n),
                _ => {
                    problem(
                        vars::SERVER_MAX_CONNECTIONS,
                        format!(
                            "`{text}` is not a number of connections (1 to {MAX_CONNECTION_CAP})"
                        ),
                    );
                    None
                }
            });
        if errors.is_empty() {
            Ok(Self {
                header_read_timeout,
                request_timeout,
                body_limit,
                max_connections,
                shutdown_grace,
            })
        } else {
            Err(errors)
        }
    }

    /// The most connections [`serve`] holds open at once: [`ServeConfig::max_connections`]
    /// when set, else three quarters of the process's open-file soft limit (`ulimit -n`), and
    /// at least 32 files fewer, which leaves descriptors for the store, the provider's
    /// connections and the process's own files. Without a limit to read, 16384.
    pub fn connection_cap(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| cap_for_open_files(open_file_limit()))
            .clamp(1, MAX_CONNECTION_CAP)
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            body_limit: Self::DEFAULT_BODY_LIMIT,
            max_connections: None,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Far above any file limit people set; keeps the count within what a semaphore takes.
const MAX_CONNECTION_CAP: usize = 1 << 24;

/// The cap when the open-file limit is unknown or unlimited.
const CAP_WITHOUT_LIMIT: usize = 16_384;

/// The process's open-file soft limit, or `None` when it is unlimited or cannot be read.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Three quarters of `limit`, and at least 32 below it (never below 1).
fn cap_for_open_files(limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return CAP_WITHOUT_LIMIT;
    };
    let cap = (limit / 4 * 3).min(limit.saturating_sub(32)).max(1);
    usize::try_from(cap).unwrap_or(MAX_CONNECTION_CAP)
}

/// A byte count: `65536`, or with a unit (case-insensitive) `B`, `KB`/`MB`/`GB` (powers of
/// 1000) or `K`/`KiB`/`M`/`MiB`/`G`/`GiB` (powers of 1024).
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: usize = match unit.as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "k" | "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "m" | "mib" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "g" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// for at most [`ServeConfig::shutdown_grace`]. Use it in place of `axum::serve`:
///
/// ```no_run
/// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let config = sesame_axum::ServeConfig::from_env()?; // SERVER_* variables, or the defaults
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// sesame_axum::serve(listener, app, &config, sesame_axum::shutdown_signal()).await?;
/// # Ok(())
/// # }
/// ```
///
/// What a plain `axum::serve` lacks, and this does:
/// - **A header-read timeout.** `axum::serve` gives hyper no timer, so a client that connects
///   and sends nothing, or half a request line, holds its connection and a file descriptor
///   forever; a few hundred of them exhaust a server. Here hyper's timer closes a connection
///   that has not sent a whole request head within [`ServeConfig::header_read_timeout`],
///   counted from the moment it opened or finished its previous request (so idle keep-alive
///   connections are closed too).
/// - **A connection cap with back-pressure.** `axum::serve` accepts until `accept` fails with
///   `EMFILE`, then sleeps one second per failure, logging each, while the backlog fills and
///   nobody is served. Here a connection slot is taken *before* `accept`: at the cap, new
///   connections wait in the kernel's listen backlog and are accepted as slots free up. An
///   accept error is logged at most once a second and retried after a short, growing pause.
/// - **A request timeout** (`503` after [`ServeConfig::request_timeout`]) and **a body limit**
///   (`413` past [`ServeConfig::body_limit`]) around the whole app, where axum's own 2 MB limit
///   applies only to its body extractors.
/// - **The client's address.** Every request carries [`ConnectInfo<SocketAddr>`], as with
///   `into_make_service_with_connect_info`, which a plain `axum::serve(listener, app)` omits.
/// - **A bounded graceful shutdown.** `axum::serve(..).with_graceful_shutdown(..)` waits for
///   every connection to close, however long; a half-open one can hold the stop forever. Here
///   the listener is closed at once, idle connections are closed, busy ones finish their
///   current request, and whatever is left after the grace period is cut.
///
/// HTTP/1.1 only (no h2c), as `sesame` needs; upgrades (WebSockets) work as with
/// `axum::serve`. Put TLS in front (a proxy or a load balancer). Returns once every connection
/// is closed; accept errors never end it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = config.connection_cap();
    let slots = Arc::new(Semaphore::new(cap));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let app = RequestBodyLimit::new(app, config.body_limit);
    let request_timeout = config.request_timeout;
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut accept_errors = Throttle::new(Duration::from_secs(1));
    let mut at_cap = Throttle::new(Duration::from_secs(10));
    let mut backoff = MIN_ACCEPT_BACKOFF;

    loop {
        // Finished connections' tasks, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        if slots.available_permits() == 0
            && let Some(suppressed) = at_cap.allow()
        {
            tracing::warn!(
                max_connections = cap,
                suppressed,
                "connection cap reached: new connections wait in the listen backlog"
            );
        }
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // Never closed; a closed semaphore could only mean the loop is done.
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                backoff = MIN_ACCEPT_BACKOFF;
                connections.spawn(connection(
                    stream,
                    remote,
                    http.clone(),
                    app.clone(),
                    request_timeout,
                    stopping.clone(),
                    slot,
                ));
            }
            Err(err) => {
                if let Some(suppressed) = accept_errors.allow() {
                    tracing::warn!(error = %err, suppressed, "accept failed");
                }
                // A connection reset before it was accepted is that client's problem, not the
                // listener's: go on at once. Anything else (out of descriptors or memory) may
                // last, so pause, longer each time, without ever going deaf for a whole second.
                if !is_connection_error(&err) {
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            }
        }
    }

    // Refuse new connections from now on, then ask the open ones to finish.
    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        connections = connections.len(),
        grace = %humantime::format_duration(config.shutdown_grace),
        "no longer accepting; letting in-flight requests finish"
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "grace period over: cutting the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// The first pause after an accept error that may last; doubled per error up to the maximum.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

/// Errors of one connection that failed between the handshake and `accept`.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    )
}

/// One connection, holding its `slot` until it closes.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    http: http1::Builder,
    app: RequestBodyLimit<Router>,
    request_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Responses are written whole; Nagle's algorithm would only hold the last segment back.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        let app = app.clone();
        async move { Ok::<_, Infallible>(respond(app, request, request_timeout).await) }
    });
    let conn = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = pin!(conn);
    // The watch's guard is dropped inside, so the task stays `Send`.
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        // On shutdown (or if `serve` is gone): an idle connection closes now, a busy one after
        // its current response.
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        // Header-read timeouts and clients hanging up are routine; not worth a warning each.
        tracing::debug!(%remote, error = %err, "connection ended with an error");
    }
}

/// `app`'s response to `request`, or a `503` once `limit` has passed.
async fn respond(
    app: RequestBodyLimit<Router>,
    request: Request<Incoming>,
    limit: Duration,
) -> Response<Body> {
    // Cheap clones (the URI shares the request's buffer), kept for the timeout's log line.
    let method = request.method().clone();
    let uri = request.uri().clone();
    match tokio::time::timeout(limit, app.oneshot(request)).await {
        Ok(Ok(response)) => response.map(Body::new),
        Ok(Err(infallible)) => match infallible {},
        Err(_elapsed) => {
            // The path only: a query string can carry a login's code and state.
            tracing::warn!(
                %method,
                path = uri.path(),
                timeout = %humantime::format_duration(limit),
                "request timed out"
            );
            let mut response = Response::new(Body::from(
                "The server took too long to answer this request. Please try again.\n",
            ));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    }
}

/// Lets an event through at most once per `every`, counting the ones held back.
struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(events held back since the last one let through)`, or `None` to stay quiet.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServeConfig, Vec<ConfigError>> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        ServeConfig::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        assert_eq!(config(&[]).unwrap(), ServeConfig::default());
        let defaults = ServeConfig::default();
        // Longer than a callback's three provider calls at the default OIDC_HTTP_TIMEOUT.
        assert!(defaults.request_timeout > 3 * Duration::from_secs(10));
        assert_eq!(defaults.max_connections, None);
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("SERVER_HEADER_READ_TIMEOUT", "2s"),
            ("SERVER_REQUEST_TIMEOUT", "90s"),
            ("SERVER_BODY_LIMIT", "64KiB"),
            ("SERVER_MAX_CONNECTIONS", "500"),
            ("SERVER_SHUTDOWN_GRACE", "0s"),
        ])
        .unwrap();
        assert_eq!(
            config,
            ServeConfig {
                header_read_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(90),
                body_limit: 64 * 1024,
                max_connections: Some(500),
                shutdown_grace: Duration::ZERO,
            }
        );
        assert_eq!(config.connection_cap(), 500);
    }

    #[test]
    fn every_problem_is_reported_naming_its_variable() {
        let errors = config(&[
            ("SERVER_HEADER_READ_TIMEOUT", "0s"),
            ("SERVER_REQUEST_TIMEOUT", "soon"),
            ("SERVER_BODY_LIMIT", "1 parsec"),
            ("SERVER_MAX_CONNECTIONS", "0"),
            ("SERVER_SHUTDOWN_GRACE", "-1s"),
        ])
        .unwrap_err();
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for var in [
            "SERVER_HEADER_READ_TIMEOUT",
            "SERVER_REQUEST_TIMEOUT",
            "SERVER_BODY_LIMIT",
            "SERVER_MAX_CONNECTIONS",
            "SERVER_SHUTDOWN_GRACE",
        ] {
            assert_eq!(
                lines.iter().filter(|line| line.starts_with(var)).count(),
                1,
                "{var}: {lines:#?}"
            );
        }
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        for (text, bytes) in [
            ("65536", 65536),
            ("10 B", 10),
            ("64KiB", 65536),
            ("64k", 65536),
            ("64KB", 64_000),
            ("1MiB", 1 << 20),
            ("2mb", 2_000_000),
            ("1GiB", 1 << 30),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for text in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "12 parsecs",
            "99999999999999999999",
        ] {
            assert_eq!(parse_size(text), None, "{text}");
        }
    }

    #[test]
    fn the_default_cap_leaves_files_for_everything_else() {
        assert_eq!(cap_for_open_files(Some(256)), 192);
        assert_eq!(cap_for_open_files(Some(1024)), 768);
        assert_eq!(cap_for_open_files(Some(64)), 32);
        assert_eq!(cap_for_open_files(Some(10)), 1);
        assert_eq!(cap_for_open_files(None), CAP_WITHOUT_LIMIT);
        let cap = ServeConfig::default().connection_cap();
        assert!((1..=MAX_CONNECTION_CAP).contains(&cap));
        if let Some(limit) = open_file_limit() {
            assert!((cap as u64) < limit, "cap {cap} for a limit of {limit}");
        }
    }

    /// The rate limiter reads the client's address from `ConnectInfo`, as it would with
    /// `into_make_service_with_connect_info`.
    #[tokio::test]
    async fn every_request_carries_the_clients_address() {
        use axum::routing::get;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        async fn echo(ConnectInfo(remote): ConnectInfo<SocketAddr>) -> String {
            remote.to_string()
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(echo));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let config = ServeConfig::default();
            serve(listener, app, &config, async {
                let _ = stopped.await;
            })
            .await
        });

        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let client = stream.local_addr().unwrap().to_string();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(&client), "{client} not in {response}");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    /// Hosts spawn the loop on a multi-threaded runtime: it must stay `Send`. Compiling is the
    /// test.
    #[allow(dead_code)]
    fn the_loop_is_send(listener: TcpListener, app: Router, config: &ServeConfig) {
        fn send<T: Send>(_: T) {}
        send(serve(listener, app, config, std::future::pending()));
    }

    #[test]
    fn the_throttle_lets_one_event_through_per_period_and_counts_the_rest() {
        let mut throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        throttle.last = Instant::now().checked_sub(Duration::from_secs(7200));
        assert_eq!(throttle.allow(), Some(2));
    }
}
