//! The HTTP client's pieces: origins stay on loopback, redirects and cookies are read right.

use anyhow::Result;
use hyper::http::response::Parts;
use hyper::{Response, header};
use sesame_bench::client::{Origin, location, set_cookie, target};
use url::Url;

fn head(response: Response<()>) -> Parts {
    response.into_parts().0
}

#[test]
fn origins_stay_on_loopback() -> Result<()> {
    let origin = Origin::of(&Url::parse("http://127.0.0.1:8080/x?y=1")?)?;
    assert_eq!(origin.host, "127.0.0.1:8080");
    assert!(Origin::of(&Url::parse("http://192.0.2.1:80/")?).is_err());
    assert!(Origin::of(&Url::parse("https://127.0.0.1/")?).is_err());
    assert_eq!(
        target(&Url::parse("http://127.0.0.1:1/a/b?c=d")?)?,
        "/a/b?c=d"
    );
    Ok(())
}

#[test]
fn reads_set_cookie_and_location() -> Result<()> {
    let response = Response::builder()
        .status(302)
        .header(header::LOCATION, "/callback?code=1")
        .header(header::SET_COOKIE, "other=1; Path=/")
        .header(header::SET_COOKIE, "sesame=abc.def; HttpOnly; Path=/")
        .body(())?;
    let parts = head(response);
    assert_eq!(
        set_cookie(&parts, "sesame").as_deref(),
        Some("sesame=abc.def")
    );
    assert_eq!(set_cookie(&parts, "missing"), None);
    let base = Url::parse("http://127.0.0.1:3000/login")?;
    assert_eq!(
        location(&parts, &base)?.as_str(),
        "http://127.0.0.1:3000/callback?code=1"
    );
    let cleared = head(
        Response::builder()
            .header(header::SET_COOKIE, "sesame=; Max-Age=0")
            .body(())?,
    );
    assert_eq!(set_cookie(&cleared, "sesame"), None);
    assert!(location(&cleared, &base).is_err());
    Ok(())
}
