//! End-to-end tests: real `redis-server`, `mock-idp` and `sesame` processes on free ports, driven hop by
//! hop with an HTTP client that never follows redirects, and once more by headless Chromium clicking
//! through the pages ([`crate::browser`]), once per session store.
//!
//! Each store gets `target/xtask/e2e/<store>/`, emptied first: the children's working directory, their
//! logs (`<name>.log`) and, for sqlite, the database.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use reqwest::Url;
use sesame_mock_idp::display_name;
use sesame_testkit::bins::{App, Bins, CLIENT_ID, CLIENT_SECRET, Store, warn_about_dotenv};
use sesame_testkit::process::{ChildGuard, Output, find_program, free_ports};

use crate::html;
use crate::http::{
    Browser, Hop, Journal, expect_param, expect_url, expect_url_prefix, param, required_param,
};
use crate::{Result, browser, fresh_dir, webdriver};

/// One end-to-end check, run once for every store it applies to.
struct Scenario {
    /// What it checks, as printed.
    name: &'static str,
    /// Whether it only makes sense for stores that outlive the process (redis, sqlite).
    durable_only: bool,
    /// The check itself.
    run: fn(&mut Stack) -> Result<()>,
}

/// The scenarios, in the order they run. The secrets check is last so it sees every other exchange.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "1 guest, log in as alice (auto-login), log out, replayed cookie is a guest",
        durable_only: false,
        run: login_logout,
    },
    Scenario {
        name: "2 log in as bob through the IdP's HTML form",
        durable_only: false,
        run: form_login,
    },
    Scenario {
        name: "3 provider error: 4xx page, description escaped, no session",
        durable_only: false,
        run: provider_error,
    },
    Scenario {
        name: "4 returnTo: local path kept, //evil.example refused",
        durable_only: false,
        run: return_to,
    },
    Scenario {
        name: "5 alice and carol log in side by side",
        durable_only: false,
        run: two_users,
    },
    Scenario {
        name: "7 restart: durable stores keep the session, memory forgets it",
        durable_only: false,
        run: restart,
    },
    Scenario {
        name: "8 two instances share sessions (login on A, logout on B)",
        durable_only: true,
        run: two_instances,
    },
    Scenario {
        name: "9 real browser: guest, login form, welcome, reload, picture fallback, logout, error page",
        durable_only: false,
        run: real_browser,
    },
    Scenario {
        name: "6 no codes, ID tokens or secrets in the app's log or pages",
        durable_only: false,
        run: no_secrets,
    },
];

/// Fails, naming the install command, if a tool the chosen stores need is missing.
pub fn preflight(stores: &[Store]) -> Result<()> {
    if stores.contains(&Store::Redis) && find_program("redis-server").is_none() {
        bail!("redis-server not found: apt-get install redis-server");
    }
    // The browser scenario runs for every store: never skipped, so missing Chromium is an error.
    webdriver::find_tools()?;
    Ok(())
}

/// Runs every scenario against every store, prints `e2e: N passed, M failed`, fails if any failed.
pub fn run(stores: &[Store], bins: &Bins) -> Result<()> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for &store in stores {
        println!("\n==> end to end: {store} store");
        let scenarios: Vec<&Scenario> = SCENARIOS
            .iter()
            .filter(|scenario| store.is_durable() || !scenario.durable_only)
            .collect();
        let mut stack = match Stack::start(store, bins) {
            Ok(stack) => stack,
            Err(error) => {
                println!(
                    "  FAIL  setup ({store}), so its {} checks count as failed: {error}",
                    scenarios.len()
                );
                failed += scenarios.len();
                continue;
            }
        };
        for scenario in scenarios {
            match (scenario.run)(&mut stack) {
                Ok(()) => {
                    passed += 1;
                    println!("  ok    {} [{store}]", scenario.name);
                }
                Err(error) => {
                    failed += 1;
                    println!("  FAIL  {} [{store}]\n      {error}", scenario.name);
                    stack.report_crash();
                }
            }
        }
        println!("  logs: {}", stack.dir.display());
    }
    println!("e2e: {passed} passed, {failed} failed");
    ensure!(failed == 0, "{failed} end-to-end check(s) failed");
    Ok(())
}

