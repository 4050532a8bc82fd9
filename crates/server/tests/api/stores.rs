//! The session stores under the server: durability across restarts (1,000 sessions), instances
//! sharing one store, a Redis outage (503 within 2 s, recovery without restart), PostgreSQL
//! dropping its connections, page views that do not write, and startup failures that name the
//! variable.

use crate::helpers::{Backing, Mode, TestApp, client_with};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use sesame_axum::StoreKind;
use sesame_mock_idp::MockIdpConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Logs in `count` users, 16 at a time, each with its own cookie jar; returns their names and
/// cookies.
async fn log_in_many(app: &TestApp, count: usize) -> Vec<(String, String)> {
    let mut users = Vec::with_capacity(count);
    let names: Vec<String> = (0..count).map(|i| format!("user{i}")).collect();
    for chunk in names.chunks(16) {
        let logins: Vec<_> = chunk
            .iter()
            .map(|name| tokio::spawn(log_in(app.base.clone(), name.clone())))
            .collect();
        for login in logins {
            users.push(login.await.unwrap());
        }
    }
    users
}

async fn log_in(base: url::Url, name: String) -> (String, String) {
    let jar = Arc::new(Jar::default());
    let client = client_with(jar.clone());
    let response = client
        .get(base.join("/login").unwrap())
        .send()
        .await
        .unwrap();
    let mut authorize = url::Url::parse(&crate::helpers::location(&response)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("mock_auto_login", &name);
    let response = client.get(authorize).send().await.unwrap();
    let response = client
        .get(crate::helpers::location(&response))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = jar.cookies(&base).unwrap().to_str().unwrap().to_owned();
    (name, cookie)
}

async fn sessions_survive_a_restart(kind: StoreKind, count: usize) {
    let mut app = TestApp::builder().store(kind).spawn().await;
    let users = log_in_many(&app, count).await;
    app.restart().await;
    let mut lost = Vec::new();
    for (name, cookie) in &users {
        let (status, body) = app.home_as(cookie).await;
        assert_eq!(status, StatusCode::OK);
        if !body.contains(&format!("Welcome {}!", sesame_mock_idp::display_name(name))) {
            lost.push(name.clone());
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {count} sessions lost: {lost:?}",
        lost.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_redis_sessions_survive_a_restart() {
    sessions_survive_a_restart(StoreKind::Redis, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sqlite_sessions_survive_a_restart() {
    sessions_survive_a_restart(StoreKind::Sqlite, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_postgres_sessions_survive_a_restart() {
    sessions_survive_a_restart(StoreKind::Postgres, 1000).await;
}

#[tokio::test]
async fn memory_sessions_do_not_survive_a_restart() {
    let mut app = TestApp::builder().store(StoreKind::Memory).spawn().await;
    let users = log_in_many(&app, 3).await;
    app.restart().await;
    for (_, cookie) in &users {
        assert!(app.home_as(cookie).await.1.contains("Welcome Guest"));
    }
}

async fn instances_share_sessions(kind: StoreKind) {
    let a = TestApp::builder().store(kind).spawn().await;
    let b = a.second_instance().await;
    assert!(a.login_as("alice").await.status().is_redirection());
    let cookie = a.session_cookie().unwrap();
    assert!(
        b.home_as(&cookie).await.1.contains("Welcome Alice!"),
        "B sees A's login"
    );

    let logout = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(b.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert!(
        a.home_as(&cookie).await.1.contains("Welcome Guest"),
        "A sees B's logout"
    );
}

#[tokio::test]
async fn two_instances_share_redis_sessions() {
    instances_share_sessions(StoreKind::Redis).await;
}

#[tokio::test]
async fn two_instances_share_sqlite_sessions() {
    instances_share_sessions(StoreKind::Sqlite).await;
}

#[tokio::test]
async fn two_instances_share_postgres_sessions() {
    instances_share_sessions(StoreKind::Postgres).await;
}

#[tokio::test]
async fn a_redis_outage_is_a_quick_503_and_heals_without_a_restart() {
    let app = TestApp::builder().store(StoreKind::Redis).spawn().await;
    app.login_as("alice").await;
    let cookie = app.session_cookie().unwrap();

    // A hung Redis (SIGSTOP): nothing answers, so only timeouts can save us.
    app.backing.redis().pause();
    // Starting a login needs no store (the pending login is a cookie): it still works.
    let started = Instant::now();
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = stranger.get(app.url("/login")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(login.status(), StatusCode::FOUND);
    assert!(elapsed < Duration::from_secs(2), "/login took {elapsed:?}");
    let paused = Instant::now();
    for path in ["/", "/logout"] {
        // The read cache may answer a view for the right user until its liveness check sees
        // the hang (about a second); never a guest, never past the bound.
        loop {
            let started = Instant::now();
            let response = reqwest::Client::new()
                .get(app.url(path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            let elapsed = started.elapsed();
            assert!(elapsed < Duration::from_secs(2), "{path} took {elapsed:?}");
            let status = response.status();
            let body = response.text().await.unwrap();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(
                    body.contains("session store is unavailable"),
                    "{path}: {body}"
                );
                break;
            }
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert!(body.contains("Welcome Alice!"), "{path}: {body}");
            assert!(
                paused.elapsed() < Duration::from_secs(3),
                "{path} still served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let started = Instant::now();
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "liveness holds"
    );

    // Back: the session is intact (nothing was written half-way) and no restart was needed.
    app.backing.redis().resume();
    wait_until_ready(&app).await;
    assert!(app.home_as(&cookie).await.1.contains("Welcome Alice!"));

    // A crashed Redis (connection refused), restarted empty: 503, then working again.
    app.backing.redis().stop();
    // A view racing the connection's end may still come from the read cache: the right user.
    let stopped = Instant::now();
    loop {
        let (status, body) = app.home_as(&cookie).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(body.contains("Welcome Alice!"), "{status}: {body}");
        assert!(stopped.elapsed() < Duration::from_secs(2), "still served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.backing.redis().restart();
    wait_until_ready(&app).await;
    assert!(
        app.home_as(&cookie).await.1.contains("Welcome Guest"),
        "Redis came back empty"
    );
    app.login_as("alice").await;
    assert!(app.home().await.1.contains("Welcome Alice!"));
}

/// PostgreSQL dropping every connection (a failover, a restart, an idle-connection reaper): the
/// next page view reconnects instead of failing, and the session is still there.
#[tokio::test]
async fn postgres_connections_dropped_under_the_app_heal_without_an_error() {
    let app = TestApp::builder().store(StoreKind::Postgres).spawn().await;
    app.login_as("alice").await;
    let terminated = app
        .backing
        .postgres()
        .query(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where datname = current_database() and pid <> pg_backend_pid()",
        )
        .unwrap();
    assert_ne!(terminated, "0", "the app held connections");
    for _ in 0..10 {
        let (status, body) = app.home().await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Welcome Alice!"));
    }
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

async fn wait_until_ready(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/readyz").await.status() != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "store did not come back within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn page_views_read_the_session_without_rewriting_it() {
    // Uncached, each view is exactly one read (the read cache's own test counts its reads).
    let app = TestApp::builder()
        .store(StoreKind::Redis)
        .env(&[("REDIS_READ_CACHE", "off")])
        .spawn()
        .await;
    app.login_as("alice").await;
    assert_eq!(app.backing.redis().command(&["CONFIG", "RESETSTAT"]), "+OK");
    for _ in 0..20 {
        assert!(app.home().await.1.contains("Welcome Alice!"));
    }
    let redis = app.backing.redis();
    assert_eq!(redis.calls("get"), 20, "one read per page view");
    assert_eq!(redis.calls("set"), 0, "no write per page view");
}

#[tokio::test]
async fn unreachable_or_misconfigured_stores_stop_startup_naming_the_variable() {
    let cases = [
        (
            vec![
                ("SESSION_STORE", "redis".to_owned()),
                (
                    "REDIS_URL",
                    format!("redis://127.0.0.1:{}/0", sesame_testkit::free_port()),
                ),
            ],
            "REDIS_URL",
        ),
        (
            vec![
                ("SESSION_STORE", "sqlite".to_owned()),
                (
                    "DATABASE_URL",
                    "sqlite:///proc/no-such-dir/sesame.db?mode=rwc".to_owned(),
                ),
            ],
            "DATABASE_URL",
        ),
        (
            vec![
                ("SESSION_STORE", "postgres".to_owned()),
                (
                    "DATABASE_URL",
                    format!(
                        "postgres://sesame:hunter2@127.0.0.1:{}/sesame",
                        sesame_testkit::free_port()
                    ),
                ),
            ],
            "DATABASE_URL",
        ),
        (
            vec![
                ("SESSION_STORE", "postgres".to_owned()),
                ("DATABASE_URL", "postgres://127.0.0.1/sesame".to_owned()),
                ("SESSION_TABLE", "public.Sessions".to_owned()),
            ],
            "SESSION_TABLE",
        ),
        (vec![("SESSION_STORE", "mongo".to_owned())], "SESSION_STORE"),
        (
            vec![
                ("SESSION_STORE", "redis".to_owned()),
                ("REDIS_READ_CACHE", "sometimes".to_owned()),
            ],
            "REDIS_READ_CACHE",
        ),
    ];
    let dir = sesame_testkit::TempDir::new("startup");
    for (env, variable) in cases {
        let started = Instant::now();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
            .current_dir(dir.path())
            .env_clear()
            .env("OIDC_ISSUER", "http://127.0.0.1:9")
            .env("AUTH0_CLIENT_ID", "sesame")
            .env("AUTH0_CLIENT_SECRET", "sesame-secret")
            .env("APP_SECRET_KEY", crate::helpers::APP_SECRET_KEY)
            .envs(env)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable}: must exit non-zero");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<_> = stderr
            .lines()
            .filter(|l| l.starts_with("sesame:"))
            .collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(lines[0].contains(variable), "{variable} named in: {stderr}");
        assert!(!stderr.contains("hunter2"), "a password in: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test]
async fn redis_keys_live_in_the_configured_database_and_expire() {
    let backing = Backing::new(StoreKind::Redis);
    let app = TestApp::builder().backing(backing).spawn().await;
    app.login_as("alice").await;
    let redis = app.backing.redis();
    // The harness points the app at database 1 (REDIS_URL=.../1); database 0 stays empty.
    assert_eq!(redis.cli(0, &["DBSIZE"]), "0");
    let sessions = session_keys(&redis, 1);
    assert_eq!(
        sessions.len(),
        1,
        "one session, the logged-in one: {sessions:?}"
    );
    let key = &sessions[0];
    let ttl: i64 = redis.cli(1, &["TTL", key]).parse().unwrap();
    assert!(
        (3000..=3600).contains(&ttl),
        "the key expires with the session's idle timeout (1h), TTL {ttl}"
    );
}

/// `rediss://` works over rustls (on ring, the one crypto backend in the tree), verifying the
/// server's certificate: the real binary logs a user in against a TLS-only redis-server whose CA
/// it is told about through SSL_CERT_FILE, and refuses to start, naming REDIS_URL, without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_works_with_rustls_and_verifies_the_certificate() {
    let redis = sesame_testkit::RedisServer::start_tls();
    let ca = redis.ca_certificate().unwrap();
    let (idp, _) = sesame_mock_idp::spawn_for_tests(MockIdpConfig::default())
        .await
        .unwrap();
    let dir = sesame_testkit::TempDir::new("rediss");
    let port = sesame_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}/");
    let sesame = |with_ca: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("OIDC_ISSUER", idp.issuer())
            .env("AUTH0_CLIENT_ID", "sesame")
            .env("AUTH0_CLIENT_SECRET", "sesame-secret")
            .env("APP_SECRET_KEY", crate::helpers::APP_SECRET_KEY)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("APP_BASE_URL", &base)
            .env("SESSION_STORE", "redis")
            .env("REDIS_URL", redis.url(0));
        if with_ca {
            command.env("SSL_CERT_FILE", &ca);
        }
        command
    };

    let refused = sesame(false).output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("REDIS_URL") && stderr.contains("Certificate"),
        "an untrusted certificate is refused, naming REDIS_URL: {stderr}"
    );

    // SSL_CERT_FILE is read by the TLS library from the real environment, not from `.env`.
    let app = TestApp::builder()
        .mode(Mode::Process)
        .process_env("SSL_CERT_FILE", &ca)
        .env(&[("SESSION_STORE", "redis"), ("REDIS_URL", &redis.url(0))])
        .spawn()
        .await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.login_as("alice").await;
    assert!(app.home().await.1.contains("Welcome Alice!"));
    assert_eq!(
        session_keys(&redis, 0).len(),
        1,
        "the session is in the TLS Redis"
    );
}

/// The session keys in Redis database `db`: everything but Sesame's one-time claims
/// (`sesame:claim:…`, the used login states).
fn session_keys(redis: &sesame_testkit::RedisServer, db: u8) -> Vec<String> {
    redis
        .cli(db, &["--scan"])
        .lines()
        .filter(|key| !key.is_empty() && !key.starts_with("sesame:"))
        .map(str::to_owned)
        .collect()
}
