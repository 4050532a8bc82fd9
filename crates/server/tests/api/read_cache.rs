//! The Redis and PostgreSQL stores' read caches (on by default) behind the real `sesame`
//! process: page views stop costing a Redis round trip, and a logout on one instance is refused
//! on another within the bound, however many times that instance had served the session from
//! its cache. (That PostgreSQL's cache serves from memory is shown in the store's own tests,
//! `crates/store/tests/postgres_read_cache.rs`.)

use crate::helpers::{Mode, TestApp};
use reqwest::StatusCode;
use sesame_axum::StoreKind;
use std::time::{Duration, Instant};

/// How long after a logout on B a page view on A may still show the user (the bound).
const BOUND: Duration = Duration::from_secs(2);

/// `GET`s the app's Redis has answered so far.
fn gets_served(app: &TestApp) -> u64 {
    app.backing.redis().calls("get")
}

async fn logout_at(app: &TestApp, cookie: &str) {
    let logout = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/logout"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_on_another_within_the_bound() {
    logout_refused_within_the_bound(StoreKind::Redis).await;
}

#[tokio::test]
async fn a_postgres_logout_on_one_instance_is_refused_on_another_within_the_bound() {
    logout_refused_within_the_bound(StoreKind::Postgres).await;
}

async fn logout_refused_within_the_bound(store: StoreKind) {
    let a = TestApp::builder()
        .store(store)
        .mode(Mode::Process)
        .spawn()
        .await;
    let b = a.second_instance().await;
    for round in 0..5 {
        assert!(a.login_as("alice").await.status().is_redirection());
        let cookie = a.session_cookie().unwrap();
        // A serves the session from its cache: many views, hardly any reads.
        let before = (store == StoreKind::Redis).then(|| gets_served(&a));
        for _ in 0..20 {
            assert!(a.home_as(&cookie).await.1.contains("Welcome Alice!"));
        }
        if let Some(before) = before {
            let reads = gets_served(&a) - before;
            assert!(reads <= 2, "20 page views cost {reads} Redis reads");
        }

        logout_at(&b, &cookie).await;
        let logged_out = Instant::now();
        loop {
            let (status, body) = a.home_as(&cookie).await;
            assert_eq!(status, StatusCode::OK);
            if body.contains("Welcome Guest") {
                break;
            }
            assert!(body.contains("Welcome Alice!"), "{body}");
            assert!(
                logged_out.elapsed() < BOUND,
                "round {round}: A still showed Alice {:?} after B's logout",
                logged_out.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!(
            "{store:?} round {round}: A refused the session {:?} after B's logout",
            logged_out.elapsed()
        );
    }
}
