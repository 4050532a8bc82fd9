//! The whole login flow over loopback against the live mock IdP, memory store. The provider's
//! misbehaviour is in `rp_conformance.rs`, attacks on the callback and cookies in `web_attacks.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::{TestApp, location, spawn_app};
use reqwest::StatusCode;
use sesame_mock_idp::MockIdpConfig;
use url::Url;

#[tokio::test]
async fn a_guest_sees_welcome_guest_and_a_login_link() {
    let app = spawn_app().await;
    let (status, body) = app.home().await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Welcome Guest"));
    assert!(body.contains(r#"href="/login""#));
    assert!(
        app.session_cookie().is_none(),
        "a guest page must not create a session"
    );
}

#[tokio::test]
async fn login_asks_for_everything_a_secure_code_flow_needs() {
    let app = spawn_app().await;
    let authorize = app.start_login("").await;
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "sesame");
    assert_eq!(query["redirect_uri"], app.url("/callback").as_str());
    let scopes: Vec<_> = query["scope"].split(' ').collect();
    for scope in ["openid", "profile", "email"] {
        assert!(scopes.contains(&scope), "scope {scope} missing");
    }
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["code_challenge"].len() >= 43);
    assert!(query["state"].len() >= 16 && query["nonce"].len() >= 16);
    let cookie = app
        .session_cookie()
        .expect("pending login kept in a session");
    assert!(
        !cookie.contains(&query["state"]),
        "the cookie holds only the session id"
    );
}

#[tokio::test]
async fn login_then_logout_with_every_hop_checked() {
    let app = spawn_app().await;
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

    let (status, body) = app.home().await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Welcome Alice!"), "{body}");
    assert!(body.contains("alice@example.com"));
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
    assert!(!body.contains("eyJ"), "no raw JWT in the page");
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
    let (_, body) = app.home().await;
    assert!(body.contains("Welcome Guest"));

    // The old cookie, replayed, must find nothing: the session was deleted server-side.
    let replay = reqwest::Client::new()
        .get(app.url("/"))
        .header("cookie", &cookie_after)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(replay.contains("Welcome Guest"));
}

#[tokio::test]
async fn the_form_login_works_too() {
    let app = spawn_app().await;
    let authorize = app.start_login("").await;
    let form = app.get_absolute(authorize.as_str()).await;
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(html.contains(r#"name="username""#));
    // Post back exactly what the form carries: its hidden inputs plus a username.
    let mut fields: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    fields.push(("username".into(), "bob".into()));
    let response = app
        .client
        .post(app.issuer.join("authorize").unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let response = app.get_absolute(&location(&response)).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Bob!"));
}

#[tokio::test]
async fn logins_started_in_two_tabs_both_work() {
    let app = spawn_app().await;
    let first = app.start_login("?returnTo=/first").await;
    let second = app.start_login("?returnTo=/second").await;
    let callback = app.authorize(&first, &[("mock_auto_login", "alice")]).await;
    let response = app.get_absolute(&callback).await;
    assert_eq!(location(&response), "/first");
    assert!(app.home().await.1.contains("Welcome Alice!"));
    // The second tab's login was discarded when the first completed.
    let callback = app
        .authorize(&second, &[("mock_auto_login", "alice")])
        .await;
    let response = app.get_absolute(&callback).await;
    assert_eq!(location(&response), "/", "already logged in: sent home");
}

#[tokio::test]
async fn an_unknown_page_is_a_404_page() {
    let app = spawn_app().await;
    let response = app.get("/nope").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn health_endpoints_answer() {
    let app: TestApp = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let _ = MockIdpConfig::default();
}
