//! Relying-party conformance, in the spirit of the OpenID Foundation's "Basic RP" and "Config RP"
//! test plans: the live mock IdP misbehaves on purpose, one way per test, and Sesame refuses
//! every time. A refusal is shown by all of: a 4xx error page with a sentence that helps the
//! user, no session left (no cookie in the jar, the home page says Guest), one `warn` line naming
//! the reason and holding no token, and a normal login working right after on the same app.
//! The acceptance cases (a single key without `kid`, key rotation) log the user in.
//!
//! Each test spawns its own app and IdP and runs on the default `current_thread` runtime, which
//! is what lets [`crate::helpers::capture_logs`] see exactly this test's server log lines.

use crate::helpers::{LogCapture, TestApp, capture_logs, location, query_param};
use reqwest::StatusCode;
use sesame_mock_idp::MockIdpConfig;
use std::time::{Duration, Instant};

/// The error page's sentence when the provider's answer fails a check (the escaped apostrophes
/// of "Sesame's" are left out: the page escapes them as HTML).
const FAILED_A_CHECK: &str = "security checks, so you were not logged in";
/// The error page's sentence when the provider did not answer properly.
const PROVIDER_TROUBLE: &str = "could not complete your login with the identity provider";
/// The error page's sentence when the provider refused the login itself.
const PROVIDER_REFUSED: &str = "The identity provider did not log you in";

/// One login on `app` in which the provider misbehaves as `misbehave`, checked end to end.
/// Returns how long the callback took to answer.
async fn assert_refused(
    app: &TestApp,
    logs: &LogCapture,
    misbehave: &str,
    status: StatusCode,
    sentence: &str,
    reason: &[&str],
) -> Duration {
    let authorize = app.start_login("?returnTo=/private").await;
    let state = query_param(authorize.as_str(), "state").unwrap();
    let callback = app
        .authorize(
            &authorize,
            &[("mock_auto_login", "alice"), ("mock_misbehave", misbehave)],
        )
        .await;
    let code = query_param(&callback, "code").unwrap_or_default();

    let started = Instant::now();
    let response = app.get_absolute(&callback).await;
    let took = started.elapsed();
    assert_eq!(response.status(), status, "{misbehave}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{misbehave}: an HTML error page"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains(sentence),
        "{misbehave}: the page lacks `{sentence}`: {body}"
    );
    sesame_testkit::assert_no_jwt(&body, &format!("{misbehave}: the error page"));

    assert!(
        app.session_cookie().is_none(),
        "{misbehave}: a refused login left a session cookie"
    );
    let (_, home) = app.home().await;
    assert!(home.contains("Welcome Guest"), "{misbehave}: {home}");
    assert!(app.session_cookie().is_none());

    logs.assert_one_refusal(reason);
    logs.assert_no_secrets(&[&code, &state]);
    assert_still_serves(app, logs).await;
    took
}

/// A correct login right after: the refusal broke nothing.
async fn assert_still_serves(app: &TestApp, logs: &LogCapture) {
    logs.clear();
    let response = app.login_as("bob").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/");
    assert!(app.home().await.1.contains("Welcome Bob!"));
    assert!(logs.refusals().is_empty(), "{:#?}", logs.refusals());
    app.get("/logout").await;
}

/// One test per misbehaviour that needs nothing but the default provider.
macro_rules! refused {
    ($($name:ident: $misbehave:literal => $status:ident, $sentence:expr, $reason:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let logs = capture_logs();
            let app = TestApp::spawn().await;
            assert_refused(&app, &logs, $misbehave, StatusCode::$status, $sentence, &$reason)
                .await;
        }
    )*};
}

