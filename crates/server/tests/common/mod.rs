//! Test harness: the real server and the mock IdP, each on its own loopback port, and an HTTP
//! client that keeps cookies and never follows redirects, so every hop can be asserted.
//! Set `TEST_LOG=1` to see the server's logs.

#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode, header};
use sesame_axum::{SesameBuilder, StoreKind};
use sesame_mock_idp::{MockIdp, MockIdpConfig, spawn_for_tests};
use sesame_testkit::{RedisServer, TempDir};
use std::collections::HashMap;
use std::sync::{Arc, Once};
use url::Url;

pub const APP_SECRET_KEY: &str = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c";

/// An app's configuration as environment variables.
pub type Env = HashMap<String, String>;

pub struct TestApp {
    pub base: Url,
    pub idp: MockIdp,
    pub issuer: Url,
    pub jar: Arc<Jar>,
    pub client: reqwest::Client,
    /// The variables the app was configured with (restarts and second instances reuse them).
    pub env: Env,
    /// The store's backing process or directory, alive as long as the app.
    pub backing: Arc<Backing>,
    server: tokio::task::JoinHandle<()>,
}

/// What a store needs outside the app: a private redis-server, or a temp dir for SQLite.
pub struct Backing {
    pub kind: StoreKind,
    pub redis: Option<std::sync::Mutex<RedisServer>>,
    pub dir: Option<TempDir>,
}

impl Backing {
    pub fn new(kind: StoreKind) -> Arc<Self> {
        Arc::new(Self {
            kind,
            redis: (kind == StoreKind::Redis).then(|| std::sync::Mutex::new(RedisServer::start())),
            dir: (kind == StoreKind::Sqlite).then(|| TempDir::new("server")),
        })
    }

    /// The env vars that point an app at this store.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("SESSION_STORE".to_owned(), self.kind.to_string())];
        if let Some(redis) = &self.redis {
            env.push(("REDIS_URL".to_owned(), redis.lock().unwrap().url(1)));
        }
        if let Some(dir) = &self.dir {
            env.push(("DATABASE_URL".to_owned(), dir.sqlite_url("sessions.db")));
        }
        env
    }

    pub fn redis(&self) -> std::sync::MutexGuard<'_, RedisServer> {
        self.redis
            .as_ref()
            .expect("a redis-backed app")
            .lock()
            .unwrap()
    }
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("debug,hyper=info,reqwest=info")
                .init();
        }
    });
}

/// A mock IdP with default settings and the app (memory store) in front of it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(MockIdpConfig::default(), &[]).await
}

/// A mock IdP with default settings and the app on the given store.
pub async fn spawn_app_on(kind: StoreKind) -> TestApp {
    spawn_app_full(MockIdpConfig::default(), &[], Backing::new(kind)).await
}

/// The app (memory store) with the IdP configured and extra env vars for the app.
pub async fn spawn_app_with(idp_config: MockIdpConfig, extra_env: &[(&str, &str)]) -> TestApp {
    spawn_app_full(idp_config, extra_env, Backing::new(StoreKind::Memory)).await
}

