//! The token endpoint: the code flow with PKCE, single use, and client authentication.

use sesame_mock_idp::MockIdpConfig;

use crate::helpers::{Auth, REDIRECT_URI, at_hash, basic, spawn, spawn_fresh, spawn_with};

#[tokio::test]
async fn code_flow_with_pkce_issues_a_verifiable_id_token() {
    let t = spawn_fresh().await;
    let login = t.login("alice", None).await;
    let response = t.exchange(&login, Auth::Basic, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile email");
    let access_token = body["access_token"].as_str().unwrap();
    let (header, claims) = t.verify(body["id_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], t.idp.key_ids()[0]);
    assert_eq!(claims["iss"], t.issuer);
    assert_eq!(claims["sub"], "mock|alice");
    assert_eq!(claims["aud"], "sesame");
    assert_eq!(claims["azp"], "sesame");
    assert_eq!(claims["nonce"], login.pending.nonce);
    assert_eq!(claims["at_hash"], at_hash(access_token));
    assert_eq!(claims["name"], "Alice");
    assert_eq!(claims["nickname"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["picture"], t.url("/avatars/alice.svg"));
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert!(claims["auth_time"].as_u64().unwrap() <= iat);
    assert!(claims["updated_at"].is_u64());
    assert_eq!(t.idp.token_requests(), 1);

    let avatar = t
        .http
        .get(t.url("/avatars/alice.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(avatar.headers()["content-type"], "image/svg+xml");
    assert!(avatar.text().await.unwrap().contains(">A</text>"));
}

#[tokio::test]
async fn a_code_works_once() {
    let t = spawn().await;
    let login = t.login("alice", None).await;
    assert_eq!(t.exchange(&login, Auth::Post, &[]).await.status(), 200);
    let again = t.exchange(&login, Auth::Post, &[]).await;
    assert_eq!(again.status(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn wrong_pkce_verifier_or_redirect_uri_is_refused() {
    let t = spawn().await;
    let mut login = t.login("alice", None).await;
    login.pending.verifier = crate::helpers::random(32);
    let response = t.exchange(&login, Auth::Basic, &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let login = t.login("alice", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", login.code.as_str()),
        ("redirect_uri", "http://localhost:3000/other"),
        ("code_verifier", login.pending.verifier.as_str()),
    ];
    let response = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("sesame", Some("sesame-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn client_authentication_rules() {
    let t = spawn().await;
    // Both methods at once.
    let login = t.login("alice", None).await;
    let response = t
        .exchange(
            &login,
            Auth::Basic,
            &[("client_id", "sesame"), ("client_secret", "sesame-secret")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // Wrong secret.
    let login = t.login("alice", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", login.code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", login.pending.verifier.as_str()),
    ];
    let response = t
        .http
        .post(t.url("/oauth/token"))
        .header("authorization", basic("sesame", "wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let (id, secret) = ("my:client", "s3cr3t+/=&%é");
    let t = spawn_with(MockIdpConfig {
        client_id: id.into(),
        client_secret: secret.into(),
        ..Default::default()
    })
    .await;
    let pending = crate::helpers::Pending::new();
    let mut url = t.authorize_url(&pending, &[("mock_auto_login", "alice")]);
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, id.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let response = t.http.get(url).send().await.unwrap();
    let code = crate::helpers::callback_query(&response)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", pending.verifier.as_str()),
    ];
    let response = t
        .http
        .post(t.url("/oauth/token"))
        .header("authorization", basic(id, secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn only_advertised_methods_are_accepted() {
    let t = spawn_with(MockIdpConfig {
        token_auth_methods: vec!["client_secret_post".into()],
        ..Default::default()
    })
    .await;
    let login = t.login("alice", None).await;
    let response = t.exchange(&login, Auth::Basic, &[]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let login = t.login("alice", None).await;
    assert_eq!(t.exchange(&login, Auth::Post, &[]).await.status(), 200);

    let t = spawn_with(MockIdpConfig {
        token_auth_methods: vec!["client_secret_basic".into()],
        ..Default::default()
    })
    .await;
    let login = t.login("alice", None).await;
    assert_eq!(t.exchange(&login, Auth::Post, &[]).await.status(), 401);
    let login = t.login("alice", None).await;
    assert_eq!(t.exchange(&login, Auth::Basic, &[]).await.status(), 200);
}
