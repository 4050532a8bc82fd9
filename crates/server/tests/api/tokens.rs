//! Issue 10's access tokens against the real `sesame` process, on every store: one refresh for
//! fifty requests (on one instance and on two), rotation that survives an idle touch racing the
//! refresh, `invalid_grant` ending the session, the login-again answers, revocation at logout,
//! and tokens that are never in the store in the clear.
//!
//! The API called is the provider's userinfo, through the binary's `/api/userinfo`: the mock
//! IdP refuses an expired access token there, so a 200 proves the token used was valid.

use crate::futures_join_all;
use crate::helpers::{TestApp, TestAppBuilder, location};
use reqwest::StatusCode;
use serde_json::Value;
use sesame_axum::StoreKind;
use std::time::Duration;
use url::Url;

/// Ask for a refresh token (the mock, like Auth0, issues one only with `offline_access`).
const WITH_REFRESH: [(&str, &str); 1] = [("OIDC_SCOPES", "openid profile email offline_access")];

on_every_store!(
    fifty_requests_with_an_expired_token_make_one_refresh,
    a_touch_racing_a_refresh_never_brings_back_a_used_refresh_token,
    a_refused_refresh_token_ends_the_session,
    without_a_refresh_token_an_expired_token_means_logging_in_again,
    logout_revokes_the_refresh_token,
    tokens_are_sealed_in_the_store,
);

/// `GET path` on `base` with `cookie`, as an API client (JSON, no redirects followed).
async fn api_get(base: Url, path: &'static str, cookie: String) -> (StatusCode, Value) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(base.join(path).unwrap())
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Logs `name` in on `app` with an access token that expires after a second, waits until it
/// has, and makes the provider's next tokens long-lived (so exactly one refresh is due).
async fn logged_in_with_an_expired_token(app: &TestApp, name: &str) -> String {
    app.idp.set_access_token_lifetime(Duration::from_secs(1));
    assert_eq!(app.login_as(name).await.status(), StatusCode::FOUND);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.idp.set_access_token_lifetime(Duration::from_secs(3600));
    app.session_cookie().unwrap()
}

fn assert_all_served(answers: &[(StatusCode, Value)], subject: &str) {
    for (status, body) in answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["sub"], subject, "{body}");
    }
}

async fn fifty_requests_with_an_expired_token_make_one_refresh(builder: TestAppBuilder) {
    let a = builder.env(&WITH_REFRESH).spawn().await;
    let cookie = logged_in_with_an_expired_token(&a, "alice").await;
    let calls = (0..50).map(|_| api_get(a.base.clone(), "/api/userinfo", cookie.clone()));
    assert_all_served(&futures_join_all(calls).await, "mock|alice");
    assert_eq!(
        a.idp.refresh_requests(),
        1,
        "one refresh for fifty requests"
    );
    assert_eq!(a.idp.refresh_reuses(), 0);

    // The page says when the token expires, and never shows it.
    let (_, home) = a.home().await;
    assert!(home.contains("Access token expires"), "{home}");

    if a.backing.kind == StoreKind::Memory {
        return; // A second instance shares nothing with the first.
    }
    // Two instances on the one store: 25 requests on each, still one refresh.
    let b = a.second_instance().await;
    let bob = a.other_browser();
    let cookie = logged_in_with_an_expired_token(&bob, "bob").await;
    let calls = (0..50).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        api_get(base.clone(), "/api/userinfo", cookie.clone())
    });
    assert_all_served(&futures_join_all(calls).await, "mock|bob");
    assert_eq!(
        a.idp.refresh_requests(),
        2,
        "one more refresh for two instances"
    );
    assert_eq!(a.idp.refresh_reuses(), 0);
}

/// tower-sessions saves a session record whole: a page view that loaded the record before a
/// refresh and saves its idle touch after must not put the used refresh token back. Here every
/// round has touches (`/`, due every 2 s) and a refresh landing together; the next round's
/// refresh would present a used token if one had been written back, which the provider counts
/// and answers with `invalid_grant`.
async fn a_touch_racing_a_refresh_never_brings_back_a_used_refresh_token(builder: TestAppBuilder) {
    let app = builder
        .env(&WITH_REFRESH)
        // A touch falls due every 2 s (a quarter of the idle timeout): each round below.
        .env(&[("SESSION_IDLE_TIMEOUT", "8s")])
        .spawn()
        .await;
    app.idp.set_access_token_lifetime(Duration::from_secs(1));
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    let cookie = app.session_cookie().unwrap();
    for round in 1..=3 {
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let calls = (0..12).map(|i| {
            let path = if i % 3 == 0 { "/api/userinfo" } else { "/" };
            api_get(app.base.clone(), path, cookie.clone())
        });
        for (status, _) in futures_join_all(calls).await {
            assert_eq!(status, StatusCode::OK, "round {round}");
        }
        assert_eq!(
            app.idp.refresh_requests(),
            round,
            "one refresh in round {round}"
        );
    }
    assert_eq!(
        app.idp.refresh_reuses(),
        0,
        "a used refresh token came back"
    );
    let (_, home) = app.home().await;
    assert!(home.contains("Welcome Alice!"), "{home}");
}

