//! Discovery metadata and the JWKS.

use sesame_mock_idp::MockIdpConfig;
use url::Url;

use crate::helpers::{spawn, spawn_with};

#[tokio::test]
async fn discovery_advertises_every_endpoint_under_the_issuer() {
    let t = spawn().await;
    assert!(
        !t.issuer.ends_with('/'),
        "bare-origin issuer has no trailing slash: {}",
        t.issuer
    );
    let d = t.get_json("/.well-known/openid-configuration").await;
    assert_eq!(d["issuer"], t.issuer);
    assert_eq!(d["authorization_endpoint"], t.url("/authorize"));
    assert_eq!(d["token_endpoint"], t.url("/oauth/token"));
    assert_eq!(d["userinfo_endpoint"], t.url("/userinfo"));
    assert_eq!(d["jwks_uri"], t.url("/.well-known/jwks.json"));
    assert_eq!(d["end_session_endpoint"], t.url("/oidc/logout"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(d["revocation_endpoint"], t.url("/oauth/revoke"));
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"offline_access".into())
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"openid".into())
    );
    assert!(
        d["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&"email".into())
    );
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn jwks_publishes_rsa_signing_keys() {
    let t = spawn_with(MockIdpConfig {
        key_count: 2,
        ..Default::default()
    })
    .await;
    let jwks = t.get_json("/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["e"], "AQAB");
        let n = key["n"].as_str().unwrap();
        assert!(
            !n.contains('=') && !n.contains('+') && !n.contains('/'),
            "base64url without padding"
        );
        assert_eq!(n.len(), 342, "2048-bit modulus");
    }
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    assert_eq!(t.idp.jwks_requests(), 1);
}

#[tokio::test]
async fn issuer_with_a_path_serves_and_advertises_under_it() {
    // spawn_for_tests replaces the issuer, so serve this one by hand.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let issuer = Url::parse(&format!("http://127.0.0.1:{port}/t/x")).unwrap();
    let idp = sesame_mock_idp::MockIdp::new(MockIdpConfig {
        issuer,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(idp.issuer(), format!("http://127.0.0.1:{port}/t/x"));
    tokio::spawn(idp.clone().serve(listener));
    let base = format!("http://127.0.0.1:{port}/t/x");
    let d: serde_json::Value = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], base);
    assert_eq!(d["authorization_endpoint"], format!("{base}/authorize"));
    let jwks = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let outside = reqwest::get(format!("http://127.0.0.1:{port}/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
}

#[tokio::test]
async fn config_changes_what_discovery_advertises() {
    let t = spawn_with(MockIdpConfig {
        discovery_issuer_override: Some("https://evil.example.com/".to_owned()),
        end_session: false,
        token_auth_methods: vec!["client_secret_post".to_owned()],
        ..Default::default()
    })
    .await;
    let d = t.get_json("/.well-known/openid-configuration").await;
    assert_eq!(d["issuer"], "https://evil.example.com/");
    assert!(d.get("end_session_endpoint").is_none());
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post"])
    );
    let logout = t.http.get(t.url("/oidc/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 404);
}
