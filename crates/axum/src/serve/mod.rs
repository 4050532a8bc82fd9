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

mod config;

pub use config::ServeConfig;

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