/// The processes for one store and what the scenarios need to reach them.
struct Stack {
    /// The store under test.
    store: Store,
    /// `target/xtask/e2e/<store>/`: working directory, logs, database.
    dir: PathBuf,
    /// The `sesame` binary, for restarts and the second instance.
    sesame_bin: PathBuf,
    /// Instance A's configuration.
    app: App,
    /// Instance A's base URL, `http://127.0.0.1:<port>` (no trailing slash).
    base: String,
    /// The mock IdP's issuer, `http://127.0.0.1:<port>`.
    idp: String,
    /// A free port for instance B.
    spare_port: u16,
    /// Every exchange the scenarios made.
    journal: Journal,
    /// Instance A (declared first: fields drop in order, so the app stops before its services).
    sesame: ChildGuard,
    /// The mock IdP and, for redis, the Redis server.
    _services: Vec<ChildGuard>,
}

impl Stack {
    /// Starts Redis (if needed), the mock IdP and sesame for `store`, waiting until each is ready.
    fn start(store: Store, bins: &Bins) -> Result<Self> {
        let dir = fresh_dir(&format!("e2e/{store}"))?;
        warn_about_dotenv(&dir);
        let [redis_port, idp_port, app_port, spare_port] = free_ports()?;
        let idp = format!("http://127.0.0.1:{idp_port}");
        let base = format!("http://127.0.0.1:{app_port}");
        let mut app = App::local(&idp, app_port, store)?;
        let mut services: Vec<ChildGuard> =
            app.start_store(&dir, redis_port)?.into_iter().collect();
        let mut mock_idp = ChildGuard::spawn(
            "mock-idp",
            bins.mock_idp(&dir, idp_port, &idp),
            Output::File(dir.join("mock-idp.log")),
        )?;
        mock_idp.wait_healthy(&format!("{idp}/healthz"))?;
        services.push(mock_idp);
        let sesame = start_sesame(&bins.sesame, &dir, &app, "sesame")?;
        Ok(Self {
            store,
            dir,
            sesame_bin: bins.sesame.clone(),
            app,
            base,
            idp,
            spare_port,
            journal: Journal::default(),
            sesame,
            _services: services,
        })
    }

    /// `path` on instance A.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh browser with an empty jar.
    fn browser(&self) -> Result<Browser> {
        Browser::new(&self.journal)
    }

    /// After a failed scenario: if sesame died, say so with its log's tail.
    fn report_crash(&mut self) {
        if let Ok(Some(status)) = self.sesame.exited() {
            println!(
                "      sesame has exited ({status}){}",
                self.sesame.log_tail()
            );
        }
    }
}

/// Starts a sesame instance logging to `<dir>/<name>.log` and waits for `/healthz`.
fn start_sesame(bin: &Path, dir: &Path, app: &App, name: &str) -> Result<ChildGuard> {
    let log = dir.join(format!("{name}.log"));
    let mut sesame = ChildGuard::spawn(name, app.command(bin, dir), Output::File(log))?;
    sesame.wait_healthy(&format!("http://127.0.0.1:{}/healthz", app.port))?;
    Ok(sesame)
}

// ---- login steps, each asserting its hop ----

/// `GET <path>` (a `/login` URL): asserts a 302 to the IdP's authorize endpoint with every parameter the
/// contract names and a session cookie; returns the authorize URL.
fn start_login(s: &Stack, browser: &Browser, path: &str) -> Result<Url> {
    let hop = browser.get(&s.url(path))?;
    let authorize = hop.redirect()?;
    hop.expect_set_cookie()?;
    ensure!(
        browser.cookies(&s.base).is_some(),
        "{}: no session cookie kept for {}",
        hop.describe(),
        s.base
    );
    expect_url_prefix(&authorize, &format!("{}/authorize", s.idp))?;
    expect_param(&authorize, "response_type", "code")?;
    expect_param(&authorize, "client_id", CLIENT_ID)?;
    expect_param(&authorize, "redirect_uri", &s.url("/callback"))?;
    expect_param(&authorize, "code_challenge_method", "S256")?;
    let scope = required_param(&authorize, "scope")?;
    for wanted in ["openid", "profile", "email"] {
        ensure!(
            scope.split(' ').any(|item| item == wanted),
            "{authorize}: scope {scope:?} lacks {wanted}"
        );
    }
    for name in ["state", "nonce", "code_challenge"] {
        required_param(&authorize, name)?;
    }
    Ok(authorize)
}