refused! {
    wrong_iss_is_refused: "wrong-iss" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token issuer is wrong"];
    wrong_aud_is_refused: "wrong-aud" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token audience is wrong"];
    missing_aud_is_refused: "missing-aud" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token audience is wrong", "must contain `sesame`"];
    missing_sub_is_refused: "missing-sub" => UNAUTHORIZED, PROVIDER_TROUBLE,
        ["token response is malformed", "missing field `sub`"];
    missing_iat_is_refused: "missing-iat" => UNAUTHORIZED, PROVIDER_TROUBLE,
        ["token response is malformed", "missing field `iat`"];
    expired_id_token_is_refused: "expired" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token has expired"];
    iat_in_the_future_is_refused: "iat-future" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token was issued in the future"];
    bad_signature_is_refused: "bad-signature" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token signature is invalid"];
    alg_none_is_refused: "alg-none" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token signature is invalid"];
    wrong_nonce_is_refused: "wrong-nonce" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token nonce is wrong"];
    missing_nonce_is_refused: "missing-nonce" => UNAUTHORIZED, FAILED_A_CHECK,
        ["ID token nonce is wrong"];
    wrong_at_hash_is_refused: "wrong-at-hash" => UNAUTHORIZED, FAILED_A_CHECK,
        ["at_hash does not match"];
    userinfo_sub_mismatch_is_refused: "userinfo-sub-mismatch" => UNAUTHORIZED, FAILED_A_CHECK,
        ["userinfo `sub` differs"];
    token_endpoint_500_is_refused: "token-error-500" => UNAUTHORIZED, PROVIDER_TROUBLE,
        ["the token request failed", "HTTP 500"];
    token_endpoint_invalid_json_is_refused: "token-invalid-json" => UNAUTHORIZED, PROVIDER_TROUBLE,
        ["token response is malformed"];
}

#[tokio::test]
async fn access_denied_with_a_hostile_description_is_shown_escaped() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    assert_refused(
        &app,
        &logs,
        "access-denied",
        StatusCode::FORBIDDEN,
        PROVIDER_REFUSED,
        &["access_denied"],
    )
    .await;
    // The provider's description is shown, as text: assert_refused saw the page; look again.
    let authorize = app.start_login("").await;
    let callback = app
        .authorize(
            &authorize,
            &[
                ("mock_auto_login", "alice"),
                ("mock_misbehave", "access-denied"),
            ],
        )
        .await;
    let body = app.get_absolute(&callback).await.text().await.unwrap();
    assert!(!body.contains("<script>alert(1)</script>"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert_eq!(app.idp.token_requests(), 1, "only bob's login reached it");
}

#[tokio::test]
async fn a_signing_key_not_in_the_jwks_is_refused_after_one_refetch() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    assert_eq!(app.idp.jwks_requests(), 1, "fetched once at startup");
    assert_refused(
        &app,
        &logs,
        "unknown-key",
        StatusCode::UNAUTHORIZED,
        FAILED_A_CHECK,
        &["no signing key matches the ID token"],
    )
    .await;
    assert_eq!(
        app.idp.jwks_requests(),
        2,
        "an unknown kid makes Sesame look at the JWKS once more"
    );
}

#[tokio::test]
async fn no_kid_with_several_keys_is_refused() {
    let logs = capture_logs();
    let app = TestApp::builder()
        .idp(MockIdpConfig {
            key_count: 2,
            ..MockIdpConfig::default()
        })
        .spawn()
        .await;
    assert_refused(
        &app,
        &logs,
        "no-kid",
        StatusCode::UNAUTHORIZED,
        FAILED_A_CHECK,
        &["no signing key matches the ID token"],
    )
    .await;
}

/// The provider hangs for 30 s; with `OIDC_HTTP_TIMEOUT=2s` the user has an answer in well under 5.
#[tokio::test]
async fn a_slow_token_endpoint_times_out_with_an_error_page() {
    let logs = capture_logs();
    let app = TestApp::builder()
        .env(&[("OIDC_HTTP_TIMEOUT", "2s")])
        .spawn()
        .await;
    let took = assert_refused(
        &app,
        &logs,
        "token-slow",
        StatusCode::UNAUTHORIZED,
        PROVIDER_TROUBLE,
        &["the token request failed", "timed out"],
    )
    .await;
    assert!(
        took < Duration::from_secs(5),
        "the error page took {took:?}"
    );
}

/// Acceptance: an ID token without `kid` is fine when the JWKS has exactly one key.
#[tokio::test]
async fn no_kid_with_a_single_key_logs_the_user_in() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let authorize = app.start_login("?returnTo=/private").await;
    let callback = app
        .authorize(
            &authorize,
            &[("mock_auto_login", "alice"), ("mock_misbehave", "no-kid")],
        )
        .await;
    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/private");
    assert!(app.home().await.1.contains("Welcome Alice!"));
    assert!(logs.refusals().is_empty(), "{:#?}", logs.refusals());
    logs.assert_no_secrets(&[]);
}

