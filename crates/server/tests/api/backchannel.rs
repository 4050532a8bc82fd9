//! Issue 10's back-channel logout against the real `sesame` process, on every store, with two
//! instances (sharing the store, except memory, where each instance ends its own): a logout at
//! the provider ends that provider session's app sessions on both instances and no one else's;
//! an admin's "log out everywhere" ends every session of that user; every bad logout token is
//! refused with 400 and ends nothing; a replayed token ends nothing; failures are rate-limited.

use crate::helpers::{TestApp, TestAppBuilder, location};
use reqwest::StatusCode;
use reqwest::cookie::CookieStore;
use serde_json::Value;
use sesame_mock_idp::LogoutTokenFlaw;
use url::Url;

on_every_store!(
    a_provider_logout_ends_that_provider_sessions_app_sessions_everywhere,
    logging_a_user_out_everywhere_ends_only_their_sessions,
    every_bad_logout_token_is_refused_and_ends_nothing,
);

/// Two instances of one app, both registered at the provider for back-channel logout.
async fn two_instances(builder: TestAppBuilder) -> (TestApp, TestApp) {
    let a = builder.spawn().await;
    let b = a.second_instance().await;
    for instance in [&a, &b] {
        a.idp
            .add_backchannel_logout_uri(instance.url("/backchannel-logout"));
    }
    (a, b)
}

/// The browser's cookie at the provider (its single sign-on session), as a `Cookie` value.
fn provider_cookie(browser: &TestApp) -> String {
    let cookies = browser.jar.cookies(&browser.issuer).unwrap();
    cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find(|cookie| cookie.starts_with("mock_idp_session="))
        .expect("the provider set its session cookie")
        .to_owned()
}

/// Logs in on `instance` (its own cookie jar): with `mock_auto_login=name` (a new provider
/// session), or by single sign-on with a provider cookie (the provider session it names).
/// Instances share one public URL, so the provider sends the browser to the first instance's
/// callback; it is delivered to this one, as a load balancer would.
async fn log_in_on(instance: &TestApp, name: &str, provider_session: Option<&str>) {
    let mut authorize = instance.start_login("").await;
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize.clone());
    match provider_session {
        Some(cookie) => request = request.header("cookie", cookie),
        None => {
            authorize
                .query_pairs_mut()
                .append_pair("mock_auto_login", name);
            request = instance.client.get(authorize);
        }
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "the provider logs {name} in"
    );
    let mut callback = Url::parse(&location(&response)).unwrap();
    callback.set_port(instance.base.port()).unwrap();
    let landed = instance.get_absolute(callback.as_str()).await;
    assert_eq!(landed.status(), StatusCode::FOUND, "{name} lands logged in");
}

async fn assert_home(browser: &TestApp, expected: &str) {
    let (status, body) = browser.home().await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(expected), "expected {expected:?}: {body}");
}

async fn a_provider_logout_ends_that_provider_sessions_app_sessions_everywhere(
    builder: TestAppBuilder,
) {
    let (a, b) = two_instances(builder).await;
    // Browser 1: Alice on A, then on B by single sign-on (one provider session, two app ones).
    log_in_on(&a, "alice", None).await;
    let sso = provider_cookie(&a);
    log_in_on(&b, "alice", Some(&sso)).await;
    assert_eq!(
        a.idp.session_ids("alice").len(),
        1,
        "B reused A's provider session"
    );
    // Browser 2: Alice again with a provider session of her own; browser 3: Bob.
    let alice_elsewhere = a.other_browser();
    log_in_on(&alice_elsewhere, "alice", None).await;
    let bob = a.other_browser();
    log_in_on(&bob, "bob", None).await;
    for browser in [&a, &b, &alice_elsewhere] {
        assert_home(browser, "Welcome Alice!").await;
    }

    // Browser 1 logs out at the provider (from another app, say): the provider tells both
    // instances before it answers.
    let end_session = a.issuer.join("/oidc/logout").unwrap();
    let logout = a.get_absolute(end_session.as_str()).await;
    assert!(logout.status().is_success() || logout.status().is_redirection());
    assert_eq!(a.idp.backchannel_deliveries(), 2);

    assert_home(&a, "Welcome Guest").await;
    assert_home(&b, "Welcome Guest").await;
    assert_home(&alice_elsewhere, "Welcome Alice!").await;
    assert_home(&bob, "Welcome Bob!").await;
}

