//! HTTP for the end-to-end tests: a [`Browser`] that keeps cookies but never follows redirects, so every
//! hop can be checked, and a [`Journal`] of every exchange for the after-the-fact secret checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{COOKIE, HeaderMap, HeaderValue, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::{Result, html};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a body an error message quotes.
const BODY_EXCERPT_CHARS: usize = 600;

/// Every request and response the browsers made, shared between them.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<Hop>>>);

impl Journal {
    /// A copy of every exchange so far.
    pub fn hops(&self) -> Vec<Hop> {
        self.0.lock().map(|hops| hops.clone()).unwrap_or_default()
    }

    /// Records one exchange.
    fn record(&self, hop: &Hop) {
        if let Ok(mut hops) = self.0.lock() {
            hops.push(hop.clone());
        }
    }
}

/// A client that either keeps its own cookie jar or always sends one fixed `Cookie` header.
pub struct Browser {
    /// reqwest's blocking client, redirects off.
    client: Client,
    /// The jar, for a cookie-keeping browser.
    jar: Option<Arc<Jar>>,
    /// Where exchanges are recorded.
    journal: Journal,
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new(journal: &Journal) -> Result<Self> {
        let jar = Arc::new(Jar::default());
        let client = builder().cookie_provider(jar.clone()).build()?;
        Ok(Self {
            client,
            jar: Some(jar),
            journal: journal.clone(),
        })
    }

    /// A browser without a jar that sends `cookie` (a `Cookie` header value) with every request,
    /// to replay a session or present it to another host.
    pub fn with_cookie(journal: &Journal, cookie: &str) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(cookie)?);
        let client = builder().default_headers(headers).build()?;
        Ok(Self {
            client,
            jar: None,
            journal: journal.clone(),
        })
    }

    /// The `Cookie` header the jar would send to `url`, if any.
    pub fn cookies(&self, url: &str) -> Option<String> {
        let url = Url::parse(url).ok()?;
        let header = self.jar.as_ref()?.cookies(&url)?;
        header.to_str().ok().map(str::to_owned)
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Hop> {
        self.send("GET", url, self.client.get(url))
    }

    /// `POST url` with `fields` as `application/x-www-form-urlencoded`.
    pub fn post_form(&self, url: &str, fields: &[(String, String)]) -> Result<Hop> {
        self.send("POST", url, self.client.post(url).form(fields))
    }

    /// Sends a request and records the exchange.
    fn send(&self, method: &'static str, url: &str, request: RequestBuilder) -> Result<Hop> {
        let response = request.send().map_err(|e| format!("{method} {url}: {e}"))?;
        let headers = response.headers();
        let location = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let set_cookie = headers.contains_key(SET_COOKIE);
        let hop = Hop {
            method,
            url: response.url().clone(),
            status: response.status().as_u16(),
            location,
            set_cookie,
            body: String::new(),
        };
        let body = response
            .text()
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
        let hop = Hop { body, ..hop };
        self.journal.record(&hop);
        Ok(hop)
    }
}

/// A client builder with the settings every browser shares: no redirects, a timeout, rustls.
fn builder() -> reqwest::blocking::ClientBuilder {
    Client::builder()
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
}

/// One request and its response.
#[derive(Clone, Debug)]
pub struct Hop {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The URL requested.
    pub url: Url,
    /// The response status.
    pub status: u16,
    /// The raw `Location` header, if any.
    pub location: Option<String>,
    /// Whether the response set (or cleared) a cookie.
    pub set_cookie: bool,
    /// The response body.
    pub body: String,
}

impl Hop {
    /// Fails unless the status is `want`.
    pub fn expect_status(&self, want: u16) -> Result<&Self> {
        ensure!(
            self.status == want,
            "{}: expected status {want}, got {}",
            self.describe(),
            self.status
        );
        Ok(self)
    }

    /// Fails unless the status is a client error (4xx).
    pub fn expect_client_error(&self) -> Result<&Self> {
        ensure!(
            (400..500).contains(&self.status),
            "{}: expected a 4xx status, got {}",
            self.describe(),
            self.status
        );
        Ok(self)
    }

    /// Asserts a 302 and returns its `Location`, resolved against the request URL.
    pub fn redirect(&self) -> Result<Url> {
        self.expect_status(302)?;
        self.location_url()
    }

