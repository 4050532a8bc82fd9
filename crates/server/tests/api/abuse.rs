//! Issue 11's findings, each tried as an attacker would, against the real `sesame` process (the
//! races with real concurrency, on every store): strangers filling the store, forged callbacks
//! spending the client secret, two tabs and double callbacks, logout CSRF, log forging, weak
//! and public keys, and key rotation. Slow clients are in `connections.rs`.

use crate::futures_join_all;
use crate::helpers::{Mode, TestApp, TestAppBuilder, location, set_cookies};
use reqwest::StatusCode;
use sesame_axum::StoreKind;
use sesame_mock_idp::MockIdpConfig;

on_every_store!(
    strangers_starting_logins_cost_the_store_nothing,
    the_same_callback_twice_at_once_exchanges_the_code_once,
    logins_started_in_two_tabs_at_once_both_work,
);

/// Finding 1: every cookieless `GET /login` made a stored session. Now it makes a cookie and
/// nothing in the store; only a login does.
async fn strangers_starting_logins_cost_the_store_nothing(builder: TestAppBuilder) {
    let app = builder.spawn().await;
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let long = format!("/{}", "a".repeat(2000));
    for round in 0..20 {
        let starts = (0..10).map(|i| {
            let url = app.url(&format!("/login?returnTo={long}{round}x{i}"));
            stranger.get(url).send()
        });
        for response in futures_join_all(starts).await {
            let response = response.unwrap();
            assert_eq!(response.status(), StatusCode::FOUND);
            let cookies = set_cookies(&response);
            assert_eq!(cookies.len(), 1, "{cookies:?}");
            assert!(cookies[0].starts_with("sesame_login_"), "{cookies:?}");
        }
    }
    assert_eq!(app.backing.session_count().await.unwrap_or(0), 0);
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    if let Some(count) = app.backing.session_count().await {
        assert_eq!(count, 1, "the one login made the one session");
    }
}

/// Finding 4b: the same callback URL sent twice at once exchanged the code twice, and the
/// loser's answer cleared the winner's cookie. Now the state is claimed once in the store: one
/// token request, one login, and the loser's page sets no session cookie.
async fn the_same_callback_twice_at_once_exchanges_the_code_once(builder: TestAppBuilder) {
    let app = builder.spawn().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for trial in 0..5 {
        let callback = app.callback_with(&[("mock_auto_login", "alice")]).await;
        let pending = app.session_cookie().unwrap();
        let before = app.idp.token_requests();
        let send = || plain.get(&callback).header("cookie", &pending).send();
        let (first, second) = tokio::join!(send(), send());
        let mut responses = [first.unwrap(), second.unwrap()];
        responses.sort_by_key(|response| response.status());
        let [winner, loser] = responses;
        assert_eq!(winner.status(), StatusCode::FOUND, "trial {trial}");
        assert_eq!(loser.status(), StatusCode::CONFLICT, "trial {trial}");
        assert!(
            !set_cookies(&loser).iter().any(|c| c.starts_with("sesame=")),
            "the loser must not touch the winner's session cookie: {:?}",
            set_cookies(&loser)
        );
        let session = set_cookies(&winner)
            .into_iter()
            .find(|c| c.starts_with("sesame="))
            .unwrap();
        assert!(
            loser.text().await.unwrap().contains("already completed"),
            "the loser is told why"
        );
        assert_eq!(
            app.idp.token_requests(),
            before + 1,
            "one exchange per code"
        );
        let session = session.split(';').next().unwrap();
        assert!(app.home_as(session).await.1.contains("Welcome Alice!"));
        app.get("/logout").await;
    }
}

/// Finding 4a: two tabs pressing Login at the same instant lost one pending login (last write
/// won). Now each has its own cookie: whichever tab finishes, its login works.
async fn logins_started_in_two_tabs_at_once_both_work(builder: TestAppBuilder) {
    let app = builder.spawn().await;
    for trial in 0..6 {
        let (first, second) = tokio::join!(
            app.client.get(app.url("/login?returnTo=/first")).send(),
            app.client.get(app.url("/login?returnTo=/second")).send(),
        );
        let tabs = [
            (location(&first.unwrap()), "/first"),
            (location(&second.unwrap()), "/second"),
        ];
        // Alternate which tab finishes, so neither write order can hide a lost login.
        let (authorize, expected) = &tabs[trial % 2];
        let authorize = url::Url::parse(authorize).unwrap();
        let callback = app
            .authorize(&authorize, &[("mock_auto_login", "alice")])
            .await;
        let response = app.get_absolute(&callback).await;
        assert_eq!(response.status(), StatusCode::FOUND, "trial {trial}");
        assert_eq!(location(&response), *expected, "trial {trial}");
        assert!(app.home().await.1.contains("Welcome Alice!"));
        app.get("/logout").await;
    }
}

