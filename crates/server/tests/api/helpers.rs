//! Test harness: the app and the mock IdP, each on its own loopback port, and an HTTP client that
//! keeps cookies and never follows redirects, so every hop can be asserted.
//!
//! One [`TestApp::builder`] for every test. The app runs either in this process (the router
//! served on a task: fast, and its log lines can be captured) or as the real `sesame` binary
//! (`.process()`), configured through a `.env` file in its own working directory, restarted by
//! killing it: the scenarios written once in `scenarios.rs` run both ways on every store.
//! Set `TEST_LOG=1` to see the in-process server's logs.

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode, header};
use sesame_axum::{SesameBuilder, StoreKind};
use sesame_mock_idp::{MockIdp, MockIdpConfig, spawn_for_tests};
use sesame_testkit::{PostgresDatabase, RedisServer, TempDir};
use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use url::Url;

pub const APP_SECRET_KEY: &str = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c";

/// An app's configuration as environment variables.
pub type Env = HashMap<String, String>;

/// How the app under test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The router, served on a task of the test's runtime.
    InProcess,
    /// The `sesame` binary as a child process.
    Process,
}

pub struct TestApp {
    pub base: Url,
    pub idp: MockIdp,
    pub issuer: Url,
    pub jar: Arc<Jar>,
    pub client: reqwest::Client,
    /// The store's backing process or directory, alive as long as the app.
    pub backing: Arc<Backing>,
    /// How the app was started (restarts and second instances reuse it).
    pub launch: Launch,
    /// Shared with [`TestApp::other_browser`]s; the last one dropped stops the app.
    server: Arc<Server>,
}

/// How to start the app: the mode and its configuration.
#[derive(Clone)]
pub struct Launch {
    pub mode: Mode,
    /// The app's variables (a `.env` file for a process).
    pub env: Env,
    /// The process's real environment, beyond PATH.
    pub process_env: Vec<(String, String)>,
    /// The process's open-file limit (`ulimit -n`), when not inherited.
    pub open_files: Option<u32>,
}

/// The running app: a task, or a child process with its working directory and log.
enum Server {
    Task(tokio::task::JoinHandle<()>),
    Process { child: Child, dir: TempDir },
}

