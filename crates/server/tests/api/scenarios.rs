//! The end-to-end scenarios, written once and run on every store, both with the app in this
//! process and as the real `sesame` binary configured by a `.env` file (restarts kill it); the
//! binary also on a Redis Cluster and behind Redis Sentinel.
//! Each ends by checking that no authorization code, ID token or secret reached the app's log.

use crate::helpers::{LogCapture, TestApp, TestAppBuilder, capture_logs, location, query_param};
use reqwest::StatusCode;
use sesame_axum::StoreKind;
use sesame_mock_idp::display_name;
use url::Url;

/// Expands each scenario into one test per store and mode, each named once.
macro_rules! on_every_store_and_mode {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use crate::helpers::{Mode, TestApp};
            use sesame_axum::StoreKind;

            async fn run(kind: StoreKind, mode: Mode) {
                super::$scenario(TestApp::builder().store(kind).mode(mode)).await;
            }
            #[tokio::test]
            async fn memory() { run(StoreKind::Memory, Mode::InProcess).await }
            #[tokio::test]
            async fn memory_process() { run(StoreKind::Memory, Mode::Process).await }
            #[tokio::test]
            async fn redis() { run(StoreKind::Redis, Mode::InProcess).await }
            #[tokio::test]
            async fn redis_process() { run(StoreKind::Redis, Mode::Process).await }
            #[tokio::test]
            async fn sqlite() { run(StoreKind::Sqlite, Mode::InProcess).await }
            #[tokio::test]
            async fn sqlite_process() { run(StoreKind::Sqlite, Mode::Process).await }
            #[tokio::test]
            async fn redis_cluster_process() {
                let backing = tokio::task::spawn_blocking(crate::helpers::Backing::redis_cluster);
                let builder = TestApp::builder().backing(backing.await.unwrap());
                super::$scenario(builder.mode(Mode::Process)).await;
            }
            #[tokio::test]
            async fn redis_sentinel_process() {
                let backing = tokio::task::spawn_blocking(crate::helpers::Backing::redis_sentinel);
                let builder = TestApp::builder().backing(backing.await.unwrap());
                super::$scenario(builder.mode(Mode::Process)).await;
            }
            #[tokio::test]
            async fn postgres() { run(StoreKind::Postgres, Mode::InProcess).await }
            #[tokio::test]
            async fn postgres_process() { run(StoreKind::Postgres, Mode::Process).await }
        }
    )*};
}

on_every_store_and_mode!(
    login_then_logout_with_every_hop_checked,
    login_through_the_idps_html_form,
    a_provider_error_is_an_escaped_4xx_page_and_no_session,
    return_to_keeps_a_local_path_and_refuses_another_site,
    two_users_log_in_side_by_side,
    a_restart_keeps_sessions_on_durable_stores_only,
    a_second_instance_shares_sessions_on_durable_stores_only,
);

/// What every scenario ends with: the app logged no code, ID token or secret it handled.
fn assert_nothing_secret_logged(app: &TestApp, logs: &LogCapture, callbacks: &[String]) {
    let codes: Vec<String> = callbacks
        .iter()
        .filter_map(|callback| query_param(callback, "code"))
        .collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    let process_log = app.process_log();
    assert!(
        !process_log.is_empty() || !logs.lines().is_empty(),
        "no log was captured: nothing to check"
    );
    logs.assert_no_secrets_in(&process_log, &codes);
    logs.assert_no_secrets(&codes);
}

async fn assert_guest(app: &TestApp) {
    let (status, body) = app.home().await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Welcome Guest"), "{body}");
}

async fn assert_user(app: &TestApp, user: &str) {
    let (status, body) = app.home().await;
    assert_eq!(status, StatusCode::OK);
    let name = display_name(user);
    assert!(body.contains(&format!("Welcome {name}!")), "{body}");
    assert!(body.contains(&format!("{user}@example.com")), "{body}");
}