/// `/login` from a cookieless client: the pending-login cookie and the provider's `state`.
async fn start_login_as_stranger(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let response = client.get(app.url("/login")).send().await.unwrap();
    let cookie = set_cookies(&response)[0]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let state = crate::helpers::query_param(&location(&response), "state").unwrap();
    (cookie, state)
}

/// Finding 3: a `/login` and a forged `/callback?state=…&code=junk` per pair made a token
/// request each. Now each failure uses the address's budget, and once it is spent callbacks are
/// refused (429, `Retry-After`) before any token request, a genuine one included.
#[tokio::test]
async fn forged_callbacks_stop_spending_the_client_secret() {
    let app = TestApp::builder()
        .mode(Mode::Process)
        .env(&[("CALLBACK_FAILURE_LIMIT", "5/1m")])
        .spawn()
        .await;
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (cookie, state) = start_login_as_stranger(&app, &attacker).await;
        let forged = app.url(&format!("/callback?state={state}&code=junk"));
        let response = attacker
            .get(forged)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry), "an honest Retry-After: {retry}");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 7], "{statuses:?}");
    assert_eq!(
        app.idp.token_requests(),
        5,
        "only the budget reached the provider"
    );

    // The address is over its limit: even a real login waits, without a token request.
    let response = app.login_as("alice").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.idp.token_requests(), 5);
}

/// Successful logins never count: an office behind one address logs many people in at once.
#[tokio::test]
async fn successful_logins_never_use_the_failure_budget() {
    let app = TestApp::builder()
        .mode(Mode::Process)
        .env(&[("CALLBACK_FAILURE_LIMIT", "2/1h")])
        .spawn()
        .await;
    for name in ["ann", "bob", "cat", "dan", "eve", "fay"] {
        let colleague = app.other_browser();
        assert_eq!(
            colleague.login_as(name).await.status(),
            StatusCode::FOUND,
            "{name}"
        );
    }
}

/// Finding 5: any site could log a user out with a link or an `<img>`. Now only a request the
/// browser says started here logs out at once; anything else gets a button, whose form token
/// is bound to the session.
#[tokio::test]
async fn another_site_cannot_log_a_user_out() {
    let app = TestApp::builder().mode(Mode::Process).spawn().await;
    app.login_as("alice").await;
    let logged_in = || async { app.home().await.1.contains("Welcome Alice!") };

    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let response = app
            .client
            .get(app.url("/logout"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{header}: {value}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("method=\"post\""),
            "a confirmation form: {page}"
        );
        assert!(logged_in().await, "{header}: {value} must not log out");
    }

    // The attacker's own confirmation token, or none, is refused.
    let attacker = app.other_browser();
    attacker.login_as("mallory").await;
    let attackers_token = confirmation_token(&attacker).await;
    for token in [attackers_token, String::new()] {
        let response = app
            .client
            .post(app.url("/logout"))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(logged_in().await);
    }

    // The user's own button logs out.
    let response = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", confirmation_token(&app).await)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Guest"));

    // The quickstart's own link (same origin, or typed in) logs out at once.
    for value in ["same-origin", "none"] {
        app.login_as("alice").await;
        let response = app
            .client
            .get(app.url("/logout"))
            .header("sec-fetch-site", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{value}");
        assert!(app.home().await.1.contains("Welcome Guest"), "{value}");
    }
}