/// Everything configurable: the IdP, extra env vars, and the store backing.
pub async fn spawn_app_full(
    idp_config: MockIdpConfig,
    extra_env: &[(&str, &str)],
    backing: Arc<Backing>,
) -> TestApp {
    init_logs();
    let (idp, issuer) = spawn_for_tests(idp_config).await.expect("mock IdP starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();

    let mut env: HashMap<String, String> = [
        ("OIDC_ISSUER", issuer.as_str()),
        ("AUTH0_CLIENT_ID", "sesame"),
        ("AUTH0_CLIENT_SECRET", "sesame-secret"),
        ("APP_SECRET_KEY", APP_SECRET_KEY),
        ("APP_BASE_URL", base.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(backing.env());
    for (name, value) in extra_env {
        env.insert((*name).to_owned(), (*value).to_owned());
    }
    let server = serve(&env, listener).await;
    let jar = Arc::new(Jar::default());
    TestApp {
        base,
        idp,
        issuer,
        client: client_with(jar.clone()),
        jar,
        env,
        backing,
        server,
    }
}

/// The `sesame` app as its binary builds it, from `env`, or why it cannot start.
pub async fn build(env: &Env) -> Result<axum::Router, String> {
    let builder = SesameBuilder::from_lookup(|name| env.get(name).cloned()).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let sesame = sesame_server::with_pages(builder)
        .build()
        .await
        .map_err(|err| err.to_string())?;
    Ok(sesame_server::app(&sesame))
}

async fn serve(env: &Env, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    let router = build(env).await.expect("app prepares");
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    })
}

/// A browser-like client: cookies kept, redirects not followed.
pub fn client_with(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location on a {} response", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

impl TestApp {
    /// A client for an app already running elsewhere (a real `sesame` process) at `base`, with
    /// the IdP it uses; waits until its `/healthz` answers. [`Self::restart`] and
    /// [`Self::second_instance`] are not for such apps.
    pub async fn attach(base: &str, idp: MockIdp) -> TestApp {
        let base = Url::parse(base).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reqwest::get(base.join("/healthz").unwrap()).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{base} did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let env: Env = [
            ("OIDC_ISSUER", idp.issuer().to_owned()),
            ("AUTH0_CLIENT_ID", "sesame".to_owned()),
            ("AUTH0_CLIENT_SECRET", "sesame-secret".to_owned()),
            ("APP_SECRET_KEY", APP_SECRET_KEY.to_owned()),
            ("APP_BASE_URL", base.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let jar = Arc::new(Jar::default());
        TestApp {
            issuer: Url::parse(idp.issuer()).unwrap(),
            base,
            idp,
            client: client_with(jar.clone()),
            jar,
            env,
            backing: Backing::new(StoreKind::Memory),
            server: tokio::spawn(async {}),
        }
    }

    /// Stops this app and starts a new one on the same port, store and config: what a deploy
    /// or a crash does. The client gets fresh connections (the old ones died with the app).
    pub async fn restart(&mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
        let address = format!("127.0.0.1:{}", self.base.port().unwrap());
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        self.server = serve(&self.env, listener).await;
        self.client = client_with(self.jar.clone());
    }

    /// A second app instance on its own port, sharing this one's IdP, store and secret key:
    /// what a load balancer spreads users over.
    pub async fn second_instance(&self) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let server = serve(&self.env, listener).await;
        let jar = Arc::new(Jar::default());
        TestApp {
            base,
            idp: self.idp.clone(),
            issuer: self.issuer.clone(),
            client: client_with(jar.clone()),
            jar,
            env: self.env.clone(),
            backing: self.backing.clone(),
            server,
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_absolute(&self, url: &str) -> Response {
        self.client.get(url).send().await.unwrap()
    }

    /// The session cookie as the jar holds it (`name=value`), if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.jar
            .cookies(&self.base)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    /// `/login` → the provider's authorization URL.
    pub async fn start_login(&self, query: &str) -> Url {
        let response = self.get(&format!("/login{query}")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let authorize = Url::parse(&location(&response)).unwrap();
        assert!(authorize.as_str().starts_with(self.issuer.as_str()));
        authorize
    }

    /// Sends the browser to the provider with extra parameters; returns the callback URL the
    /// provider redirects back to.
    pub async fn authorize(&self, authorize: &Url, extra: &[(&str, &str)]) -> String {
        let mut url = authorize.clone();
        url.query_pairs_mut().extend_pairs(extra);
        let response = self.client.get(url).send().await.unwrap();
        assert!(
            response.status().is_redirection(),
            "IdP answered {}",
            response.status()
        );
        let callback = location(&response);
        assert!(
            callback.starts_with(self.url("/callback").as_str()),
            "{callback}"
        );
        callback
    }

    /// A whole login as `name`; returns the callback's response.
    pub async fn login_as(&self, name: &str) -> Response {
        let authorize = self.start_login("").await;
        let callback = self
            .authorize(&authorize, &[("mock_auto_login", name)])
            .await;
        self.get_absolute(&callback).await
    }

    /// The home page's status and body.
    pub async fn home(&self) -> (StatusCode, String) {
        let response = self.get("/").await;
        (response.status(), response.text().await.unwrap())
    }
}

/// The log lines of everything running on the current thread (the app, the mock IdP, the
/// client), for tests that assert what the server logged. Install it first thing in a test on
/// the default `current_thread` Tokio runtime: every task of the test then runs on this thread,
/// so the thread-local subscriber sees the server's lines and no other test's. With `TEST_LOG`
/// set, the lines are echoed to stderr too.
pub struct LogCapture {
    buffer: LogBuffer,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Strings no log line may ever contain: a JWT (`eyJ` is base64 of `{"`), the client secret,
/// the cookie key.
const NEVER_LOGGED: [&str; 3] = ["eyJ", "sesame-secret", APP_SECRET_KEY];

pub fn capture_logs() -> LogCapture {
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    LogCapture {
        _guard: tracing::subscriber::set_default(subscriber),
        buffer,
    }
}

impl LogCapture {
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.buffer.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The `WARN` lines saying a login was refused.
    pub fn refusals(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.contains(" WARN ") && line.contains("login refused"))
            .collect()
    }

    /// Exactly one refusal was logged since the last [`LogCapture::clear`], at `warn`, and it
    /// contains every one of `reason`'s fragments. Returns the line.
    pub fn assert_one_refusal(&self, reason: &[&str]) -> String {
        let refusals = self.refusals();
        assert_eq!(
            refusals.len(),
            1,
            "expected one `login refused` warning, got {refusals:#?}\nall lines: {:#?}",
            self.lines()
        );
        let line = refusals.into_iter().next().unwrap();
        for fragment in reason {
            assert!(line.contains(fragment), "`{fragment}` not in: {line}");
        }
        line
    }

    /// No line contains a token, a secret, or any of `also` (codes, states seen in the test).
    pub fn assert_no_secrets(&self, also: &[&str]) {
        for line in self.lines() {
            for secret in NEVER_LOGGED.iter().chain(also) {
                assert!(
                    secret.is_empty() || !line.contains(secret),
                    "a log line leaks `{secret}`: {line}"
                );
            }
        }
    }

    /// Forgets what was captured so far.
    pub fn clear(&self) {
        self.buffer.0.lock().unwrap().clear();
    }
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(bytes)?;
        }
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
