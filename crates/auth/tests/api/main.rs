//! The relying party on its own, with no web framework: discovery, a login through the live
//! mock IdP, the callback completed against the browser's pending logins, and the logout URL.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use sesame_auth::{AuthError, CallbackParams, ProviderSettings, RelyingParty, Secret};
use sesame_mock_idp::{MockIdpConfig, spawn_for_tests};
use url::Url;

/// What the provider sends back for `authorize` when `user` logs in.
async fn callback_params(authorize: &Url, user: &str) -> CallbackParams {
    let mut url = authorize.clone();
    url.query_pairs_mut().append_pair("mock_auto_login", user);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    let callback = Url::parse(location).unwrap();
    assert_eq!(callback.path(), "/callback");
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    CallbackParams {
        code: param("code"),
        state: param("state"),
        error: param("error"),
        error_description: param("error_description"),
        iss: param("iss"),
    }
}

#[tokio::test]
async fn a_login_from_two_tabs_completes_each_once() {
    let (idp, _) = spawn_for_tests(MockIdpConfig::default()).await.unwrap();
    let app = Url::parse("http://app.test/").unwrap();
    let settings = ProviderSettings::new(
        Url::parse(idp.issuer()).unwrap(),
        "sesame",
        Secret::new("sesame-secret"),
        app.join("callback").unwrap(),
        app.clone(),
    );
    let relying_party = RelyingParty::discover(settings).await.unwrap();

    let (first_tab, first_login) = relying_party.begin_login(Some("/reports?year=2026"));
    let (second_tab, second_login) = relying_party.begin_login(Some("https://evil.example/"));
    assert_eq!(first_login.return_to, "/reports?year=2026");
    assert_eq!(
        second_login.return_to, "/",
        "an absolute returnTo lands home"
    );

    let first = callback_params(&first_tab, "alice").await;
    // Each tab's callback matches only its own pending login, before any exchange.
    let crossed = relying_party.check_callback(&second_login, &first);
    assert!(
        matches!(crossed, Err(AuthError::NoPendingLogin)),
        "{crossed:?}"
    );
    let user = relying_party
        .complete_login(&first_login, &first)
        .await
        .unwrap();
    assert_eq!(user.user.name(), "Alice");
    assert_eq!(user.user.subject(), "mock|alice");
    assert_eq!(user.user.email(), Some("alice@example.com"));
    assert_eq!(idp.token_requests(), 1);

    let second = callback_params(&second_tab, "bob").await;
    let code = relying_party
        .check_callback(&second_login, &second)
        .unwrap();
    let completed = relying_party.redeem(&second_login, code).await.unwrap();
    assert_eq!(completed.user.name(), "Bob");

    let logout = relying_party
        .logout_url(Some(completed.tokens.id_token.expose()))
        .unwrap();
    assert!(logout.as_str().starts_with(idp.issuer()));
    let hint = logout
        .query_pairs()
        .find(|(key, _)| key == "id_token_hint")
        .map(|(_, value)| value.into_owned());
    assert_eq!(hint.as_deref(), Some(completed.tokens.id_token.expose()));
}

#[tokio::test]
async fn a_callback_whose_state_matches_nothing_is_refused_before_any_exchange() {
    let (idp, _) = spawn_for_tests(MockIdpConfig::default()).await.unwrap();
    let app = Url::parse("http://app.test/").unwrap();
    let relying_party = RelyingParty::discover(ProviderSettings::new(
        Url::parse(idp.issuer()).unwrap(),
        "sesame",
        Secret::new("sesame-secret"),
        app.join("callback").unwrap(),
        app,
    ))
    .await
    .unwrap();
    let (authorize, login) = relying_party.begin_login(None);
    let mut forged = callback_params(&authorize, "mallory").await;
    forged.state = Some("forged".to_owned());
    let refused = relying_party.complete_login(&login, &forged).await;
    assert!(
        matches!(refused, Err(AuthError::NoPendingLogin)),
        "{refused:?}"
    );
    forged.state = None;
    let refused = relying_party.complete_login(&login, &forged).await;
    assert!(matches!(refused, Err(AuthError::NoPendingLogin)));
    assert_eq!(idp.token_requests(), 0);
}
