//! The web-level attacks on a login, against the live mock IdP: forged, crossed, missing and
//! reused `state`; replayed callbacks; callbacks with no login behind them or one too old;
//! open redirects through `returnTo`; session fixation; cookie flags; oversized and malformed
//! query strings. Every refusal is a 4xx error page, never a panic or a 5xx, creates no session,
//! and leaves the app serving.

use crate::helpers::{
    Mode, TestApp, capture_logs, client_with, location, query_param, set_cookies,
};
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The error page's sentence for a callback that belongs to no login of this browser.
const NOT_OURS: &str = "does not belong to a login started in this browser";

/// `callback` with its query rebuilt from `pairs`.
fn with_query(callback: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(callback).unwrap();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

/// A login through the provider, stopped just before the browser follows the callback.
async fn callback_for(app: &TestApp, name: &str) -> String {
    app.callback_with(&[("mock_auto_login", name)]).await
}

async fn assert_refused_page(response: reqwest::Response, status: StatusCode, sentence: &str) {
    assert_eq!(response.status(), status);
    let body = response.text().await.unwrap();
    assert!(body.contains(sentence), "page lacks `{sentence}`: {body}");
}

/// Another browser: a cookie jar of its own.
fn other_browser() -> reqwest::Client {
    client_with(Arc::new(Jar::default()))
}

#[tokio::test]
async fn a_callback_without_state_is_refused_and_the_real_login_still_completes() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let callback = callback_for(&app, "alice").await;
    let code = query_param(&callback, "code").unwrap();

    let forged = with_query(&callback, &[("code", &code)]);
    assert_refused_page(
        app.get_absolute(&forged).await,
        StatusCode::BAD_REQUEST,
        NOT_OURS,
    )
    .await;
    logs.assert_one_refusal(&["no matching pending login"]);
    assert_eq!(app.idp.token_requests(), 0, "the code was not exchanged");
    assert!(app.home().await.1.contains("Welcome Guest"));

    // A forged callback must not cancel the user's own login: that would be a cheap denial.
    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Alice!"));
    logs.assert_no_secrets(&[&code]);
}

#[tokio::test]
async fn a_callback_with_a_wrong_state_is_refused_and_the_real_login_still_completes() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let callback = callback_for(&app, "alice").await;
    let code = query_param(&callback, "code").unwrap();
    let state = query_param(&callback, "state").unwrap();

    for wrong in [
        "not-the-state",
        "",
        &state[..state.len() - 1],
        &format!("{state}x"),
    ] {
        logs.clear();
        let forged = with_query(&callback, &[("code", &code), ("state", wrong)]);
        assert_refused_page(
            app.get_absolute(&forged).await,
            StatusCode::BAD_REQUEST,
            NOT_OURS,
        )
        .await;
        logs.assert_one_refusal(&["no matching pending login"]);
        assert!(app.home().await.1.contains("Welcome Guest"));
    }
    assert_eq!(app.idp.token_requests(), 0);

    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Alice!"));
    logs.assert_no_secrets(&[&code, &state]);
}

/// Login CSRF: an attacker sends the victim the callback of the attacker's own login, to log
/// the victim in as the attacker. The victim's browser never started that login.
#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let app = TestApp::spawn().await;
    let attackers_callback = callback_for(&app, "mallory").await;

    let victim = other_browser();
    let victims_login = victim.get(app.url("/login")).send().await.unwrap();
    assert_eq!(victims_login.status(), StatusCode::FOUND);
    let response = victim.get(&attackers_callback).send().await.unwrap();
    assert_refused_page(response, StatusCode::BAD_REQUEST, NOT_OURS).await;
    let home = victim.get(app.url("/")).send().await.unwrap();
    assert!(home.text().await.unwrap().contains("Welcome Guest"));
    assert_eq!(app.idp.token_requests(), 0);
}