/// `url` with `name=value` appended to its query.
fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut().append_pair(name, value);
    url
}

/// Approves `authorize` as `user` via the mock IdP's auto-login; returns the callback URL.
fn auto_login(s: &Stack, browser: &Browser, authorize: &Url, user: &str) -> Result<Url> {
    let url = with_param(authorize, "mock_auto_login", user);
    let callback = browser.get(url.as_str())?.redirect()?;
    expect_callback(s, authorize, &callback)?;
    Ok(callback)
}

/// Asserts `callback` is the app's `/callback` with a code and the state sent in `authorize`.
fn expect_callback(s: &Stack, authorize: &Url, callback: &Url) -> Result<()> {
    expect_url_prefix(callback, &s.url("/callback"))?;
    required_param(callback, "code")?;
    expect_param(callback, "state", &required_param(authorize, "state")?)
}

/// `GET callback`: asserts a 302 and a new session cookie value (the session ID is cycled at login);
/// returns where it redirects.
fn finish_login(s: &Stack, browser: &Browser, callback: &Url) -> Result<Url> {
    let before = browser.cookies(&s.base);
    let hop = browser.get(callback.as_str())?;
    let next = hop.redirect()?;
    hop.expect_set_cookie()?;
    let after = browser.cookies(&s.base);
    ensure!(
        after.is_some() && after != before,
        "{}: the session cookie did not change across the callback (session ID not cycled): \
         before {before:?}, after {after:?}",
        hop.describe()
    );
    Ok(next)
}

/// The whole auto-login: `GET path` → IdP → callback; returns where the callback redirects.
fn login(s: &Stack, browser: &Browser, user: &str, path: &str) -> Result<Url> {
    let authorize = start_login(s, browser, path)?;
    let callback = auto_login(s, browser, &authorize, user)?;
    finish_login(s, browser, &callback)
}

/// Asserts the logged-out home page.
fn expect_guest(hop: &Hop) -> Result<()> {
    hop.expect_status(200)?
        .expect_text("Welcome Guest")?
        .expect_text("href=\"/login\"")?;
    Ok(())
}

/// Asserts the home page of logged-in `user` (as the mock IdP describes users).
fn expect_user(s: &Stack, hop: &Hop, user: &str) -> Result<()> {
    hop.expect_status(200)?
        .expect_text(&format!("Welcome {}!", display_name(user)))?
        .expect_text(&format!("{user}@example.com"))?
        .expect_text(&format!("{}/avatars/{user}.svg", s.idp))?
        // Pretty-printed JSON puts a space after the colon; compact JSON does not.
        .expect_text("\"sub\": ")?
        .expect_no_text("Welcome Guest")?;
    Ok(())
}

// ---- the scenarios ----

/// 1: guest page, auto-login as alice, home, logout hops, guest again, the old cookie replayed is a guest.
fn login_logout(s: &mut Stack) -> Result<()> {
    let browser = s.browser()?;
    expect_guest(&browser.get(&s.url("/"))?)?;
    let next = login(s, &browser, "alice", "/login")?;
    expect_url(&next, &s.url("/"))?;
    expect_user(s, &browser.get(next.as_str())?, "alice")?;

    let session = browser
        .cookies(&s.base)
        .ok_or("no session cookie after logging in")?;
    let hop = browser.get(&s.url("/logout"))?;
    let end_session = hop.redirect()?;
    expect_url_prefix(&end_session, &format!("{}/oidc/logout", s.idp))?;
    required_param(&end_session, "id_token_hint")?;
    expect_param(&end_session, "post_logout_redirect_uri", &s.url("/"))?;
    expect_param(&end_session, "client_id", CLIENT_ID)?;
    let left = browser.cookies(&s.base).unwrap_or_default();
    ensure!(
        !left.contains(&session),
        "{}: the session cookie was not cleared (still {left:?})",
        hop.describe()
    );

    let back = browser.get(end_session.as_str())?.redirect()?;
    expect_url(&back, &s.url("/"))?;
    expect_guest(&browser.get(back.as_str())?)?;

    // The server must have deleted the session, not just told this browser to forget it.
    let replay = Browser::with_cookie(&s.journal, &session)?;
    expect_guest(&replay.get(&s.url("/"))?)
}