/// Guest page, login (ID cycled), profile, logout hops, guest again, and the old cookie,
/// replayed, finds nothing: the session was deleted server-side.
async fn login_then_logout_with_every_hop_checked(app: TestAppBuilder) {
    let logs = capture_logs();
    let app = app.spawn().await;
    assert_guest(&app).await;
    assert!(
        app.session_cookie().is_none(),
        "a guest page must not create a session"
    );
    let authorize = app.start_login("").await;
    let cookie_before = app.session_cookie().unwrap();
    let callback = app
        .authorize(&authorize, &[("mock_auto_login", "alice")])
        .await;
    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/");
    let cookie_after = app.session_cookie().unwrap();
    assert_ne!(
        cookie_before, cookie_after,
        "session ID must be cycled at login"
    );

    let (_, body) = app.home().await;
    assert_user(&app, "alice").await;
    // minijinja escapes `/` as `&#x2f;` in HTML; browsers decode it back.
    let picture = app.issuer.join("avatars/alice.svg").unwrap().to_string();
    assert!(
        body.contains(&picture.replace('/', "&#x2f;")),
        "picture {picture} in {body}"
    );
    assert!(
        body.contains("&quot;sub&quot;") || body.contains("\"sub\""),
        "claims shown"
    );
    sesame_testkit::assert_no_jwt(&body, "the home page");
    assert!(body.contains(r#"href="/logout""#));

    let response = app.get("/logout").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let logout = Url::parse(&location(&response)).unwrap();
    assert!(logout.as_str().starts_with(app.issuer.as_str()));
    let query: std::collections::HashMap<_, _> = logout.query_pairs().into_owned().collect();
    assert!(query["id_token_hint"].starts_with("eyJ"));
    assert_eq!(query["post_logout_redirect_uri"], app.base.as_str());
    assert_eq!(query["client_id"], "sesame");
    assert!(app.session_cookie().is_none(), "logout clears the cookie");

    let response = app.get_absolute(logout.as_str()).await;
    assert!(response.status().is_redirection());
    assert_eq!(location(&response), app.base.as_str());
    assert_guest(&app).await;

    let (_, replay) = app.home_as(&cookie_after).await;
    assert!(replay.contains("Welcome Guest"));
    assert_nothing_secret_logged(&app, &logs, &[callback]);
}

/// The IdP's login page is a real form: submitting its hidden inputs (state included) with a
/// username logs the user in.
async fn login_through_the_idps_html_form(app: TestAppBuilder) {
    let logs = capture_logs();
    let app = app.spawn().await;
    let authorize = app.start_login("").await;
    let page = app.get_absolute(authorize.as_str()).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="username""#));
    let mut fields = hidden_inputs(&html);
    let state = query_param(authorize.as_str(), "state").unwrap();
    assert!(
        fields
            .iter()
            .any(|(name, value)| name == "state" && *value == state),
        "the form carries the state: {fields:?}"
    );
    fields.push(("username".into(), "bob".into()));
    let response = app
        .client
        .post(app.issuer.join("authorize").unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let callback = location(&response);
    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_user(&app, "bob").await;
    assert_nothing_secret_logged(&app, &logs, &[callback]);
}

/// `<input type="hidden" name=".." value="..">` of the mock IdP's form, values unescaped.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#x27;", "'")
                .replace("&#x2f;", "/")
                .replace("&amp;", "&"),
        )
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains(r#"type="hidden""#))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The IdP refuses (`access_denied`) with a script in its description: the page is a 4xx with
/// the text escaped, and no session is left.
async fn a_provider_error_is_an_escaped_4xx_page_and_no_session(app: TestAppBuilder) {
    let logs = capture_logs();
    let app = app.spawn().await;
    let callback = app
        .callback_with(&[
            ("mock_misbehave", "access-denied"),
            ("mock_auto_login", "alice"),
        ])
        .await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    let response = app.get_absolute(&callback).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script>alert(1)</script>"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert!(app.session_cookie().is_none(), "no session is left");
    assert_guest(&app).await;
    assert_nothing_secret_logged(&app, &logs, &[callback]);
}

/// `returnTo` is followed for a local path and ignored for a protocol-relative URL.
async fn return_to_keeps_a_local_path_and_refuses_another_site(app: TestAppBuilder) {
    let logs = capture_logs();
    let app = app.spawn().await;
    let mut callbacks = Vec::new();
    for (asked, lands) in [("/somewhere", "/somewhere"), ("//evil.example", "/")] {
        let authorize = app.start_login(&format!("?returnTo={asked}")).await;
        let callback = app
            .authorize(&authorize, &[("mock_auto_login", "alice")])
            .await;
        let response = app.get_absolute(&callback).await;
        assert_eq!(location(&response), lands, "returnTo={asked}");
        callbacks.push(callback);
        app.get("/logout").await;
    }
    assert_nothing_secret_logged(&app, &logs, &callbacks);
}

/// Two browsers log in interleaved, step by step; each sees only its own user.
async fn two_users_log_in_side_by_side(app: TestAppBuilder) {
    let logs = capture_logs();
    let alice = app.spawn().await;
    let carol = alice.other_browser();
    let alice_authorize = alice.start_login("").await;
    let carol_authorize = carol.start_login("").await;
    let alice_callback = alice
        .authorize(&alice_authorize, &[("mock_auto_login", "alice")])
        .await;
    let carol_callback = carol
        .authorize(&carol_authorize, &[("mock_auto_login", "carol")])
        .await;
    carol.get_absolute(&carol_callback).await;
    alice.get_absolute(&alice_callback).await;
    assert_user(&alice, "alice").await;
    assert_user(&carol, "carol").await;
    assert!(!alice.home().await.1.contains("Carol"));
    assert!(!carol.home().await.1.contains("Alice"));
    assert_nothing_secret_logged(&alice, &logs, &[alice_callback, carol_callback]);
}

/// Restart the app with the same configuration: a durable store still knows the session,
/// memory does not.
async fn a_restart_keeps_sessions_on_durable_stores_only(app: TestAppBuilder) {
    let logs = capture_logs();
    let mut app = app.spawn().await;
    let callback = app.login_as_returning_callback("alice").await;
    assert_user(&app, "alice").await;
    app.restart().await;
    if app.backing.kind == StoreKind::Memory {
        assert_guest(&app).await;
    } else {
        assert_user(&app, "alice").await;
    }
    assert_nothing_secret_logged(&app, &logs, &[callback]);
}

/// A second instance B on the same store: A's session works on B, and logging out on B ends it
/// on A. With the memory store, B knows nothing of A's sessions.
async fn a_second_instance_shares_sessions_on_durable_stores_only(app: TestAppBuilder) {
    let logs = capture_logs();
    let a = app.spawn().await;
    let b = a.second_instance().await;
    let callback = a.login_as_returning_callback("alice").await;
    let cookie = a.session_cookie().unwrap();
    let on_b = |path: &str| {
        // Cookies are host-scoped: B gets A's cookie by hand, as a shared domain would send it.
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(b.url(path))
            .header("cookie", &cookie)
            .send()
    };
    let home_on_b = on_b("/").await.unwrap().text().await.unwrap();
    if a.backing.kind == StoreKind::Memory {
        assert!(home_on_b.contains("Welcome Guest"), "{home_on_b}");
        assert_user(&a, "alice").await;
    } else {
        assert!(home_on_b.contains("Welcome Alice!"), "{home_on_b}");
        let logout = on_b("/logout").await.unwrap();
        assert_eq!(logout.status(), StatusCode::FOUND);
        let end_session = Url::parse(&location(&logout)).unwrap();
        assert_eq!(
            query_param(end_session.as_str(), "post_logout_redirect_uri").as_deref(),
            Some(a.base.as_str())
        );
        assert_guest(&a).await;
        let home_on_b = on_b("/").await.unwrap().text().await.unwrap();
        assert!(home_on_b.contains("Welcome Guest"), "{home_on_b}");
    }
    assert_nothing_secret_logged(&a, &logs, &[callback]);
    logs.assert_no_secrets_in(&b.process_log(), &[]);
}