/// A pending login is good for one callback, whatever its outcome: after a refused login, the
/// same callback URL (same state) finds nothing and the code is not offered to the provider again.
#[tokio::test]
async fn a_state_already_used_by_a_refused_login_is_refused() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let callback = app
        .callback_with(&[
            ("mock_auto_login", "alice"),
            ("mock_misbehave", "wrong-nonce"),
        ])
        .await;
    assert_eq!(
        app.get_absolute(&callback).await.status(),
        StatusCode::UNAUTHORIZED
    );
    logs.clear();
    assert_refused_page(
        app.get_absolute(&callback).await,
        StatusCode::BAD_REQUEST,
        NOT_OURS,
    )
    .await;
    logs.assert_one_refusal(&["no matching pending login"]);
    assert_eq!(app.idp.token_requests(), 1);
    assert!(app.session_cookie().is_none());
}

#[tokio::test]
async fn a_replayed_callback_after_login_changes_nothing() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let callback = callback_for(&app, "alice").await;
    assert_eq!(
        app.get_absolute(&callback).await.status(),
        StatusCode::FOUND
    );
    let cookie = app.session_cookie();

    // Back button or reload: the user is in, so they are sent home.
    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/");
    assert_eq!(app.session_cookie(), cookie, "no second session");
    assert!(app.home().await.1.contains("Welcome Alice!"));

    // The URL copied from history into another browser is worth nothing.
    let thief = other_browser();
    let response = thief.get(&callback).send().await.unwrap();
    assert_refused_page(response, StatusCode::BAD_REQUEST, NOT_OURS).await;
    assert_eq!(app.idp.token_requests(), 1, "the code was exchanged once");
    assert_eq!(logs.refusals().len(), 1);
}

/// A bookmarked callback, or one opened after the session ended: no pending login at all.
#[tokio::test]
async fn a_callback_with_no_pending_login_is_refused_without_creating_a_session() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    for query in ["?code=abc&state=xyz", "", "?error=access_denied"] {
        logs.clear();
        let response = app.get(&format!("/callback{query}")).await;
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{query}: no cookie"
        );
        assert_refused_page(response, StatusCode::BAD_REQUEST, NOT_OURS).await;
        logs.assert_one_refusal(&["no matching pending login"]);
    }
    assert!(app.session_cookie().is_none());
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_login_left_too_long_at_the_provider_is_refused() {
    let logs = capture_logs();
    let app = TestApp::builder()
        .env(&[("OIDC_LOGIN_TIMEOUT", "1s")])
        .spawn()
        .await;
    let callback = callback_for(&app, "alice").await;
    // Ages are whole seconds: 2.1 s is always more than one whole second later.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_refused_page(
        app.get_absolute(&callback).await,
        StatusCode::BAD_REQUEST,
        "This login was started too long ago",
    )
    .await;
    logs.assert_one_refusal(&["the pending login is too old"]);
    assert_eq!(
        app.idp.token_requests(),
        0,
        "an old login's code is not used"
    );
    assert!(app.session_cookie().is_none());
    assert!(app.home().await.1.contains("Welcome Guest"));
}

