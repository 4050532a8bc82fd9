//! A host app served on a free loopback port next to a mock IdP, and a browser-like client:
//! cookies kept, redirects not followed, so every hop is asserted.

use axum::Router;
use reqwest::{Response, StatusCode, header};
use sesame_axum::{Sesame, SesameBuilder};
use sesame_mock_idp::{MockIdp, MockIdpConfig, spawn_for_tests};
use url::Url;

pub const SECRET_KEY: &str = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c";

/// What a browser sends when it navigates to a page.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

pub struct Host {
    pub base: Url,
    pub idp: MockIdp,
    pub client: reqwest::Client,
}

/// Serves the app `make_app` builds from a Sesame that `configure` finishes (base URL and
/// secret key are set already).
pub async fn serve(
    configure: impl FnOnce(SesameBuilder) -> SesameBuilder,
    make_app: impl FnOnce(&Sesame) -> Router,
) -> Host {
    let (idp, _) = spawn_for_tests(MockIdpConfig::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let builder = Sesame::builder(idp.issuer(), "sesame", "sesame-secret")
        .secret_key(SECRET_KEY)
        .base_url(base.as_str());
    let sesame = configure(builder).build().await.unwrap();
    let app = make_app(&sesame);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Host { base, idp, client }
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location on a {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

impl Host {
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// A page load as a browser makes it.
    pub async fn navigate(&self, path_or_url: &str) -> Response {
        let url = self.base.join(path_or_url).unwrap();
        self.client
            .get(url)
            .header(header::ACCEPT, BROWSER_ACCEPT)
            .send()
            .await
            .unwrap()
    }

    /// A request as curl makes it (`Accept: */*`), or with another `Accept`.
    pub async fn fetch(&self, path: &str, accept: &str) -> Response {
        self.client
            .get(self.url(path))
            .header(header::ACCEPT, accept)
            .send()
            .await
            .unwrap()
    }

    /// From a redirect to the login route, through the mock IdP as `user`, to the callback's
    /// answer.
    pub async fn log_in_from(&self, to_login: Response, user: &str) -> Response {
        assert_eq!(to_login.status(), StatusCode::FOUND);
        let to_idp = self.navigate(&location(&to_login)).await;
        assert_eq!(
            to_idp.status(),
            StatusCode::FOUND,
            "login redirects to the IdP"
        );
        let mut authorize = Url::parse(&location(&to_idp)).unwrap();
        assert!(authorize.as_str().starts_with(self.idp.issuer()));
        authorize
            .query_pairs_mut()
            .append_pair("mock_auto_login", user);
        let to_callback = self.client.get(authorize).send().await.unwrap();
        assert!(to_callback.status().is_redirection());
        self.navigate(&location(&to_callback)).await
    }
}

/// The login route with `returnTo`, as Sesame writes it.
pub fn login_for(login_path: &str, return_to: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("returnTo", return_to)
        .finish();
    format!("{login_path}?{query}")
}
