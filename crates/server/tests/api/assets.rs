//! The stylesheet and the logo: served at content-hashed paths with immutable caching and no
//! session, a 404 at any other hash; the pages link them and carry no inline style, so the CSP
//! allows styles from this origin only.

use crate::helpers::TestApp;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src * data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The value of the first `attribute="..."` after `marker` in `page`.
fn attribute_after(page: &str, marker: &str, attribute: &str) -> String {
    let from = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"));
    let rest = &page[from..];
    let start = rest.find(&format!("{attribute}=\"")).unwrap() + attribute.len() + 2;
    let end = start + rest[start..].find('"').unwrap();
    // Paths are escaped in attributes like any other text.
    rest[start..end].replace("&#x2f;", "/")
}

/// Fails if `page` has any inline style.
fn assert_no_inline_style(page: &str) {
    assert!(!page.contains("<style"), "a <style> element: {page}");
    assert!(!page.contains("style="), "a style= attribute: {page}");
}

#[tokio::test]
async fn pages_link_hashed_assets_served_immutable_without_a_session() {
    let app = TestApp::spawn().await;
    let guest = app.get("/").await;
    assert_eq!(guest.headers()[CONTENT_SECURITY_POLICY], CSP);
    let guest = guest.text().await.unwrap();
    assert_no_inline_style(&guest);

    app.login_as("alice").await;
    let (status, page) = app.home().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Welcome Alice!"));
    assert_no_inline_style(&page);
    assert!(page.contains(r#"class="avatar" data-hue=""#));

    let stylesheet = attribute_after(&page, "<link rel=\"stylesheet\"", "href");
    let logo = attribute_after(&page, "class=\"brand\"", "src");
    assert!(stylesheet.starts_with("/static/sesame.") && stylesheet.ends_with(".css"));
    assert!(logo.starts_with("/static/logo.") && logo.ends_with(".svg"));
    for (path, content_type, contains) in [
        (
            &stylesheet,
            "text/css; charset=utf-8",
            ".avatar[data-hue^=\"35\"]",
        ),
        (&logo, "image/svg+xml", "<svg"),
    ] {
        // A fresh client: no session cookie, and none may be set for an asset.
        let response = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[CONTENT_TYPE], content_type);
        assert_eq!(
            headers[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(headers.get(SET_COOKIE).is_none(), "{path} set a cookie");
        assert!(response.text().await.unwrap().contains(contains));
    }

    // Another hash (an older release's, say) must not get this release's file for a year.
    for wrong in [
        "/static/sesame.0000000000.css",
        "/static/logo.0000000000.svg",
        "/static/sesame.css",
    ] {
        let response = app.get(wrong).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{wrong}");
        let cache = response.headers().get(CACHE_CONTROL);
        assert!(
            cache.is_none_or(|value| !value.to_str().unwrap().contains("immutable")),
            "{wrong}: {cache:?}"
        );
    }
}

#[tokio::test]
async fn error_pages_carry_no_inline_style_and_the_same_csp() {
    let app = TestApp::spawn().await;
    let response = app.get("/no-such-page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let csp = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert_eq!(csp, CSP);
    assert!(!csp.contains("unsafe-inline"));
    let page = response.text().await.unwrap();
    assert_no_inline_style(&page);
    assert!(page.contains("<link rel=\"stylesheet\" href=\""));
}
