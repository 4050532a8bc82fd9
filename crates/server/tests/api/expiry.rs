//! Session lifetimes, the same on every store: the idle timeout rolls with use, a session left
//! alone ends, and the absolute timeout ends a login however active it is.

use crate::helpers::TestApp;
use sesame_axum::StoreKind;
use std::time::{Duration, Instant};

async fn app_with(kind: StoreKind, idle: &str, absolute: &str) -> TestApp {
    TestApp::builder()
        .store(kind)
        .env(&[
            ("SESSION_IDLE_TIMEOUT", idle),
            ("SESSION_ABSOLUTE_TIMEOUT", absolute),
        ])
        .spawn()
        .await
}

async fn logged_in(app: &TestApp) -> bool {
    app.home().await.1.contains("Welcome Alice!")
}

/// Page views every 0.7 s keep a 3 s idle session alive past 3 s; then, left alone for
/// longer than the idle timeout, it ends.
async fn idle_timeout_rolls_with_use_and_ends_when_left_alone(kind: StoreKind) {
    let app = app_with(kind, "3s", "1h").await;
    app.login_as("alice").await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        assert!(logged_in(&app).await, "active for {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!logged_in(&app).await, "idle for 3.5 s of a 3 s timeout");
}

/// A 3 s absolute timeout ends the login at 3 s even with a page view every half second.
async fn absolute_timeout_ends_even_an_active_login(kind: StoreKind) {
    let app = app_with(kind, "1h", "3s").await;
    app.login_as("alice").await;
    let started = Instant::now();
    let mut ended_at = None;
    while started.elapsed() < Duration::from_secs(6) {
        if !logged_in(&app).await {
            ended_at = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ended_at = ended_at.expect("the login outlived its absolute timeout");
    assert!(
        ended_at >= Duration::from_secs(2),
        "ended too early: {ended_at:?}"
    );
    assert!(
        app.session_cookie().is_none(),
        "the ended session's cookie is cleared"
    );
}

macro_rules! expiry_suite {
    ($($store:ident => $kind:expr),+ $(,)?) => {$(
        mod $store {
            use super::*;

            #[tokio::test]
            async fn idle_timeout_rolls_with_use_and_ends_when_left_alone() {
                super::idle_timeout_rolls_with_use_and_ends_when_left_alone($kind).await;
            }

            #[tokio::test]
            async fn absolute_timeout_ends_even_an_active_login() {
                super::absolute_timeout_ends_even_an_active_login($kind).await;
            }
        }
    )+};
}

expiry_suite! {
    memory => StoreKind::Memory,
    redis => StoreKind::Redis,
    sqlite => StoreKind::Sqlite,
    postgres => StoreKind::Postgres,
}