/// 2: log in as bob by submitting the IdP's HTML form, hidden inputs and all.
fn form_login(s: &mut Stack) -> Result<()> {
    let browser = s.browser()?;
    let authorize = start_login(s, &browser, "/login")?;
    let page = browser.get(authorize.as_str())?;
    page.expect_status(200)?;
    let Some(form) = html::first_form(&page.body) else {
        bail!("{}: no <form> on the IdP's login page", page.describe());
    };
    let state = required_param(&authorize, "state")?;
    let hidden_state = form.hidden.iter().find(|(name, _)| name == "state");
    ensure!(
        hidden_state.is_some_and(|(_, value)| *value == state),
        "{}: the form does not carry state={state:?} as a hidden input (hidden: {:?})",
        page.describe(),
        form.hidden
    );
    let action = page
        .url
        .join(form.action.as_deref().unwrap_or("/authorize"))?;
    let mut fields = form.hidden.clone();
    fields.push(("username".to_owned(), "bob".to_owned()));
    let callback = browser
        .post_form(action.as_str(), &fields)?
        .redirect_after_post()?;
    expect_callback(s, &authorize, &callback)?;
    let next = finish_login(s, &browser, &callback)?;
    expect_url(&next, &s.url("/"))?;
    expect_user(s, &browser.get(next.as_str())?, "bob")
}

/// 3: the IdP answers `access_denied` with a script in the description: the app shows an escaped 4xx
/// page and no session.
fn provider_error(s: &mut Stack) -> Result<()> {
    let browser = s.browser()?;
    let authorize = start_login(s, &browser, "/login")?;
    // The mock IdP refuses at the moment of approval, so auto-login is what triggers the refusal.
    let url = with_param(&authorize, "mock_misbehave", "access-denied");
    let url = with_param(&url, "mock_auto_login", "alice");
    let callback = browser.get(url.as_str())?.redirect()?;
    expect_url_prefix(&callback, &s.url("/callback"))?;
    expect_param(&callback, "error", "access_denied")?;
    browser
        .get(callback.as_str())?
        .expect_client_error()?
        .expect_no_raw("<script>alert(1)</script>")?
        .expect_raw("&lt;script&gt;")?;
    expect_guest(&browser.get(&s.url("/"))?)
}

/// 4: `returnTo` is followed for a local path and ignored for a protocol-relative URL.
fn return_to(s: &mut Stack) -> Result<()> {
    let next = login(s, &s.browser()?, "alice", "/login?returnTo=/somewhere")?;
    expect_url(&next, &s.url("/somewhere"))?;
    let next = login(s, &s.browser()?, "alice", "/login?returnTo=//evil.example")?;
    expect_url(&next, &s.url("/"))
}

/// 5: two browsers log in interleaved, step by step; each sees only its own user.
fn two_users(s: &mut Stack) -> Result<()> {
    let (alice, carol) = (s.browser()?, s.browser()?);
    let alice_authorize = start_login(s, &alice, "/login")?;
    let carol_authorize = start_login(s, &carol, "/login")?;
    let alice_callback = auto_login(s, &alice, &alice_authorize, "alice")?;
    let carol_callback = auto_login(s, &carol, &carol_authorize, "carol")?;
    finish_login(s, &carol, &carol_callback)?;
    finish_login(s, &alice, &alice_callback)?;
    let alice_home = alice.get(&s.url("/"))?;
    let carol_home = carol.get(&s.url("/"))?;
    expect_user(s, &alice_home, "alice")?;
    alice_home.expect_no_text("Carol")?;
    expect_user(s, &carol_home, "carol")?;
    carol_home.expect_no_text("Alice")?;
    Ok(())
}

/// 7: restart sesame with the same environment: a durable store still knows the session, memory does not.
fn restart(s: &mut Stack) -> Result<()> {
    let browser = s.browser()?;
    login(s, &browser, "alice", "/login")?;
    expect_user(s, &browser.get(&s.url("/"))?, "alice")?;
    s.sesame.stop()?;
    s.sesame = start_sesame(&s.sesame_bin, &s.dir, &s.app, "sesame")?;
    let home = browser.get(&s.url("/"))?;
    if s.store.is_durable() {
        expect_user(s, &home, "alice")
    } else {
        expect_guest(&home)
    }
}

