//! The load generator's HTTP/1.1 client: one hyper connection over one `TcpStream`, kept alive,
//! with no pool, no redirects and no retries, so what is measured is one request after another.

use anyhow::{Context as _, Result, bail};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::http::response::Parts;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use url::Url;

/// How long one request may take before it counts as failed (in page views and in logins).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Request bodies: the load generator sends only GETs.
pub type Body = Empty<Bytes>;

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
    Ok(request.body(Body::new())?)
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

    /// Sends `request` and reads the whole response body.
    pub async fn send(&mut self, request: Request<Body>) -> Result<(Parts, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts, body))
    }
}
