//! Refresh tokens (rotation, reuse detection), revocation and the access-token lifetime.

use std::time::{Duration, Instant};

use serde_json::Value;
use sesame_mock_idp::MockIdpConfig;

use crate::helpers::{basic, spawn, spawn_fresh, spawn_with};

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let t = spawn().await;
    let tokens = t.tokens("alice", None).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_keeps_the_login() {
    let t = spawn_fresh().await;
    let first = t.offline_tokens("rita").await;
    assert_eq!(first["scope"], "openid profile offline_access");
    let (_, login_claims) = t.verify(first["id_token"].as_str().unwrap()).await.unwrap();
    let old = first["refresh_token"].as_str().unwrap();

    let started = Instant::now();
    let response = t.refresh(old, &[]).await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "refreshes are slowed down on purpose"
    );
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile offline_access");
    let new = body["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_ne!(body["access_token"], first["access_token"]);

    // OIDC Core §12.2: same sub, sid, iss, aud, auth_time; no nonce.
    let (header, claims) = t.verify(body["id_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(header["typ"], "JWT");
    for claim in ["iss", "sub", "aud", "azp", "sid", "auth_time"] {
        assert_eq!(claims[claim], login_claims[claim], "{claim}");
    }
    assert!(claims.get("nonce").is_none());
    assert!(claims["iat"].as_u64().unwrap() >= login_claims["iat"].as_u64().unwrap());
    assert_eq!(
        claims["at_hash"],
        crate::helpers::at_hash(body["access_token"].as_str().unwrap())
    );

    // The new access token works at userinfo.
    let userinfo = t
        .http
        .get(t.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);

    // The new refresh token works once more; the old one is refused and counted as a reuse...
    let third: Value = t.refresh(new, &[]).await.json().await.unwrap();
    let newest = third["refresh_token"].as_str().unwrap();
    assert_eq!(
        error_of(t.refresh(old, &[]).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(t.idp.refresh_reuses(), 1);
    // ...and the reuse revoked the family, down to its newest token.
    assert_eq!(
        error_of(t.refresh(newest, &[]).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(t.idp.refresh_reuses(), 1, "a revoked token is not a reuse");
    assert_eq!(t.idp.refresh_requests(), 4);

    let stats = t.get_json("/admin/stats").await;
    assert_eq!(stats["refresh_requests"], 4);
    assert_eq!(stats["refresh_reuses"], 1);
    assert_eq!(stats["token_requests"], 5);
    assert_eq!(stats["revocations"], 0);
    assert_eq!(stats["backchannel_deliveries"], 0);
}

#[tokio::test]
async fn refresh_refusals() {
    let t = spawn().await;
    assert_eq!(
        error_of(t.refresh("never-issued", &[]).await).await,
        (400, "invalid_grant".into())
    );
    let tokens = t.offline_tokens("sam").await;
    let token = tokens["refresh_token"].as_str().unwrap();
    // Scope can narrow, never widen; a refused widening leaves the token usable.
    let wider = t.refresh(token, &[("scope", "openid email")]).await;
    assert_eq!(error_of(wider).await, (400, "invalid_scope".into()));
    let bad_client = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("sesame", Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(bad_client).await, (401, "invalid_client".into()));
    let narrower = t.refresh(token, &[("scope", "openid")]).await;
    assert_eq!(narrower.status(), 200);
    let body: Value = narrower.json().await.unwrap();
    assert_eq!(body["scope"], "openid");
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn revocation_is_authenticated_and_revokes_the_family() {
    let t = spawn_fresh().await;
    let tokens = t.offline_tokens("vic").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let rotated: Value = t.refresh(first, &[]).await.json().await.unwrap();
    let current = rotated["refresh_token"].as_str().unwrap();

    let revoke = |auth: String, token: &str| {
        t.http
            .post(t.url("/oauth/revoke"))
            .header("authorization", auth)
            .form(&[("token", token), ("token_type_hint", "refresh_token")])
            .send()
    };
    let refused = revoke(basic("sesame", "nope"), first).await.unwrap();
    assert_eq!(error_of(refused).await, (401, "invalid_client".into()));
    assert_eq!(t.idp.revocations(), 0);
    let still: Value = t.refresh(current, &[]).await.json().await.unwrap();
    let latest = still["refresh_token"].as_str().expect("still alive");

    // Revoking any member (here the retired first token) kills the family.
    let ok = revoke(basic("sesame", "sesame-secret"), first)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(t.idp.revocations(), 1);
    let dead = t.refresh(latest, &[]).await;
    assert_eq!(error_of(dead).await, (400, "invalid_grant".into()));
    assert_eq!(t.idp.refresh_reuses(), 0, "revoked, not reused");
    let unknown = revoke(basic("sesame", "sesame-secret"), "never-issued")
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        200,
        "RFC 7009 §2.2: unknown tokens are fine"
    );
    assert_eq!(t.idp.revocations(), 2);

    // Access tokens can be revoked too: userinfo then refuses them.
    let access = tokens["access_token"].as_str().unwrap();
    let post = t
        .http
        .post(t.url("/oauth/revoke"))
        .form(&[
            ("token", access),
            ("client_id", "sesame"),
            ("client_secret", "sesame-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    let userinfo = t
        .http
        .get(t.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    assert_eq!(t.get_json("/admin/stats").await["revocations"], 3);
}

#[tokio::test]
async fn admin_revokes_every_refresh_token_of_a_user() {
    let t = spawn().await;
    let a = t.offline_tokens("wanda").await;
    let b = t.offline_tokens("wanda").await;
    let other = t.offline_tokens("xena").await;
    let (status, body) = t
        .admin("/admin/revoke-refresh-tokens", &[("sub", "mock|wanda")])
        .await;
    assert_eq!((status, body["revoked"].as_u64()), (200, Some(2)));
    for tokens in [&a, &b] {
        let refused = t
            .refresh(tokens["refresh_token"].as_str().unwrap(), &[])
            .await;
        assert_eq!(error_of(refused).await, (400, "invalid_grant".into()));
    }
    let still = t
        .refresh(other["refresh_token"].as_str().unwrap(), &[])
        .await;
    assert_eq!(still.status(), 200);
    assert_eq!(t.admin("/admin/revoke-refresh-tokens", &[]).await.0, 400);
}

#[tokio::test]
async fn access_token_lifetime_from_config_and_admin() {
    let t = spawn_with(MockIdpConfig {
        access_token_lifetime: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let tokens = t.offline_tokens("yuri").await;
    assert_eq!(tokens["expires_in"], 1);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| t.http.get(t.url("/userinfo")).bearer_auth(token).send();
    assert_eq!(userinfo(access.clone()).await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(userinfo(access).await.unwrap().status(), 401, "expired");

    let (status, body) = t
        .admin("/admin/access-token-lifetime", &[("seconds", "120")])
        .await;
    assert_eq!(
        (status, body["access_token_lifetime"].as_u64()),
        (200, Some(120))
    );
    assert_eq!(t.idp.access_token_lifetime(), Duration::from_secs(120));
    let refreshed: Value = t
        .refresh(tokens["refresh_token"].as_str().unwrap(), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["expires_in"], 120);
    assert_eq!(t.tokens("yuri", None).await["expires_in"], 120);
    assert_eq!(
        t.admin("/admin/access-token-lifetime", &[("seconds", "x")])
            .await
            .0,
        400
    );
    assert_eq!(
        t.admin("/admin/access-token-lifetime", &[("seconds", "-1")])
            .await
            .0,
        400
    );

    let too_long = sesame_mock_idp::MockIdp::new(MockIdpConfig {
        access_token_lifetime: Duration::from_secs(400 * 24 * 3600),
        ..Default::default()
    });
    assert!(too_long.is_err());
}
