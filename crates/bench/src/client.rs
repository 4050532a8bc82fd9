//! The smallest HTTP/1.1 client that serves: one hyper connection over one `TcpStream`, kept alive,
//! with no pool, no redirects and no retries, so what is measured is one request after another.

use anyhow::{Context as _, Result, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::http::response::Parts;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use url::Url;

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Request bodies: empty for GETs, a form for the token endpoint.
pub type Body = Full<Bytes>;

/// Where a URL's requests go: its loopback socket address and its `Host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The server's address; always a loopback address.
    pub addr: SocketAddr,
    /// `host:port`, for the `Host` header.
    pub host: String,
}

impl Origin {
    /// The origin of an `http://` URL on a loopback address (the benchmark never leaves the machine).
    pub fn of(url: &Url) -> Result<Self> {
        if url.scheme() != "http" {
            bail!("{url}: only http:// URLs are supported");
        }
        let host = url.host_str().context("the URL has no host")?;
        let port = url.port_or_known_default().context("the URL has no port")?;
        let addr = url
            .socket_addrs(|| None)?
            .into_iter()
            .find(|addr| addr.ip().is_loopback())
            .with_context(|| {
                format!("{url}: not a loopback address (the benchmark stays on 127.0.0.1)")
            })?;
        Ok(Self {
            addr,
            host: format!("{host}:{port}"),
        })
    }
}

/// The request target (`/path?query`) of a URL.
pub fn target(url: &Url) -> Result<Uri> {
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    Ok(target.parse()?)
}

/// A GET request for `target` on `origin`, with a `Cookie` header when given.
pub fn get(origin: &Origin, target: Uri, cookie: Option<&str>) -> Result<Request<Body>> {
    let mut request = Request::get(target).header(header::HOST, &origin.host);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    Ok(request.body(Body::default())?)
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    sender: SendRequest<Body>,
}

impl Connection {
    /// Connects to `addr` (TCP_NODELAY, as browsers and servers use) and spawns the connection's
    /// driver on the current runtime.
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP handshake with {addr} failed"))?;
        tokio::spawn(async move {
            // Ends when the server closes or the sender is dropped; either way there is
            // nothing to do with the result: the next request on it reports the failure.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Whether the connection can take no more requests.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends `request` and reads the whole response body.
    pub async fn send(&mut self, request: Request<Body>) -> Result<(Parts, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts, body))
    }
}

/// One connection per origin, opened on first use and reopened if the server closed it: what a
/// browser tab does, without the pool.
#[derive(Default)]
pub struct Agent {
    connections: HashMap<SocketAddr, Connection>,
}

impl Agent {
    /// `GET url` with an optional cookie.
    pub async fn get(&mut self, url: &Url, cookie: Option<&str>) -> Result<(Parts, Bytes)> {
        let request = get(&Origin::of(url)?, target(url)?, cookie)?;
        self.send(url, request).await
    }

    /// Sends `request` to `url`'s origin over this agent's connection to it, within
    /// [`REQUEST_TIMEOUT`].
    pub async fn send(&mut self, url: &Url, request: Request<Body>) -> Result<(Parts, Bytes)> {
        let origin = Origin::of(url)?;
        tokio::time::timeout(REQUEST_TIMEOUT, self.send_to(&origin, request))
            .await
            .with_context(|| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
            .with_context(|| format!("request to {}", url.path()))
    }

    async fn send_to(&mut self, origin: &Origin, request: Request<Body>) -> Result<(Parts, Bytes)> {
        let reusable = self
            .connections
            .get(&origin.addr)
            .is_some_and(|connection| !connection.is_closed());
        if !reusable {
            let connection = Connection::open(origin.addr).await?;
            self.connections.insert(origin.addr, connection);
        }
        let connection = self
            .connections
            .get_mut(&origin.addr)
            .context("connection vanished")?;
        connection.send(request).await
    }
}

/// The `Location` of a redirect, resolved against `base`; an error naming the status otherwise.
pub fn location(parts: &Parts, base: &Url) -> Result<Url> {
    if !parts.status.is_redirection() {
        bail!("expected a redirect, got {}", parts.status);
    }
    let location = parts
        .headers
        .get(header::LOCATION)
        .context("a redirect without Location")?
        .to_str()?;
    Ok(base.join(location)?)
}

/// The `name=value` pair a response's `Set-Cookie` sets for `name`, or `None` when it sets none
/// (or clears it).
pub fn set_cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .map(str::trim)
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(n, v)| n == name && !v.is_empty())
        })
        .map(str::to_owned)
}