async fn logging_a_user_out_everywhere_ends_only_their_sessions(builder: TestAppBuilder) {
    let (a, b) = two_instances(builder).await;
    log_in_on(&a, "alice", None).await;
    let alice_on_b = b.other_browser();
    log_in_on(&alice_on_b, "alice", None).await;
    let alice_again = a.other_browser();
    log_in_on(&alice_again, "alice", None).await;
    let bob = a.other_browser();
    log_in_on(&bob, "bob", None).await;

    let deliveries = a.idp.logout_everywhere("alice").await;
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(delivery.status, Some(200), "{delivery:?}");
    }
    for alice in [&a, &alice_on_b, &alice_again] {
        assert_home(alice, "Welcome Guest").await;
    }
    assert_home(&bob, "Welcome Bob!").await;
    if let Some(count) = a.backing.session_count().await {
        assert_eq!(count, 1, "only Bob's session is left");
    }
}

/// POSTs `token` as a back-channel logout: the status, the JSON body, and `Cache-Control`.
async fn post_logout_token(app: &TestApp, token: &str) -> (StatusCode, Value, String) {
    let response = reqwest::Client::new()
        .post(app.url("/backchannel-logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, response.json().await.unwrap_or(Value::Null), cache)
}

async fn every_bad_logout_token_is_refused_and_ends_nothing(builder: TestAppBuilder) {
    let app = builder.spawn().await;
    log_in_on(&app, "alice", None).await;
    let sid = app.idp.session_ids("alice").pop().unwrap();
    let token = |flaw: LogoutTokenFlaw| {
        let sid = (flaw != LogoutTokenFlaw::NoSidOrSub).then_some(sid.as_str());
        let sub = (flaw != LogoutTokenFlaw::NoSidOrSub).then_some("alice");
        app.idp.logout_token(sub, sid, flaw).unwrap()
    };
    for flaw in LogoutTokenFlaw::ALL {
        if flaw == LogoutTokenFlaw::None {
            continue;
        }
        let (status, body, cache) = post_logout_token(&app, &token(flaw)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{flaw}: {body}");
        assert_eq!(body["error"], "invalid_request", "{flaw}: {body}");
        assert_eq!(cache, "no-store", "{flaw}");
        assert_home(&app, "Welcome Alice!").await;
    }
    let (status, body, _) = post_logout_token(&app, "not-a-jwt").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A good one works, once: replayed after Alice logs in again, it ends nothing.
    let good = token(LogoutTokenFlaw::None);
    let (status, body, cache) = post_logout_token(&app, &good).await;
    assert_eq!(
        (status, cache.as_str()),
        (StatusCode::OK, "no-store"),
        "{body}"
    );
    assert_home(&app, "Welcome Guest").await;
    let sso = provider_cookie(&app);
    log_in_on(&app, "alice", Some(&sso)).await;
    let (status, body, _) = post_logout_token(&app, &good).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a replay is refused: {body}"
    );
    assert_home(&app, "Welcome Alice!").await;
}

/// A sender of bad tokens is slowed like a failed callback, on a budget of its own.
#[tokio::test]
async fn addresses_sending_bad_logout_tokens_are_slowed() {
    let app = TestApp::builder()
        .env(&[("CALLBACK_FAILURE_LIMIT", "3/1m")])
        .spawn()
        .await;
    let bad = app
        .idp
        .logout_token(Some("alice"), None, LogoutTokenFlaw::BadSignature)
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            post_logout_token(&app, &bad).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, body, _) = post_logout_token(&app, &bad).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Logins from the same address still have their own budget.
    assert_eq!(app.login_as("bob").await.status(), StatusCode::FOUND);
}
