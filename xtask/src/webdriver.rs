//! A minimal W3C WebDriver client for the browser tests: `chromedriver` started on a free port,
//! driving Debian's headless Chromium.
//!
//! Why not fantoccini or thirtyfour (WebDriver) or chromiumoxide (CDP)? All three are async and would
//! bring tokio, a second HTTP stack and dozens of crates into xtask, which is a plain blocking program
//! with two dependencies. The handful of commands the tests need (new session, navigate, find, click,
//! type, read text, run a script, screenshot, delete) are one JSON request each over the reqwest
//! blocking client xtask already has, so this file is the whole client. WebDriver rather than CDP also
//! means chromedriver, not us, keeps up with Chromium's protocol changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::Result;
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
    let chromedriver = find_program("chromedriver");
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Ok(Tools {
            chromium,
            chromedriver,
        }),
        (None, _) => {
            bail!("chromium not found (looked for {CHROMIUM} and on PATH): {INSTALL_HINT}")
        }
        (_, None) => bail!("chromedriver not found on PATH: {INSTALL_HINT}"),
    }
}

/// A running `chromedriver`, stopped (with any browser it started) when dropped.
pub struct Driver {
    /// `http://127.0.0.1:<port>`.
    base: String,
    /// The HTTP client commands go through.
    http: Client,
    /// The Chromium binary sessions use.
    chromium: PathBuf,
    /// The chromedriver process.
    _process: ChildGuard,
}

impl Driver {
    /// Starts chromedriver on a free port, logging to `log`, and waits until it reports ready.
    pub fn start(tools: &Tools, log: &Path) -> Result<Self> {
        let [port] = free_ports()?;
        let mut command = Command::new(&tools.chromedriver);
        command.args([
            format!("--port={port}"),
            "--allowed-ips=127.0.0.1".to_owned(),
            format!("--log-path={}", log.display()),
        ]);
        let log_dir = log.parent().unwrap_or(log);
        let mut process = ChildGuard::spawn(
            "chromedriver",
            command,
            Output::File(log_dir.join("chromedriver.out")),
        )?;
        let base = format!("http://127.0.0.1:{port}");
        process.wait_healthy(&format!("{base}/status"))?;
        let http = Client::builder().timeout(COMMAND_TIMEOUT).build()?;
        Ok(Self {
            base,
            http,
            chromium: tools.chromium.clone(),
            _process: process,
        })
    }

    /// Opens a headless Chromium window of `width`×`height` with a fresh profile in `profile`.
    pub fn session(&self, profile: &Path, width: u32, height: u32) -> Result<Session<'_>> {
        if profile.exists() {
            fs::remove_dir_all(profile)
                .map_err(|e| format!("cannot empty {}: {e}", profile.display()))?;
        }
        fs::create_dir_all(profile)?;
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
                        "binary": self.chromium.to_string_lossy(),
                        "args": args,
                    },
                }
            }
        });
        let value = self.call("POST", "/session", Some(&capabilities), "new session")?;
        let Some(id) = value.get("sessionId").and_then(Value::as_str) else {
            bail!("webdriver new session: no sessionId in {value}");
        };
        Ok(Session {
            driver: self,
            path: format!("/session/{id}"),
            open: true,
        })
    }

    /// Sends one command and returns the response's `value`, or the WebDriver error as a message.
    fn call(&self, method: &str, path: &str, body: Option<&Value>, what: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(body.unwrap_or(&json!({}))),
        };
        let response = request
            .send()
            .map_err(|e| format!("webdriver {what}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| format!("webdriver {what}: reading the reply: {e}"))?;
        let mut reply: Value = serde_json::from_str(&text)
            .map_err(|e| format!("webdriver {what}: not JSON ({e}): {text:.300}"))?;
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
}

/// One browser window. Closed when dropped.
pub struct Session<'d> {
    /// The driver it belongs to.
    driver: &'d Driver,
    /// `/session/<id>`.
    path: String,
    /// Whether it still has to be deleted.
    open: bool,
}