async fn a_refused_refresh_token_ends_the_session(builder: TestAppBuilder) {
    let app = builder.env(&WITH_REFRESH).spawn().await;
    let cookie = logged_in_with_an_expired_token(&app, "alice").await;
    assert_eq!(app.idp.revoke_refresh_tokens("alice"), 1);
    let (status, body) = api_get(app.base.clone(), "/api/userinfo", cookie.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "login_required", "{body}");
    let (_, home) = app.home().await;
    assert!(home.contains("Welcome Guest"), "the session ended: {home}");
    if let Some(count) = app.backing.session_count().await {
        assert_eq!(count, 0, "the session is gone from the store");
    }
}

async fn without_a_refresh_token_an_expired_token_means_logging_in_again(builder: TestAppBuilder) {
    let app = builder.spawn().await;
    let cookie = logged_in_with_an_expired_token(&app, "alice").await;
    let (status, body) = api_get(app.base.clone(), "/api/userinfo", cookie.clone()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an API call gets a 401: {body}"
    );
    assert_eq!(app.idp.refresh_requests(), 0, "nothing to refresh with");
    let navigation = app
        .client
        .get(app.url("/api/userinfo"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(
        navigation.status(),
        StatusCode::FOUND,
        "a browser is sent to log in"
    );
    assert_eq!(location(&navigation), "/login?returnTo=%2Fapi%2Fuserinfo");
}

async fn logout_revokes_the_refresh_token(builder: TestAppBuilder) {
    let app = builder.env(&WITH_REFRESH).spawn().await;
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    let logout = app.get("/logout").await;
    assert_eq!(logout.status(), StatusCode::FOUND);
    // Revoked in the background, so the user does not wait on the provider.
    for _ in 0..100 {
        if app.idp.revocations() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.idp.revocations(), 1);
}

/// Whatever the store holds, no token is readable in it: the ID token (a JWT) is the one whose
/// shape is known, and the session record holds none at all.
async fn tokens_are_sealed_in_the_store(builder: TestAppBuilder) {
    let app = builder.env(&WITH_REFRESH).spawn().await;
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    let dump = match app.backing.kind {
        StoreKind::Memory => return, // nothing outside the process to read
        StoreKind::Redis => {
            let redis = app.backing.redis();
            let keys = redis.cli(1, &["--scan"]);
            assert!(keys.contains("sesame:tokens:{"), "{keys}");
            keys.lines()
                .map(|key| redis.cli(1, &["--no-raw", "get", key]))
                .collect::<String>()
        }
        StoreKind::Sqlite => {
            let dir = app.backing.dir.as_ref().unwrap();
            let file = std::fs::read(dir.path().join("sessions.db")).unwrap_or_default();
            let wal = std::fs::read(dir.path().join("sessions.db-wal")).unwrap_or_default();
            String::from_utf8_lossy(&[file, wal].concat()).into_owned()
        }
        StoreKind::Postgres => {
            let database = app.backing.postgres();
            let tables = database
                .query("select table_name from information_schema.tables where table_schema = 'sesame'")
                .unwrap();
            assert!(tables.contains("sessions_tokens"), "{tables}");
            // Every column of every row of Sesame's tables, as text, bytea with its printable
            // bytes as they are (the default hex output would hide a JWT as well as the name).
            tables
                .lines()
                .map(|table| {
                    database
                        .query(&format!(
                            "set bytea_output = 'escape'; select t::text from sesame.{table} t"
                        ))
                        .unwrap()
                })
                .collect::<String>()
        }
    };
    assert!(
        dump.contains("Alice"),
        "the dump has the session: nothing to check otherwise"
    );
    sesame_testkit::assert_no_jwt(&dump, "the store");
}

/// OpenID Connect Core §12.2: a refresh answer's ID token must describe the same login. One
/// naming another user is refused; the refresh token was spent on it, so the login ends (the
/// user logs in again) rather than go on with tokens that describe someone else.
#[tokio::test]
async fn a_refreshed_id_token_naming_another_user_is_refused() {
    let app = TestApp::builder().env(&WITH_REFRESH).spawn().await;
    app.idp.set_access_token_lifetime(Duration::from_secs(1));
    let callback = app
        .callback_with(&[
            ("mock_auto_login", "alice"),
            ("mock_misbehave", "refresh-other-subject"),
        ])
        .await;
    assert_eq!(
        app.get_absolute(&callback).await.status(),
        StatusCode::FOUND
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cookie = app.session_cookie().unwrap();
    let (status, body) = api_get(app.base.clone(), "/api/userinfo", cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(app.idp.refresh_requests(), 1);
    let (_, home) = app.home().await;
    assert!(home.contains("Welcome Guest"), "{home}");
}
