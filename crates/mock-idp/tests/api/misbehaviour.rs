//! Misbehaviours produce what they claim, and config-level key cases.

use std::time::{SystemTime, UNIX_EPOCH};

use sesame_mock_idp::MockIdpConfig;

use crate::helpers::{Auth, at_hash, decode, spawn, spawn_with};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn claim_misbehaviours_bend_the_id_token() {
    // One provider for all: misbehaviour is per login.
    let t = spawn().await;
    let id_token = async |m: &str| {
        let tokens = t.tokens("carol", Some(m)).await;
        let (_, claims) = t
            .verify(tokens["id_token"].as_str().unwrap())
            .await
            .unwrap();
        (claims, tokens["access_token"].as_str().unwrap().to_owned())
    };
    let (c, _) = id_token("wrong-iss").await;
    assert_ne!(c["iss"], t.issuer);
    let (c, _) = id_token("wrong-aud").await;
    assert_ne!(c["aud"], "sesame");
    let (c, _) = id_token("missing-aud").await;
    assert!(c.get("aud").is_none());
    let (c, _) = id_token("missing-sub").await;
    assert!(c.get("sub").is_none());
    let (c, _) = id_token("missing-iat").await;
    assert!(c.get("iat").is_none());
    let (c, _) = id_token("expired").await;
    assert!(c["exp"].as_u64().unwrap() < now());
    let (c, _) = id_token("iat-future").await;
    assert!(c["iat"].as_u64().unwrap() > now() + 1800);
    assert!(c["exp"].as_u64().unwrap() > c["iat"].as_u64().unwrap());
    let (c, _) = id_token("missing-nonce").await;
    assert!(c.get("nonce").is_none());
    let (c, _) = id_token("wrong-nonce").await;
    assert!(c["nonce"].is_string());
    let (c, access_token) = id_token("wrong-at-hash").await;
    assert_ne!(c["at_hash"], at_hash(&access_token));
}

#[tokio::test]
async fn signature_misbehaviours_fail_verification() {
    let t = spawn().await;
    let id_token = async |m: &str| {
        t.tokens("dave", Some(m)).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let token = id_token("bad-signature").await;
    assert!(
        t.verify(&token)
            .await
            .unwrap_err()
            .contains("bad signature")
    );

    let token = id_token("alg-none").await;
    assert!(token.ends_with('.'));
    assert_eq!(decode(&token).0["alg"], "none");

    let token = id_token("unknown-key").await;
    assert_eq!(t.verify(&token).await.unwrap_err(), "kid not in JWKS");

    let token = id_token("no-kid").await;
    let (header, _) = decode(&token);
    assert!(header.get("kid").is_none());
    assert_eq!(header["alg"], "RS256");
}

#[tokio::test]
async fn token_endpoint_misbehaviours() {
    let t = spawn().await;
    let login = t.login("erin", Some("token-error-500")).await;
    let response = t.exchange(&login, Auth::Basic, &[]).await;
    assert_eq!(response.status(), 500);

    let login = t.login("erin", Some("token-invalid-json")).await;
    let response = t.exchange(&login, Auth::Basic, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response.json::<serde_json::Value>().await.is_err());

    let login = t.login("erin", Some("token-slow")).await;
    let slow = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        t.exchange(&login, Auth::Basic, &[]),
    )
    .await;
    assert!(slow.is_err(), "token-slow answers only after a long wait");
}

#[tokio::test]
async fn rotated_keys_sign_new_tokens_with_new_kids() {
    let t = spawn_with(MockIdpConfig {
        key_count: 2,
        ..Default::default()
    })
    .await;
    let before = t.idp.key_ids();
    let tokens = t.tokens("frank", None).await;
    assert_eq!(
        decode(tokens["id_token"].as_str().unwrap()).0["kid"],
        before[0]
    );

    let idp = t.idp.clone();
    tokio::task::spawn_blocking(move || idp.rotate_keys())
        .await
        .unwrap();
    let after = t.idp.key_ids();
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|k| !before.contains(k)));
    let tokens = t.tokens("frank", None).await;
    let (header, _) = t
        .verify(tokens["id_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(header["kid"], after[0]);
    assert!(t.idp.jwks_requests() >= 1);
}
