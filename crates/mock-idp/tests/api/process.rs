//! The `mock-idp` binary's new variables: the access-token lifetime and back-channel URIs, and
//! the admin endpoints a test drives it through when it runs as a process.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Auth, Login, Pending, TestIdp, callback_query};

const BIN: &str = env!("CARGO_BIN_EXE_mock-idp");

/// Kills the child even when an assertion fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_bad_lifetime_or_backchannel_uri_stops_startup_naming_the_variable() {
    for (var, value) in [
        ("MOCK_IDP_ACCESS_TOKEN_SECONDS", "soon"),
        ("MOCK_IDP_ACCESS_TOKEN_SECONDS", "99999999999"),
        ("MOCK_IDP_BACKCHANNEL_URIS", "http://ok/,ftp://nope/"),
    ] {
        let out = Command::new(BIN)
            .env("MOCK_IDP_PORT", "0")
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[tokio::test]
async fn the_binary_reads_the_lifetime_and_admin_changes_it() {
    // A free port for the child to bind, from outside the range outgoing connections use.
    let port = sesame_testkit::free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let _child = Running(
        Command::new(BIN)
            .env("MOCK_IDP_PORT", port.to_string())
            .env("MOCK_IDP_ISSUER", &issuer)
            .env("MOCK_IDP_ACCESS_TOKEN_SECONDS", "42")
            .env(
                "MOCK_IDP_BACKCHANNEL_URIS",
                "http://127.0.0.1:1/a, http://127.0.0.1:1/b",
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..300 {
        if http
            .get(format!("{issuer}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "mock-idp did not start");
    // Only the HTTP surface of `TestIdp` is used; its `idp` handle is a stand-in.
    let t = TestIdp {
        idp: crate::helpers::spawn().await.idp,
        issuer: issuer.clone(),
        http,
    };
    let tokens = tokens(&t).await;
    assert_eq!(tokens["expires_in"], 42);

    let (status, _) = t
        .admin("/admin/access-token-lifetime", &[("seconds", "7")])
        .await;
    assert_eq!(status, 200);
    assert_eq!(tokens_expiry(&t).await, 7);

    let stats = t.get_json("/admin/stats").await;
    assert_eq!(stats["token_requests"], 2);
    assert_eq!(stats["refresh_requests"], 0);

    // Both configured back-channel URIs are tried (and fail: nothing listens on port 1).
    let (status, body) = t
        .admin("/admin/logout-everywhere", &[("sub", "alice")])
        .await;
    assert_eq!(status, 200);
    let delivered = body["delivered"].as_array().unwrap();
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[0]["uri"], "http://127.0.0.1:1/a");
    assert_eq!(
        t.get_json("/admin/stats").await["backchannel_deliveries"],
        2
    );
}

async fn tokens(t: &TestIdp) -> Value {
    let pending = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&pending, &[("mock_auto_login", "alice")]))
        .send()
        .await
        .unwrap();
    let code = callback_query(&response)["code"].clone();
    let response = t.exchange(&Login { code, pending }, Auth::Basic, &[]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn tokens_expiry(t: &TestIdp) -> u64 {
    tokens(t).await["expires_in"].as_u64().unwrap()
}
