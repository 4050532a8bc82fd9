//! The host's side of issue 10, in process against the live mock IdP: `AccessToken` in a host
//! handler (fresh, refreshed on demand, accepted by the provider's API), the expiry hint on
//! `CurrentUser`, and `Sesame::end_sessions_of_user` for an admin's "log out everywhere".

use crate::helpers::{Host, serve};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame_axum::{AccessToken, CurrentUser, Sesame};
use std::time::Duration;

/// Calls the provider's userinfo with `token`, as a host calls its own API.
async fn call_api(sesame: &Sesame, token: &AccessToken) -> Value {
    let endpoint = sesame.userinfo_endpoint().unwrap().clone();
    reqwest::Client::new()
        .get(endpoint)
        .bearer_auth(token.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null)
}

async fn api(State(sesame): State<Sesame>, token: AccessToken) -> Json<Value> {
    Json(json!({ "expires_at": token.expires_at(), "api": call_api(&sesame, &token).await }))
}

async fn renewed(State(sesame): State<Sesame>, user: CurrentUser) -> Json<Value> {
    let token = user.access_token().await.unwrap();
    let renewed = token.refresh().await.unwrap();
    Json(json!({ "api": call_api(&sesame, &renewed).await }))
}

async fn hint(user: CurrentUser) -> Json<Value> {
    Json(json!({ "expires_at": user.access_token_expires_at() }))
}

async fn log_out_everywhere(State(sesame): State<Sesame>, Path(subject): Path<String>) -> String {
    sesame
        .end_sessions_of_user(&subject)
        .await
        .unwrap()
        .to_string()
}

async fn host() -> Host {
    serve(
        |builder| builder.scopes(["openid", "profile", "email", "offline_access"]),
        |sesame| {
            Router::new()
                .route("/api", get(api))
                .route("/renewed", get(renewed))
                .route("/hint", get(hint))
                .route(
                    "/me",
                    get(|user: CurrentUser| async move { user.name().to_owned() }),
                )
                .route("/admin/log-out/{subject}", post(log_out_everywhere))
                .with_state(sesame.clone())
                .merge(sesame.routes())
                .layer(sesame.session_layer())
        },
    )
    .await
}

async fn json(host: &Host, path: &str) -> (StatusCode, Value) {
    let response = host.fetch(path, "application/json").await;
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_host_handler_gets_a_working_token_and_can_force_a_new_one() {
    let host = host().await;
    host.idp.set_access_token_lifetime(Duration::from_secs(1));
    let landed = host.log_in_from(host.navigate("/me").await, "alice").await;
    assert_eq!(landed.status(), StatusCode::FOUND);
    let (_, hint_at_login) = json(&host, "/hint").await;
    assert!(hint_at_login["expires_at"].is_i64(), "{hint_at_login}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    host.idp
        .set_access_token_lifetime(Duration::from_secs(3600));
    let (status, body) = json(&host, "/api").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["api"]["sub"], "mock|alice",
        "the expired token was renewed: {body}"
    );
    assert_eq!(host.idp.refresh_requests(), 1);
    // The record noted the renewed token's expiry (an hour away now).
    let (_, hint) = json(&host, "/hint").await;
    assert!(
        hint["expires_at"].as_i64() > hint_at_login["expires_at"].as_i64(),
        "{hint}"
    );

    let (status, body) = json(&host, "/renewed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["api"]["sub"], "mock|alice", "{body}");
    assert_eq!(
        host.idp.refresh_requests(),
        2,
        "refresh() always asks the provider"
    );
    assert_eq!(host.idp.refresh_reuses(), 0);
}

#[tokio::test]
async fn the_host_can_log_a_user_out_everywhere() {
    let alice = host().await;
    alice
        .log_in_from(alice.navigate("/me").await, "alice")
        .await;
    // Two more browsers on the same host: Alice again, and Bob.
    let browser = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let alice_again = Host {
        base: alice.base.clone(),
        idp: alice.idp.clone(),
        client: browser(),
    };
    alice_again
        .log_in_from(alice_again.navigate("/me").await, "alice")
        .await;
    let bob = Host {
        base: alice.base.clone(),
        idp: alice.idp.clone(),
        client: browser(),
    };
    bob.log_in_from(bob.navigate("/me").await, "bob").await;

    let ended = reqwest::Client::new()
        .post(alice.url("/admin/log-out/mock%7Calice"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ended, "2");
    for browser in [&alice, &alice_again] {
        assert_eq!(json(browser, "/me").await.0, StatusCode::UNAUTHORIZED);
    }
    let me = bob.fetch("/me", "*/*").await;
    assert_eq!(me.text().await.unwrap(), "Bob");
}