/// An element of the current page, by WebDriver reference.
pub struct Element {
    /// The CSS selector it was found by, for messages.
    selector: String,
    /// The element reference.
    id: String,
}

impl Session<'_> {
    /// Sends a command to this session.
    fn call(&self, method: &str, path: &str, body: Option<Value>, what: &str) -> Result<Value> {
        self.driver
            .call(method, &format!("{}{path}", self.path), body.as_ref(), what)
    }

    /// Loads `url` and waits for the page (and any redirects) to finish loading.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.call(
            "POST",
            "/url",
            Some(json!({ "url": url })),
            &format!("go to {url}"),
        )?;
        Ok(())
    }

    /// The URL of the current page.
    pub fn url(&self) -> Result<String> {
        let value = self.call("GET", "/url", None, "current URL")?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Reloads the current page.
    pub fn refresh(&self) -> Result<()> {
        self.call("POST", "/refresh", None, "reload")?;
        Ok(())
    }

    /// Resizes the window (the viewport of a headless window is the whole window).
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let rect = json!({ "width": width, "height": height });
        self.call("POST", "/window/rect", Some(rect), "resize")?;
        Ok(())
    }

    /// The first element matching `selector`, waiting up to the implicit wait for it to appear.
    pub fn find(&self, selector: &str) -> Result<Element> {
        let query = json!({ "using": "css selector", "value": selector });
        let value = self.call("POST", "/element", Some(query), &format!("find {selector}"))?;
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
        let path = format!("/element/{}/click", element.id);
        self.call("POST", &path, None, &format!("click {}", element.selector))?;
        Ok(())
    }

    /// Empties the text field `element`.
    pub fn clear(&self, element: &Element) -> Result<()> {
        let path = format!("/element/{}/clear", element.id);
        self.call("POST", &path, None, &format!("clear {}", element.selector))?;
        Ok(())
    }

    /// Types `text` into `element`.
    pub fn type_text(&self, element: &Element, text: &str) -> Result<()> {
        let path = format!("/element/{}/value", element.id);
        let body = json!({ "text": text });
        self.call(
            "POST",
            &path,
            Some(body),
            &format!("type into {}", element.selector),
        )?;
        Ok(())
    }

    /// The rendered (visible) text of `element`.
    pub fn text(&self, element: &Element) -> Result<String> {
        let path = format!("/element/{}/text", element.id);
        let value = self.call("GET", &path, None, &format!("text of {}", element.selector))?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The DOM property `name` of `element` (`naturalWidth`, `src`, `value`...).
    pub fn property(&self, element: &Element, name: &str) -> Result<Value> {
        let path = format!("/element/{}/property/{name}", element.id);
        self.call(
            "GET",
            &path,
            None,
            &format!("{name} of {}", element.selector),
        )
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its result.
    /// WebDriver scripts are not subject to the page's Content-Security-Policy.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value> {
        let body = json!({ "script": script, "args": args });
        self.call("POST", "/execute/sync", Some(body), "run a script")
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
        let value = self.call("GET", "/screenshot", None, "screenshot")?;
        let Some(encoded) = value.as_str() else {
            bail!("webdriver screenshot: expected base64 text");
        };
        let png = base64_decode(encoded)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(())
    }

    /// Closes the window; dropping the session does the same, ignoring errors.
    pub fn close(mut self) -> Result<()> {
        self.open = false;
        self.call("DELETE", "", None, "delete session")?;
        Ok(())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.call("DELETE", "", None, "delete session");
        }
    }
}

/// Decodes standard base64 (with or without padding; whitespace ignored), as screenshots arrive.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0u32);
    for &c in text.as_bytes() {
        if c == b'=' || c.is_ascii_whitespace() {
            continue;
        }
        let Some(value) = sextet(c) else {
            bail!("invalid base64 character {:?}", c as char);
        };
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_with_and_without_padding() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
        assert!(base64_decode("a$==").is_err());
    }
}
