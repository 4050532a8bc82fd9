//! The HTTP pieces: the load generator's origins stay on loopback, and the login driver reads the
//! session cookie a response sets.

use anyhow::Result;
use hyper::HeaderMap;
use hyper::header::SET_COOKIE;
use sesame_bench::client::{Origin, target};
use sesame_bench::flows::set_cookie;
use url::Url;

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
fn reads_the_session_cookie_a_response_sets() -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, "other=1; Path=/".parse()?);
    headers.append(SET_COOKIE, "sesame=abc.def; HttpOnly; Path=/".parse()?);
    assert_eq!(
        set_cookie(&headers, "sesame").as_deref(),
        Some("sesame=abc.def")
    );
    assert_eq!(set_cookie(&headers, "missing"), None);
    let mut cleared = HeaderMap::new();
    cleared.append(SET_COOKIE, "sesame=; Max-Age=0".parse()?);
    assert_eq!(set_cookie(&cleared, "sesame"), None);
    Ok(())
}