/// 8: a second instance B on the same store: A's session works on B, and logging out on B ends it on A.
fn two_instances(s: &mut Stack) -> Result<()> {
    let b_app = App {
        port: s.spare_port,
        ..s.app.clone()
    };
    let _b = start_sesame(&s.sesame_bin, &s.dir, &b_app, "sesame-b")?;
    let b_base = format!("http://127.0.0.1:{}", s.spare_port);

    let on_a = s.browser()?;
    login(s, &on_a, "alice", "/login")?;
    expect_user(s, &on_a.get(&s.url("/"))?, "alice")?;
    let session = on_a
        .cookies(&s.base)
        .ok_or("no session cookie after logging in")?;

    // Cookies are host-scoped, so B gets A's cookie by hand, as a shared domain would send it.
    let on_b = Browser::with_cookie(&s.journal, &session)?;
    expect_user(s, &on_b.get(&format!("{b_base}/"))?, "alice")?;
    let end_session = on_b.get(&format!("{b_base}/logout"))?.redirect()?;
    expect_url_prefix(&end_session, &format!("{}/oidc/logout", s.idp))?;
    expect_param(&end_session, "post_logout_redirect_uri", &s.url("/"))?;

    expect_guest(&on_a.get(&s.url("/"))?)?;
    expect_guest(&on_b.get(&format!("{b_base}/"))?)
}

/// 9: the same login as a person makes it, in headless Chromium (see [`browser`]).
fn real_browser(s: &mut Stack) -> Result<()> {
    browser::login_logout(&browser::Target {
        store: s.store,
        base: &s.base,
        idp: &s.idp,
        dir: &s.dir,
    })
}

/// 6: no authorization code, ID token, client secret or `APP_SECRET_KEY` in any sesame log, and no code or
/// ID token in any page the app served.
fn no_secrets(s: &mut Stack) -> Result<()> {
    let hops = s.journal.hops();
    let mut codes = BTreeSet::new();
    let mut id_tokens = BTreeSet::new();
    for hop in &hops {
        let location = hop.location.as_deref().and_then(|l| hop.url.join(l).ok());
        for url in std::iter::once(&hop.url).chain(location.as_ref()) {
            if url.path() == "/callback" {
                codes.extend(param(url, "code"));
            }
            id_tokens.extend(param(url, "id_token_hint"));
        }
    }
    ensure!(
        !codes.is_empty(),
        "no authorization code was seen, nothing to check"
    );
    ensure!(
        !id_tokens.is_empty(),
        "no ID token (id_token_hint) was seen, nothing to check"
    );

    let app_ports = [Some(s.app.port), Some(s.spare_port)];
    for hop in hops
        .iter()
        .filter(|hop| app_ports.contains(&hop.url.port()))
    {
        for (what, secret) in codes
            .iter()
            .map(|code| ("an authorization code", code))
            .chain(id_tokens.iter().map(|token| ("an ID token", token)))
        {
            ensure!(
                !hop.shows(secret),
                "{} {} -> {}: the page contains {what}",
                hop.method,
                hop.url,
                hop.status
            );
        }
    }

    let mut secrets: Vec<(&str, &str)> = vec![
        ("the client secret", CLIENT_SECRET),
        ("APP_SECRET_KEY", &s.app.secret_key),
    ];
    secrets.extend(
        codes
            .iter()
            .map(|code| ("an authorization code", code.as_str())),
    );
    secrets.extend(
        id_tokens
            .iter()
            .map(|token| ("an ID token", token.as_str())),
    );
    let mut logs = 0;
    for entry in fs::read_dir(&s.dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !(name.starts_with("sesame") && name.ends_with(".log")) {
            continue;
        }
        logs += 1;
        let text = String::from_utf8_lossy(&fs::read(&path)?).into_owned();
        ensure!(
            !text.trim().is_empty(),
            "{} is empty: is sesame logging?",
            path.display()
        );
        for (what, secret) in &secrets {
            ensure!(!text.contains(secret), "{} contains {what}", path.display());
        }
    }
    ensure!(logs > 0, "no sesame log found in {}", s.dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_runs_the_secrets_check_last() {
        assert!(SCENARIOS.last().is_some_and(|s| s.name.starts_with("6 ")));
    }
}
