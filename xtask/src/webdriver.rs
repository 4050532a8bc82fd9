//! A minimal W3C WebDriver client for the browser tests: `chromedriver` started on a free port,
//! driving Debian's headless Chromium.
//!
//! Why not fantoccini or thirtyfour (WebDriver) or chromiumoxide (CDP)? All three are async and would
//! bring tokio, a second HTTP stack and dozens of crates into xtask, which is a plain blocking program
//! with few dependencies. The handful of commands the tests need (new session, navigate, find, click,
//! type, read text, run a script, screenshot, delete) are one JSON request each over the reqwest
//! blocking client xtask already has, so this file is the whole client. WebDriver rather than CDP also
//! means chromedriver, not us, keeps up with Chromium's protocol changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::emptied;
use sesame_testkit::process::{ChildGuard, Output, find_program, free_ports};

/// How `apt` spells the fix when the browser or its driver is missing.
pub const INSTALL_HINT: &str = "install with: apt-get install chromium chromium-driver";

/// Where Debian's `chromium` package puts the browser binary (`/usr/bin/chromium` is a shell wrapper
/// that adds flags from `/etc/chromium.d`; chromedriver needs the wrapper's location only).
const CHROMIUM: &str = "/usr/bin/chromium";

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take (a navigation waits for the page to load).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long element lookups wait for the element to appear (WebDriver's implicit wait).
const IMPLICIT_WAIT_MS: u64 = 5_000;

/// The browser and driver binaries, found on this machine.
pub struct Tools {
    /// The Chromium binary chromedriver starts.
    pub chromium: PathBuf,
    /// `chromedriver`.
    pub chromedriver: PathBuf,
}

/// Finds Chromium and chromedriver, failing with [`INSTALL_HINT`] when either is missing.
pub fn find_tools() -> Result<Tools> {
    let chromium = Some(PathBuf::from(CHROMIUM))
        .filter(|path| path.is_file())
        .or_else(|| find_program("chromium"));
    let chromium = chromium.with_context(|| {
        format!("chromium not found (looked for {CHROMIUM} and on PATH): {INSTALL_HINT}")
    })?;
    let chromedriver = find_program("chromedriver")
        .with_context(|| format!("chromedriver not found on PATH: {INSTALL_HINT}"))?;
    Ok(Tools {
        chromium,
        chromedriver,
    })
}

/// A headless Chromium window, driven through a `chromedriver` of its own; both stop when dropped.
pub struct Browser {
    /// The HTTP client commands go through.
    http: Client,
    /// `http://127.0.0.1:<port>/session/<id>`: where the window's commands go.
    session: String,
    /// The chromedriver process (dropped after [`Browser`]'s `drop` has closed the window).
    _driver: ChildGuard,
}

/// An element of the current page, by WebDriver reference.
pub struct Element {
    /// The CSS selector it was found by, for messages.
    selector: String,
    /// The element reference.
    id: String,
}

impl Browser {
    /// Starts chromedriver on a free port, logging to `dir`, and opens a window of `width`×`height`
    /// with a fresh profile in `dir/chromium-profile`.
    pub fn start(dir: &Path, (width, height): (u32, u32)) -> Result<Self> {
        let tools = find_tools()?;
        let [port] = free_ports()?;
        let mut command = Command::new(&tools.chromedriver);
        command.args([
            format!("--port={port}"),
            "--allowed-ips=127.0.0.1".to_owned(),
            format!("--log-path={}", dir.join("chromedriver.log").display()),
        ]);
        let out = Output::File(dir.join("chromedriver.out"));
        let mut driver = ChildGuard::spawn("chromedriver", command, out)?;
        let base = format!("http://127.0.0.1:{port}");
        driver.wait_healthy(&format!("{base}/status"))?;
        let http = Client::builder().timeout(COMMAND_TIMEOUT).build()?;

        let profile = emptied(dir.join("chromium-profile"))?;
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            // This machine's network is closed: without these Chromium keeps dialling Google.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": IMPLICIT_WAIT_MS, "pageLoad": 30_000, "script": 10_000 },
                    "goog:chromeOptions": {
                        "binary": tools.chromium.to_string_lossy(),
                        "args": args,
                    },
                }
            }
        });
        let url = format!("{base}/session");
        let value = call(&http, &url, Some(capabilities), "new session")?;
        let Some(id) = value.get("sessionId").and_then(Value::as_str) else {
            bail!("webdriver new session: no sessionId in {value}");
        };
        Ok(Self {
            http,
            session: format!("{url}/{id}"),
            _driver: driver,
        })
    }

    /// Sends a command to the window: a GET without `body`, a POST with it.
    fn call(&self, path: &str, body: Option<Value>, what: &str) -> Result<Value> {
        call(&self.http, &format!("{}{path}", self.session), body, what)
    }

    /// Sends `command` (`click`, `text`, `property/src`...) to `element`, as [`Self::call`].
    fn on(&self, element: &Element, command: &str, body: Option<Value>) -> Result<Value> {
        let path = format!("/element/{}/{command}", element.id);
        self.call(&path, body, &format!("{command} {}", element.selector))
    }

    /// Loads `url` and waits for the page (and any redirects) to finish loading.
    pub fn goto(&self, url: &str) -> Result<()> {
        let body = json!({ "url": url });
        self.call("/url", Some(body), &format!("go to {url}"))
            .map(drop)
    }

    /// The URL of the current page.
    pub fn url(&self) -> Result<String> {
        let value = self.call("/url", None, "current URL")?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Reloads the current page.
    pub fn refresh(&self) -> Result<()> {
        self.call("/refresh", Some(json!({})), "reload").map(drop)
    }

    /// Resizes the window (the viewport of a headless window is the whole window).
    pub fn resize(&self, (width, height): (u32, u32)) -> Result<()> {
        let rect = json!({ "width": width, "height": height });
        self.call("/window/rect", Some(rect), "resize").map(drop)
    }

    /// The first element matching `selector`, waiting up to the implicit wait for it to appear.
    pub fn find(&self, selector: &str) -> Result<Element> {
        let query = json!({ "using": "css selector", "value": selector });
        let value = self.call("/element", Some(query), &format!("find {selector}"))?;
        let Some(id) = value.get(ELEMENT_KEY).and_then(Value::as_str) else {
            bail!("webdriver find {selector}: no element reference in {value}");
        };
        Ok(Element {
            selector: selector.to_owned(),
            id: id.to_owned(),
        })
    }

    /// Clicks `element` (scrolled into view first, as a person would).
    pub fn click(&self, element: &Element) -> Result<()> {
        self.on(element, "click", Some(json!({}))).map(drop)
    }

    /// Empties the text field `element`.
    pub fn clear(&self, element: &Element) -> Result<()> {
        self.on(element, "clear", Some(json!({}))).map(drop)
    }

    /// Types `text` into `element`.
    pub fn type_text(&self, element: &Element, text: &str) -> Result<()> {
        let body = json!({ "text": text });
        self.on(element, "value", Some(body)).map(drop)
    }

    /// The rendered (visible) text of `element`.
    pub fn text(&self, element: &Element) -> Result<String> {
        let value = self.on(element, "text", None)?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The DOM property `name` of `element` (`naturalWidth`, `src`, `value`...).
    pub fn property(&self, element: &Element, name: &str) -> Result<Value> {
        self.on(element, &format!("property/{name}"), None)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its result.
    /// WebDriver scripts are not subject to the page's Content-Security-Policy.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value> {
        let body = json!({ "script": script, "args": args });
        self.call("/execute/sync", Some(body), "run a script")
    }

    /// Polls `check` every 100 ms until it returns `Some`, failing after `timeout` with `what`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = check(self)? {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                let url = self.url().unwrap_or_default();
                bail!(
                    "timed out after {} s waiting for {what} (at {url})",
                    timeout.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let value = self.call("/screenshot", None, "screenshot")?;
        let Some(encoded) = value.as_str() else {
            bail!("webdriver screenshot: expected base64 text");
        };
        let png = STANDARD.decode(encoded)?;
        fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

impl Drop for Browser {
    /// Closes the window (errors ignored: chromedriver, stopped next, takes its browsers along).
    fn drop(&mut self) {
        let _ = self.http.delete(&self.session).send();
    }
}

/// Sends one command (a GET without `body`, a POST with it) and returns the response's `value`,
/// or the WebDriver error as a message.
fn call(http: &Client, url: &str, body: Option<Value>, what: &str) -> Result<Value> {
    let request = match body {
        None => http.get(url),
        Some(body) => http.post(url).json(&body),
    };
    let response = request
        .send()
        .with_context(|| format!("webdriver {what}"))?;
    let status = response.status();
    let text = response
        .text()
        .with_context(|| format!("webdriver {what}: reading the reply"))?;
    let mut reply: Value = serde_json::from_str(&text)
        .with_context(|| format!("webdriver {what}: not JSON: {text:.300}"))?;
    let value = reply
        .get_mut("value")
        .map(Value::take)
        .unwrap_or(Value::Null);
    if !status.is_success() {
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        let message = message.lines().next().unwrap_or_default();
        bail!("webdriver {what}: {error}: {message}");
    }
    Ok(value)
}