impl Drop for Server {
    fn drop(&mut self) {
        match self {
            Server::Task(task) => task.abort(),
            Server::Process { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What a store needs outside the app: a private redis-server, a temp dir for SQLite, or a
/// fresh PostgreSQL database (dropped with the backing, after every app using it).
pub struct Backing {
    pub kind: StoreKind,
    pub redis: Option<std::sync::Mutex<RedisServer>>,
    pub dir: Option<TempDir>,
    /// A Redis Cluster or Sentinel setup instead of one server, and its URL.
    pub redis_ha: Option<(String, Box<dyn std::any::Any + Send + Sync>)>,
    pub postgres: Option<PostgresDatabase>,
}

impl Backing {
    pub fn new(kind: StoreKind) -> Arc<Self> {
        Arc::new(Self {
            kind,
            redis: (kind == StoreKind::Redis).then(|| std::sync::Mutex::new(RedisServer::start())),
            dir: (kind == StoreKind::Sqlite).then(|| TempDir::new("server")),
            redis_ha: None,
            postgres: (kind == StoreKind::Postgres).then(PostgresDatabase::create),
        })
    }

    /// The Redis store on a Cluster of 3 masters and 3 replicas.
    pub fn redis_cluster() -> Arc<Self> {
        let cluster = sesame_testkit::RedisCluster::start();
        Self::redis_ha(cluster.url(), Box::new(cluster))
    }

    /// The Redis store behind Sentinel (a master, a replica, 3 sentinels).
    pub fn redis_sentinel() -> Arc<Self> {
        let sentinel = sesame_testkit::RedisSentinel::start();
        Self::redis_ha(sentinel.url(1), Box::new(sentinel))
    }

    fn redis_ha(url: String, setup: Box<dyn std::any::Any + Send + Sync>) -> Arc<Self> {
        Arc::new(Self {
            kind: StoreKind::Redis,
            redis: None,
            dir: None,
            redis_ha: Some((url, setup)),
            postgres: None,
        })
    }

    /// The env vars that point an app at this store.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("SESSION_STORE".to_owned(), self.kind.to_string())];
        if let Some(redis) = &self.redis {
            env.push(("REDIS_URL".to_owned(), redis.lock().unwrap().url(1)));
        }
        if let Some((url, _)) = &self.redis_ha {
            env.push(("REDIS_URL".to_owned(), url.clone()));
        }
        if let Some(dir) = &self.dir {
            env.push(("DATABASE_URL".to_owned(), dir.sqlite_url("sessions.db")));
        }
        if let Some(database) = &self.postgres {
            env.push(("DATABASE_URL".to_owned(), database.url()));
        }
        env
    }

    /// How many sessions the store holds, where it can be read from outside the app (Redis,
    /// SQLite and PostgreSQL; `None` for memory). Sesame's one-time claims (`sesame:claim:…`
    /// keys, the `sesame_claims` and `sessions_claims` tables) are not sessions.
    pub async fn session_count(&self) -> Option<usize> {
        match self.kind {
            StoreKind::Memory => None,
            // Keys are spread over several servers: not counted here.
            StoreKind::Redis if self.redis_ha.is_some() => None,
            StoreKind::Redis => Some(
                self.redis()
                    .cli(1, &["--scan"])
                    .lines()
                    .filter(|key| !key.is_empty() && !key.starts_with("sesame:"))
                    .count(),
            ),
            StoreKind::Sqlite => {
                let dir = self.dir.as_ref().expect("a SQLite-backed app");
                let pool = sqlx::SqlitePool::connect(&dir.sqlite_url("sessions.db"))
                    .await
                    .unwrap();
                let count: i64 = sqlx::query_scalar("select count(*) from tower_sessions")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                Some(count as usize)
            }
            StoreKind::Postgres => {
                // The default SESSION_TABLE: the harness never sets another.
                let count = self
                    .postgres()
                    .query("select count(*) from sesame.sessions")
                    .unwrap();
                Some(count.parse().unwrap())
            }
        }
    }

    pub fn postgres(&self) -> &PostgresDatabase {
        self.postgres.as_ref().expect("a PostgreSQL-backed app")
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

/// Configures a [`TestApp`]: by default the memory store, a well-behaved IdP, in process.
pub struct TestAppBuilder {
    idp: MockIdpConfig,
    env: Vec<(String, String)>,
    backing: Option<Arc<Backing>>,
    kind: StoreKind,
    mode: Mode,
    process_env: Vec<(String, String)>,
    open_files: Option<u32>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            idp: MockIdpConfig::default(),
            env: Vec::new(),
            backing: None,
            kind: StoreKind::Memory,
            mode: Mode::InProcess,
            process_env: Vec::new(),
            open_files: None,
        }
    }

    /// The default app: memory store, well-behaved IdP, in process.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }
}

impl TestAppBuilder {
    /// How the mock IdP behaves.
    pub fn idp(mut self, config: MockIdpConfig) -> Self {
        self.idp = config;
        self
    }

    /// Extra variables for the app.
    pub fn env(mut self, vars: &[(&str, &str)]) -> Self {
        self.env
            .extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self
    }

    /// The store, with a fresh backing (private redis-server, temp dir).
    pub fn store(mut self, kind: StoreKind) -> Self {
        self.kind = kind;
        self
    }

    /// An existing backing, shared with another app.
    pub fn backing(mut self, backing: Arc<Backing>) -> Self {
        self.kind = backing.kind;
        self.backing = Some(backing);
        self
    }

    /// Run the `sesame` binary instead of the router in process.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// A variable of the process's real environment (for what reads it there, not from
    /// `.env`: the TLS library's `SSL_CERT_FILE`). Only with [`Mode::Process`].
    pub fn process_env(mut self, name: &str, value: &str) -> Self {
        self.process_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The process's open-file limit, as `ulimit -n` sets it. Only with [`Mode::Process`].
    pub fn open_files(mut self, limit: u32) -> Self {
        self.open_files = Some(limit);
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_logs();
        let (idp, issuer) = spawn_for_tests(self.idp).await.expect("mock IdP starts");
        let backing = self.backing.unwrap_or_else(|| Backing::new(self.kind));
        let listener = free_tokio_listener();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let mut env: Env = [
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
        env.extend(self.env);
        let launch = Launch {
            mode: self.mode,
            env,
            process_env: self.process_env,
            open_files: self.open_files,
        };
        let server = Arc::new(launch.start(listener).await);
        let jar = Arc::new(Jar::default());
        TestApp {
            base,
            idp,
            issuer,
            client: client_with(jar.clone()),
            jar,
            backing,
            launch,
            server,
        }
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

impl Launch {
    /// Starts the app on `listener`'s port, and waits until it answers.
    async fn start(&self, listener: tokio::net::TcpListener) -> Server {
        match self.mode {
            Mode::InProcess => {
                let router = build(&self.env).await.expect("app prepares");
                Server::Task(tokio::spawn(async move {
                    // With the client's address, as the binary's server loop gives it: the
                    // callback's failure limit is per address.
                    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
                    axum::serve(listener, app).await.unwrap();
                }))
            }
            Mode::Process => {
                let port = listener.local_addr().unwrap().port();
                // Freed just before the child binds it (after connecting to its store and
                // provider); a port from outside the ephemeral range, so no connection takes it.
                drop(listener);
                spawn_process(self, port).await
            }
        }
    }
}

/// A listener on a free port outside the ephemeral range: in [`Mode::Process`] it is dropped
/// before the child binds the port, and no outgoing connection can take it meanwhile.
fn free_tokio_listener() -> tokio::net::TcpListener {
    let listener = sesame_testkit::free_listener().unwrap();
    listener.set_nonblocking(true).unwrap();
    tokio::net::TcpListener::from_std(listener).unwrap()
}

/// `sesame` in a directory of its own, configured as a newcomer would: a `.env` file beside
/// it (the process environment holds only PATH), on `HOST=127.0.0.1`.
async fn spawn_process(launch: &Launch, port: u16) -> Server {
    let dir = TempDir::new("sesame-process");
    let mut dotenv = String::new();
    for (name, value) in launch.env.iter().chain([
        (&"HOST".to_owned(), &"127.0.0.1".to_owned()),
        (&"PORT".to_owned(), &port.to_string()),
    ]) {
        dotenv.push_str(&format!("{name}='{value}'\n"));
    }
    std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    let log = std::fs::File::create(dir.path().join("sesame.log")).unwrap();
    let binary = env!("CARGO_BIN_EXE_sesame");
    // The limit is set by a shell that then becomes `sesame` (exec: same pid, so killing the
    // child kills the server); the workspace forbids the `unsafe` a pre_exec hook would need.
    let mut command = match launch.open_files {
        Some(limit) => {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("ulimit -n {limit} && exec \"$0\""))
                .arg(binary);
            shell
        }
        None => Command::new(binary),
    };
    let mut child = command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(launch.process_env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("sesame starts");
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.path().join("sesame.log")).unwrap_or_default();
            panic!("sesame exited ({status}) before it was ready:\n{log}");
        }
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            return Server::Process { child, dir };
        }
        assert!(
            Instant::now() < deadline,
            "sesame did not come up on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A browser-like client: cookies kept, redirects not followed.
pub fn client_with(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
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
    /// Stops this app and starts a new one on the same port, store and config: what a deploy
    /// or a crash does (a process is killed). The client gets fresh connections.
    pub async fn restart(&mut self) {
        // Dropping the old server stops it (abort, or SIGKILL and reap) before the port is reused.
        let placeholder = Arc::new(Server::Task(tokio::spawn(async {})));
        let old = std::mem::replace(&mut self.server, placeholder);
        assert!(
            Arc::into_inner(old).is_some(),
            "restart with another browser of this app still alive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let address = format!("127.0.0.1:{}", self.base.port().unwrap());
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        self.server = Arc::new(self.launch.start(listener).await);
        self.client = client_with(self.jar.clone());
    }

    /// A second app instance on its own port, sharing this one's IdP, store and secret key:
    /// what a load balancer spreads users over.
    pub async fn second_instance(&self) -> TestApp {
        let listener = free_tokio_listener();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        // Same APP_BASE_URL: behind a balancer every instance has the one public URL.
        let server = Arc::new(self.launch.start(listener).await);
        self.sibling(base, server)
    }

    /// Another browser (a cookie jar of its own) on the same app.
    pub fn other_browser(&self) -> TestApp {
        self.sibling(self.base.clone(), self.server.clone())
    }

    /// A browser with an empty jar on `server` at `base`, sharing this app's IdP and store.
    fn sibling(&self, base: Url, server: Arc<Server>) -> TestApp {
        let jar = Arc::new(Jar::default());
        TestApp {
            base,
            idp: self.idp.clone(),
            issuer: self.issuer.clone(),
            client: client_with(jar.clone()),
            jar,
            backing: self.backing.clone(),
            launch: self.launch.clone(),
            server,
        }
    }

    /// The home page as a browser holding `cookie` (a `Cookie` header value) sees it.
    pub async fn home_as(&self, cookie: &str) -> (StatusCode, String) {
        let response = reqwest::Client::new()
            .get(self.url("/"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Sends SIGTERM to the app process, as `docker stop` does.
    pub fn terminate(&self) {
        let Server::Process { child, .. } = self.server.as_ref() else {
            panic!("terminate needs Mode::Process");
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// The app process's exit status once it has exited, waiting at most `within`.
    pub async fn exit_status(&mut self, within: Duration) -> Option<ExitStatus> {
        let server = Arc::get_mut(&mut self.server).expect("no other browser of this app alive");
        let Server::Process { child, .. } = server else {
            panic!("exit_status needs Mode::Process");
        };
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The app process's log so far (empty for an in-process app: use [`capture_logs`]).
    pub fn process_log(&self) -> String {
        match self.server.as_ref() {
            Server::Process { dir, .. } => {
                std::fs::read_to_string(dir.path().join("sesame.log")).unwrap_or_default()
            }
            Server::Task(_) => String::new(),
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
        // Cookies ignore ports, so the jar also holds the mock IdP's session cookie for this
        // host: that one is the provider's, not the app's.
        let cookies = self.jar.cookies(&self.base)?;
        let app_cookies: Vec<&str> = cookies
            .to_str()
            .unwrap()
            .split("; ")
            .filter(|cookie| !cookie.starts_with("mock_idp_session="))
            .collect();
        (!app_cookies.is_empty()).then(|| app_cookies.join("; "))
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

    /// `/login`, then the provider with `extra` parameters (`mock_auto_login`, `mock_misbehave`);
    /// returns the callback URL, not yet followed.
    pub async fn callback_with(&self, extra: &[(&str, &str)]) -> String {
        let authorize = self.start_login("").await;
        self.authorize(&authorize, extra).await
    }

    /// A whole login as `name`; returns the callback URL the browser followed.
    pub async fn login_as_returning_callback(&self, name: &str) -> String {
        let callback = self.callback_with(&[("mock_auto_login", name)]).await;
        let response = self.get_absolute(&callback).await;
        assert_eq!(response.status(), StatusCode::FOUND, "login as {name}");
        callback
    }

    /// A whole login as `name`; returns the callback's response.
    pub async fn login_as(&self, name: &str) -> Response {
        let callback = self.callback_with(&[("mock_auto_login", name)]).await;
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

/// Strings no log line may ever contain besides a JWT: the client secret, the cookie key.
const NEVER_LOGGED: [&str; 2] = ["sesame-secret", APP_SECRET_KEY];

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
        self.assert_no_secrets_in(&self.lines().join("\n"), also);
    }

    /// The same check of another log (a `sesame` process's).
    pub fn assert_no_secrets_in(&self, log: &str, also: &[&str]) {
        for line in log.lines() {
            sesame_testkit::assert_no_jwt(line, "a log line");
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
