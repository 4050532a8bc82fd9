//! The relying party on its own, with no web framework: discovery, a login through the live
//! mock IdP, the callback completed against the browser's pending logins, and the logout URL.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use sesame_auth::{
    AuthError, CallbackParams, PendingLogins, ProviderSettings, RelyingParty, Secret,
};
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

    let mut pending = PendingLogins::default();
    let (first_tab, login) = relying_party.begin_login(Some("/reports?year=2026"));
    pending.add(login);
    let (second_tab, login) = relying_party.begin_login(Some("https://evil.example/"));
    pending.add(login);
    assert_eq!(pending.len(), 2);

    let first = callback_params(&first_tab, "alice").await;
    let completed = relying_party
        .complete_login(&mut pending, &first)
        .await
        .unwrap();
    assert_eq!(completed.return_to, "/reports?year=2026");
    assert_eq!(completed.user.name(), "Alice");
    assert_eq!(completed.user.subject(), "mock|alice");
    assert_eq!(completed.user.email(), Some("alice@example.com"));
    assert_eq!(
        pending.len(),
        1,
        "the used login is gone, the other tab's stays"
    );

    // The same callback again: its pending login was used up.
    let replay = relying_party.complete_login(&mut pending, &first).await;
    assert!(
        matches!(replay, Err(AuthError::NoPendingLogin)),
        "{replay:?}"
    );
    assert_eq!(
        idp.token_requests(),
        1,
        "a replay never reaches the provider"
    );

    let second = callback_params(&second_tab, "bob").await;
    let completed = relying_party
        .complete_login(&mut pending, &second)
        .await
        .unwrap();
    assert_eq!(completed.return_to, "/", "an absolute returnTo lands home");
    assert!(pending.is_empty());

    let logout = relying_party
        .logout_url(Some(completed.user.id_token.expose()))
        .unwrap();
    assert!(logout.as_str().starts_with(idp.issuer()));
    let hint = logout
        .query_pairs()
        .find(|(key, _)| key == "id_token_hint")
        .map(|(_, value)| value.into_owned());
    assert_eq!(hint.as_deref(), Some(completed.user.id_token.expose()));
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
    let mut pending = PendingLogins::default();
    let (authorize, login) = relying_party.begin_login(None);
    pending.add(login);
    let mut forged = callback_params(&authorize, "mallory").await;
    forged.state = Some("forged".to_owned());
    let refused = relying_party.complete_login(&mut pending, &forged).await;
    assert!(
        matches!(refused, Err(AuthError::NoPendingLogin)),
        "{refused:?}"
    );
    assert_eq!(pending.len(), 1, "the real login is untouched");
    forged.state = None;
    let refused = relying_party.complete_login(&mut pending, &forged).await;
    assert!(matches!(refused, Err(AuthError::NoPendingLogin)));
    assert_eq!(idp.token_requests(), 0);
}