/// The hidden `csrf_token` on the confirmation page `app`'s browser gets from a cross-site link.
async fn confirmation_token(app: &TestApp) -> String {
    let page = app
        .client
        .get(app.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = "name=\"csrf_token\" value=\"";
    let start = page.find(field).unwrap() + field.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Finding 6: untrusted values with a newline wrote fake log lines. Now they are logged
/// escaped, on success (a `sub` with a newline) and on refusal (a token endpoint's `error`
/// code with one): each line stays one line.
#[tokio::test]
async fn newlines_from_the_provider_cannot_forge_log_lines() {
    let app = TestApp::builder().mode(Mode::Process).spawn().await;
    for (misbehaviour, status) in [
        ("log-forging-sub", StatusCode::FOUND),
        ("token-error-forged-line", StatusCode::UNAUTHORIZED),
    ] {
        let callback = app
            .callback_with(&[
                ("mock_auto_login", "alice"),
                ("mock_misbehave", misbehaviour),
            ])
            .await;
        assert_eq!(
            app.get_absolute(&callback).await.status(),
            status,
            "{misbehaviour}"
        );
    }
    let log = app.process_log();
    assert!(
        log.contains("user logged in") && log.contains("login refused"),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|line| line.starts_with(sesame_mock_idp::LOG_FORGING_LINE)),
        "a forged line in the log:\n{log}"
    );
    assert!(log.contains("mock|alice\\n2026-01-01"), "escaped: {log}");
    assert!(log.contains("invalid_grant\\n2026-01-01"), "escaped: {log}");
}

/// Finding 7: guessable keys and the compose file's public key were accepted with a real
/// provider. Now startup refuses them, naming the variable; the demo key works with the mock.
// Multi-threaded: the mock IdPs must answer while this thread waits for `sesame` to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_and_public_keys_are_refused_at_startup() {
    let (real, _) = sesame_mock_idp::spawn_for_tests(MockIdpConfig {
        identify_as_mock: false,
        ..MockIdpConfig::default()
    })
    .await
    .unwrap();
    let (mock, _) = sesame_mock_idp::spawn_for_tests(MockIdpConfig::default())
        .await
        .unwrap();
    let demo = "docker-compose-demo-key-public-do-not-deploy-0123456789";
    let zeros_and_one = format!("{}1", "0".repeat(63));
    let password = "password".repeat(8);
    for (key, issuer, refusal) in [
        (password.as_str(), real.issuer(), "predictable"),
        (zeros_and_one.as_str(), real.issuer(), "predictable"),
        (demo, real.issuer(), "public demo key"),
    ] {
        let stderr = refused_start(sesame_with_key(issuer, key), key);
        assert!(
            stderr.contains("APP_SECRET_KEY") && stderr.contains(refusal),
            "{key}: {stderr}"
        );
        assert!(
            !stderr.contains(key),
            "the key itself is never printed: {stderr}"
        );
    }
    let app = TestApp::builder()
        .mode(Mode::Process)
        .env(&[("APP_SECRET_KEY", demo), ("OIDC_ISSUER", mock.issuer())])
        .spawn()
        .await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

/// Runs `sesame`, which must exit non-zero within 20 s (a sesame that accepts the key would
/// serve forever: it is killed and the test fails); returns its stderr.
fn refused_start(mut command: std::process::Command, key: &str) -> String {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sesame started with APP_SECRET_KEY={key}, which it must refuse");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success(), "{key} must be refused");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    stderr
}

fn sesame_with_key(issuer: &str, key: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("OIDC_ISSUER", issuer)
        .env("AUTH0_CLIENT_ID", "sesame")
        .env("AUTH0_CLIENT_SECRET", "sesame-secret")
        .env("APP_SECRET_KEY", key)
        .env("HOST", "127.0.0.1")
        .env("PORT", sesame_testkit::free_port().to_string());
    command
}

/// `APP_SECRET_KEY_PREVIOUS` rotates the key without logging anyone out: sessions and logins in
/// progress made under the old key still work; without it they do not.
#[tokio::test]
async fn a_rotated_key_logs_nobody_out() {
    const OLD: &str = crate::helpers::APP_SECRET_KEY;
    const NEW: &str = "d4c9e2b7a1f08e3c5b6a7d2e9f1c0b3a8e7d6c5b4a39281706f5e4d3c2b1a098";
    let mut app = TestApp::builder()
        .mode(Mode::Process)
        .store(StoreKind::Redis)
        .spawn()
        .await;
    app.login_as("alice").await;
    let alices_session = app.session_cookie().unwrap();
    // Bob starts a login in the same browser before the rotation and finishes it after.
    let bobs_callback = app.callback_with(&[("mock_auto_login", "bob")]).await;

    rekey(
        &mut app,
        &[("APP_SECRET_KEY", NEW), ("APP_SECRET_KEY_PREVIOUS", OLD)],
    )
    .await;
    assert!(
        app.home_as(&alices_session)
            .await
            .1
            .contains("Welcome Alice!")
    );
    let response = app.get_absolute(&bobs_callback).await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "a login started before the rotation"
    );
    assert!(app.home().await.1.contains("Welcome Bob!"));

    rekey(&mut app, &[("APP_SECRET_KEY", NEW)]).await;
    assert!(
        app.home_as(&alices_session)
            .await
            .1
            .contains("Welcome Guest")
    );
}

/// Restarts `app` with these keys (and no previous key unless given).
async fn rekey(app: &mut TestApp, keys: &[(&str, &str)]) {
    app.launch.env.remove("APP_SECRET_KEY_PREVIOUS");
    for (name, value) in keys {
        app.launch
            .env
            .insert((*name).to_owned(), (*value).to_owned());
    }
    app.restart().await;
}
