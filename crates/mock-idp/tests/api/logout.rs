//! RP-initiated and Auth0-style logout.

use sesame_mock_idp::MockIdpConfig;
use url::Url;

use crate::helpers::{location, spawn, spawn_with};

#[tokio::test]
async fn end_session_redirects_back_with_state() {
    let t = spawn().await;
    let mut url = Url::parse(&t.url("/oidc/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", "x.y.z")
        .append_pair("post_logout_redirect_uri", "http://localhost:3000/")
        .append_pair("client_id", "sesame")
        .append_pair("state", "abc");
    let response = t.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "http://localhost:3000/?state=abc");

    let page = t.http.get(t.url("/oidc/logout")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("You are signed out"));
}

#[tokio::test]
async fn auth0_logout_checks_the_return_origin() {
    let t = spawn_with(MockIdpConfig {
        redirect_uris: vec![Url::parse("http://localhost:3000/callback").unwrap()],
        ..Default::default()
    })
    .await;
    let logout = |return_to: &str| {
        let mut url = Url::parse(&t.url("/v2/logout")).unwrap();
        url.query_pairs_mut()
            .append_pair("returnTo", return_to)
            .append_pair("client_id", "sesame");
        t.http.get(url).send()
    };
    let ok = logout("http://localhost:3000/").await.unwrap();
    assert_eq!(ok.status(), 302);
    assert_eq!(location(&ok), "http://localhost:3000/");

    let evil = logout("https://evil.example.com/").await.unwrap();
    assert_eq!(evil.status(), 400);
    assert!(evil.headers().get("location").is_none());
    assert!(evil.text().await.unwrap().contains("You are signed out"));
}