    /// Asserts a 302 or 303 (either is right after a POST) and returns its resolved `Location`.
    pub fn redirect_after_post(&self) -> Result<Url> {
        ensure!(
            matches!(self.status, 302 | 303),
            "{}: expected status 302 or 303, got {}",
            self.describe(),
            self.status
        );
        self.location_url()
    }

    /// Fails unless the response set a cookie.
    pub fn expect_set_cookie(&self) -> Result<&Self> {
        ensure!(
            self.set_cookie,
            "{}: expected a Set-Cookie header",
            self.describe()
        );
        Ok(self)
    }

    /// Fails unless the page shows `text`, whether written raw or HTML-escaped in the body.
    pub fn expect_text(&self, text: &str) -> Result<&Self> {
        ensure!(
            self.shows(text),
            "{}: expected the page to show {text:?}",
            self.describe()
        );
        Ok(self)
    }

    /// Fails if the page shows `text` in any form (raw or HTML-escaped).
    pub fn expect_no_text(&self, text: &str) -> Result<&Self> {
        ensure!(
            !self.shows(text),
            "{}: the page must not show {text:?}",
            self.describe()
        );
        Ok(self)
    }

    /// Fails unless the raw body contains `text` byte for byte.
    pub fn expect_raw(&self, text: &str) -> Result<&Self> {
        ensure!(
            self.body.contains(text),
            "{}: expected the raw body to contain {text:?}",
            self.describe()
        );
        Ok(self)
    }

    /// Fails if the raw body contains `text` byte for byte.
    pub fn expect_no_raw(&self, text: &str) -> Result<&Self> {
        ensure!(
            !self.body.contains(text),
            "{}: the raw body must not contain {text:?}",
            self.describe()
        );
        Ok(self)
    }

    /// Whether the body contains `text` raw or once HTML references are decoded.
    pub fn shows(&self, text: &str) -> bool {
        self.body.contains(text) || html::unescape(&self.body).contains(text)
    }

    /// The `Location` header resolved against the request URL.
    fn location_url(&self) -> Result<Url> {
        let Some(location) = &self.location else {
            bail!("{}: redirect without a Location header", self.describe());
        };
        self.url
            .join(location)
            .map_err(|e| format!("{}: bad Location {location:?}: {e}", self.describe()).into())
    }

    /// `METHOD url -> status`, the Location if any, and the start of the body, for error messages.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {} -> {}", self.method, self.url, self.status);
        if let Some(location) = &self.location {
            text.push_str(&format!(" (Location: {location})"));
        }
        let excerpt: String = self.body.chars().take(BODY_EXCERPT_CHARS).collect();
        if !excerpt.trim().is_empty() {
            text.push_str(&format!(
                "\n      body: {}",
                excerpt.trim().replace('\n', "\n            ")
            ));
        }
        text
    }
}

/// The value of query parameter `name` in `url`, decoded.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The value of query parameter `name` in `url`, which must be present and non-empty.
pub fn required_param(url: &Url, name: &str) -> Result<String> {
    match param(url, name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => bail!("{url}: missing query parameter `{name}`"),
    }
}

/// Fails unless query parameter `name` in `url` is exactly `want`.
pub fn expect_param(url: &Url, name: &str, want: &str) -> Result<()> {
    let got = param(url, name);
    ensure!(
        got.as_deref() == Some(want),
        "{url}: expected {name}={want:?}, got {got:?}"
    );
    Ok(())
}

/// Fails unless `url` is `want` (both normalised by the URL parser).
pub fn expect_url(url: &Url, want: &str) -> Result<()> {
    let want = Url::parse(want).map_err(|e| format!("bad expected URL {want:?}: {e}"))?;
    ensure!(*url == want, "expected a redirect to {want}, got {url}");
    Ok(())
}

/// Fails unless `url` is `prefix` (scheme, host, port, path) followed by a query.
pub fn expect_url_prefix(url: &Url, prefix: &str) -> Result<()> {
    let without_query = &url.as_str()[..url.as_str().find('?').unwrap_or(url.as_str().len())];
    ensure!(
        without_query == prefix && url.query().is_some(),
        "expected a redirect to {prefix}?..., got {url}"
    );
    Ok(())
}