/// Acceptance: the provider rotates its keys after a first login; the next login succeeds because
/// Sesame refetches the JWKS on the unknown `kid`. Hostile tokens with unknown kids arriving right
/// after do not make it fetch again within the refetch interval (10 s).
#[tokio::test]
async fn key_rotation_is_followed_and_refetching_is_rate_limited() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Alice!"));
    assert_eq!(app.idp.jwks_requests(), 1);
    app.get("/logout").await;

    let old_kids = app.idp.key_ids();
    let idp = app.idp.clone();
    tokio::task::spawn_blocking(move || idp.rotate_keys())
        .await
        .unwrap();
    assert_ne!(app.idp.key_ids(), old_kids);

    let response = app.login_as("bob").await;
    assert_eq!(response.status(), StatusCode::FOUND, "login after rotation");
    assert!(app.home().await.1.contains("Welcome Bob!"));
    assert_eq!(app.idp.jwks_requests(), 2, "refetched once for the new kid");
    assert!(logs.refusals().is_empty(), "{:#?}", logs.refusals());
    app.get("/logout").await;

    for attempt in 0..3 {
        let authorize = app.start_login("").await;
        let callback = app
            .authorize(
                &authorize,
                &[
                    ("mock_auto_login", "mallory"),
                    ("mock_misbehave", "unknown-key"),
                ],
            )
            .await;
        let response = app.get_absolute(&callback).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
        assert!(app.session_cookie().is_none());
    }
    assert_eq!(
        app.idp.jwks_requests(),
        2,
        "unknown kids within the interval cause no further JWKS fetch"
    );
    assert_eq!(logs.refusals().len(), 3);
    logs.assert_no_secrets(&[]);
}

/// Discovery declares another issuer: Sesame refuses to start, naming the variable, so no
/// browser is ever redirected to that provider.
#[tokio::test]
async fn a_discovery_issuer_other_than_the_configured_one_stops_startup() {
    let (idp, _) = sesame_mock_idp::spawn_for_tests(MockIdpConfig {
        discovery_issuer_override: Some("https://evil.example".to_owned()),
        ..MockIdpConfig::default()
    })
    .await
    .unwrap();
    let env = [
        ("OIDC_ISSUER", idp.issuer()),
        ("AUTH0_CLIENT_ID", "sesame"),
        ("AUTH0_CLIENT_SECRET", "sesame-secret"),
        ("APP_SECRET_KEY", crate::helpers::APP_SECRET_KEY),
        ("APP_BASE_URL", "http://127.0.0.1:1/"),
    ];
    let env: crate::helpers::Env = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let err = crate::helpers::build(&env)
        .await
        .expect_err("startup must fail");
    assert!(err.starts_with("OIDC_ISSUER: "), "{err}");
    assert!(err.contains("https://evil.example"), "{err}");
    assert!(err.contains(idp.issuer()), "{err}");
    assert_eq!(idp.token_requests(), 0);
}

/// RFC 9207: a provider may say who sent the authorization response (`iss`); a response that
/// claims another issuer is a mix-up attack (a code from one provider replayed at another's
/// callback) and is refused before the code is exchanged. The right `iss` logs the user in.
#[tokio::test]
async fn an_authorization_response_from_another_issuer_is_refused() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let authorize = app.start_login("").await;
    let callback = app
        .authorize(&authorize, &[("mock_auto_login", "alice")])
        .await;
    let mut forged = url::Url::parse(&callback).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("iss", "https://evil.example/");
    let response = app.get_absolute(forged.as_str()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains(FAILED_A_CHECK));
    assert_eq!(app.idp.token_requests(), 0, "the code was never exchanged");
    logs.assert_one_refusal(&["authorization response comes from"]);
    assert!(app.home().await.1.contains("Welcome Guest"));

    let authorize = app.start_login("").await;
    let callback = app
        .authorize(&authorize, &[("mock_auto_login", "alice")])
        .await;
    let mut honest = url::Url::parse(&callback).unwrap();
    honest
        .query_pairs_mut()
        .append_pair("iss", app.idp.issuer());
    let response = app.get_absolute(honest.as_str()).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Alice!"));
}
