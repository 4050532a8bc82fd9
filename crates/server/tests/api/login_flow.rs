//! Details of the login flow over loopback against the live mock IdP, memory store. The whole
//! flow on every store and as a real process is in `scenarios.rs`, the provider's misbehaviour
//! in `rp_conformance.rs`, attacks on the callback and cookies in `web_attacks.rs`.

use crate::helpers::{TestApp, location};
use reqwest::StatusCode;

#[tokio::test]
async fn a_guest_sees_welcome_guest_and_a_login_link() {
    let app = TestApp::spawn().await;
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
    let app = TestApp::spawn().await;
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
async fn logins_started_in_two_tabs_both_work() {
    let app = TestApp::spawn().await;
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
    let app = TestApp::spawn().await;
    let response = app.get("/nope").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn health_endpoints_answer() {
    let app: TestApp = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}