#[tokio::test]
async fn return_to_open_redirect_attempts_all_land_on_home() {
    let app = TestApp::spawn().await;
    for (return_to, expected) in [
        ("%2Fsomewhere%3Fx%3D1", "/somewhere?x=1"),
        ("//evil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("https://evil.example", "/"),
        ("https%3A%2F%2Fevil.example", "/"),
        ("/\\evil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        // Encoded twice: the app sees the text `%2F%2Fevil.example`, not a path.
        ("%252F%252Fevil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("javascript%3Aalert(1)", "/"),
        ("%2F%09%2Fevil.example", "/"),
        ("%2F%0D%0ASet-Cookie:x=y", "/"),
        ("evil.example", "/"),
        ("", "/"),
    ] {
        let authorize = app.start_login(&format!("?returnTo={return_to}")).await;
        let callback = app
            .authorize(&authorize, &[("mock_auto_login", "alice")])
            .await;
        let response = app.get_absolute(&callback).await;
        assert_eq!(response.status(), StatusCode::FOUND, "returnTo={return_to}");
        assert_eq!(location(&response), expected, "returnTo={return_to}");
        app.get("/logout").await;
    }
}

/// The session ID an attacker could know before login (one they planted, or saw) is worthless
/// after it: login issues a new one, and the planted one leads nowhere.
#[tokio::test]
async fn login_defeats_session_fixation() {
    let app = TestApp::spawn().await;
    // A cookie the attacker made up is not adopted: it is not signed with our key.
    app.jar
        .add_cookie_str("sesame=attacker-chosen-id; Path=/", &app.base);
    assert!(app.home().await.1.contains("Welcome Guest"));

    // A real session ID: the attacker's own, planted in the victim's browser.
    let attacker = app.other_browser();
    attacker.login_as("mallory").await;
    let planted = attacker.session_cookie().unwrap();
    app.jar
        .add_cookie_str(&format!("{planted}; Path=/"), &app.base);
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    let after = app.session_cookie().unwrap();
    assert_ne!(planted, after, "the session ID changes at login");
    assert!(app.home().await.1.contains("Welcome Alice!"));
    let (_, with_planted) = app.home_as(&planted).await;
    assert!(
        with_planted.contains("Welcome Guest"),
        "the planted ID leads nowhere after the victim's login: {with_planted}"
    );
}

/// The one `Set-Cookie` whose name starts with `prefix`.
fn cookie_named(response: &reqwest::Response, prefix: &str) -> String {
    let all = set_cookies(response);
    let mut matching = all.iter().filter(|cookie| cookie.starts_with(prefix));
    let cookie = matching
        .next()
        .unwrap_or_else(|| panic!("no {prefix}: {all:?}"));
    assert!(matching.next().is_none(), "one {prefix}: {all:?}");
    cookie.clone()
}

fn assert_flags(cookie: &str, flags: &[&str]) {
    for flag in flags {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "host-only: {cookie}");
}

/// `/login` sets a pending-login cookie and no session; the callback sets the session cookie
/// and deletes the pending one. All HttpOnly, Lax, host-only, and not Secure on http.
#[tokio::test]
async fn cookies_are_httponly_and_lax_and_not_secure_on_http() {
    let app = TestApp::spawn().await;
    let response = app.get("/login").await;
    let pending = cookie_named(&response, "sesame_login_");
    assert_flags(
        &pending,
        &["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="],
    );
    assert!(!pending.contains("Secure"), "{pending}");
    assert!(
        !set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("sesame=")),
        "no session for a login that has not happened"
    );
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");

    let callback = app
        .authorize(
            &Url::parse(&location(&response)).unwrap(),
            &[("mock_auto_login", "alice")],
        )
        .await;
    let response = app.get_absolute(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let session = cookie_named(&response, "sesame=");
    assert_flags(&session, &["HttpOnly", "SameSite=Lax", "Path=/"]);
    assert!(!session.contains("Secure"), "{session}");
    let removed = cookie_named(&response, "sesame_login_");
    assert!(
        removed.contains("Max-Age=0"),
        "the pending login is deleted: {removed}"
    );
}

/// With an https `APP_BASE_URL` (TLS ends at a proxy in front; the test speaks plain http to the
/// app), every cookie is `Secure` and named `__Host-`, a whole login works with them, and pages
/// carry HSTS.
#[tokio::test]
async fn cookies_are_secure_and_host_prefixed_when_the_base_url_is_https() {
    // The real binary: HSTS (issue 11's finding 8) is checked on what it serves.
    let app = TestApp::builder()
        .mode(Mode::Process)
        .env(&[("APP_BASE_URL", "https://sesame.example/")])
        .spawn()
        .await;
    // A browser would refuse a Secure cookie over http, so carry it by hand.
    let browser = other_browser();
    let response = browser.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = cookie_named(&response, "__Host-sesame_login_");
    assert_flags(&cookie, &["Secure", "HttpOnly", "SameSite=Lax", "Path=/"]);
    let pending = cookie.split(';').next().unwrap().to_owned();

    let mut authorize = Url::parse(&location(&response)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("mock_auto_login", "alice");
    let response = browser.get(authorize).send().await.unwrap();
    let callback = Url::parse(&location(&response)).unwrap();
    assert!(
        callback
            .as_str()
            .starts_with("https://sesame.example/callback?"),
        "{callback}"
    );
    let on_our_port = app.url(&format!("/callback?{}", callback.query().unwrap()));
    let response = browser
        .get(on_our_port)
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = cookie_named(&response, "__Host-sesame=");
    assert_flags(&cookie, &["Secure", "HttpOnly", "SameSite=Lax", "Path=/"]);
    let logged_in = cookie.split(';').next().unwrap().to_owned();

    let home = browser
        .get(app.url("/"))
        .header("cookie", &logged_in)
        .send()
        .await
        .unwrap();
    assert_eq!(
        home.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert!(home.text().await.unwrap().contains("Welcome Alice!"));
    let plain = TestApp::builder().mode(Mode::Process).spawn().await;
    assert!(
        plain
            .get("/")
            .await
            .headers()
            .get("strict-transport-security")
            .is_none(),
        "no HSTS for an http base URL"
    );
}

#[tokio::test]
async fn oversized_and_malformed_queries_get_an_error_page_never_a_crash() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let long_state = format!("/callback?code=a&state={}", "s".repeat(9 * 1024));
    // 60 KB: about as long as a URI gets (the http crate stops at 64 KiB).
    let huge = format!("/callback?{}", "x=y&".repeat(15_000));
    for (query, status, sentence) in [
        (long_state.as_str(), StatusCode::BAD_REQUEST, "malformed"),
        (huge.as_str(), StatusCode::BAD_REQUEST, "malformed"),
        (
            "/callback?state=a&state=b",
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "/callback?code=a&code=b&state=c",
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "/callback?code=%ZZ&state=%",
            StatusCode::BAD_REQUEST,
            NOT_OURS,
        ),
        (
            "/callback?code=%FF%FE&state=%C0%80",
            StatusCode::BAD_REQUEST,
            NOT_OURS,
        ),
        (
            "/callback?&&&==&=x&state",
            StatusCode::BAD_REQUEST,
            NOT_OURS,
        ),
        (
            "/callback?state=%00%0A%0D",
            StatusCode::BAD_REQUEST,
            NOT_OURS,
        ),
        (
            "/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E",
            StatusCode::BAD_REQUEST,
            NOT_OURS,
        ),
    ] {
        let response = app.get(query).await;
        let shown = &query[..query.len().min(60)];
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{shown}: an HTML page"
        );
        assert_eq!(response.status(), status, "{shown}");
        let body = response.text().await.unwrap();
        assert!(body.contains(sentence), "{shown}: {body}");
        assert!(!body.contains("<script>alert"), "{shown}: reflected");
    }
    assert_eq!(logs.refusals().len(), 9);
    assert!(app.session_cookie().is_none());

    // A garbled /login query only loses the returnTo.
    let response = app.get("/login?returnTo=%ZZ&returnTo=/a&%FF").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    app.get("/logout").await;

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.login_as("alice").await.status(), StatusCode::FOUND);
    assert!(app.home().await.1.contains("Welcome Alice!"));
}

/// The provider's error text is untrusted: a newline in it must not start a log line of its own
/// (which could pass for any message at any level).
#[tokio::test]
async fn a_hostile_error_description_cannot_forge_a_log_line() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let authorize = app.start_login("").await;
    let state = query_param(authorize.as_str(), "state").unwrap();
    let callback = app.url("/callback").to_string();
    let hostile = with_query(
        &callback,
        &[
            ("state", state.as_str()),
            ("error", "access_denied\nERROR forged"),
            (
                "error_description",
                "nope\n2026-01-01T00:00:00Z ERROR sesame_server: forged line",
            ),
        ],
    );
    let response = app.get_absolute(&hostile).await;
    assert!(response.status().is_client_error());
    assert!(
        !logs
            .lines()
            .iter()
            .any(|line| line.contains("forged") && !line.contains("login refused")),
        "{:#?}",
        logs.lines()
    );
    logs.assert_one_refusal(&["forged"]);
}
