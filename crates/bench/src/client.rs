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
use tokio::net::TcpStream;
use url::Url;

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
    /// Sends `request` to `origin` over this agent's connection to it.
    pub async fn send(
        &mut self,
        origin: &Origin,
        request: Request<Body>,
    ) -> Result<(Parts, Bytes)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Response;

    fn head(response: Response<()>) -> Parts {
        response.into_parts().0
    }

    #[test]
    fn origins_stay_on_loopback() -> Result<()> {
        let origin = Origin::of(&Url::parse("http://127.0.0.1:8080/x?y=1")?)?;
        assert_eq!(origin.host, "127.0.0.1:8080");
        assert!(Origin::of(&Url::parse("http://192.0.2.1:80/")?).is_err());
        assert!(Origin::of(&Url::parse("https://127.0.0.1/")?).is_err());
        assert_eq!(
            target(&Url::parse("http://127.0.0.1:1/a/b?c=d")?)?,
            "/a/b?c=d"
        );
        Ok(())
    }

    #[test]
    fn reads_set_cookie_and_location() -> Result<()> {
        let response = Response::builder()
            .status(302)
            .header(header::LOCATION, "/callback?code=1")
            .header(header::SET_COOKIE, "other=1; Path=/")
            .header(header::SET_COOKIE, "sesame=abc.def; HttpOnly; Path=/")
            .body(())?;
        let parts = head(response);
        assert_eq!(
            set_cookie(&parts, "sesame").as_deref(),
            Some("sesame=abc.def")
        );
        assert_eq!(set_cookie(&parts, "missing"), None);
        let base = Url::parse("http://127.0.0.1:3000/login")?;
        assert_eq!(
            location(&parts, &base)?.as_str(),
            "http://127.0.0.1:3000/callback?code=1"
        );
        let cleared = head(
            Response::builder()
                .header(header::SET_COOKIE, "sesame=; Max-Age=0")
                .body(())?,
        );
        assert_eq!(set_cookie(&cleared, "sesame"), None);
        assert!(location(&cleared, &base).is_err());
        Ok(())
    }
}
