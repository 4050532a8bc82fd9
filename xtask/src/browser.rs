//! The real-browser scenario: headless Chromium, driven through [`crate::webdriver`], logs in and out
//! of a running stack the way a person would, clicking links and typing into the mock IdP's form.
//!
//! Every step leaves a screenshot in `target/screenshots/<store>/NN-step.png` (the directory is emptied
//! first), wide (1280×900) and, for the pages people see most, narrow (390×844, a phone), so a person
//! can look at what the test saw; each must look as its baseline does ([`crate::screenshots`]). Chromium's and chromedriver's logs go to `target/xtask/e2e/<store>/`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde_json::json;

use crate::screenshots::Screenshots;
use crate::webdriver::Browser;
use sesame_testkit::bins::Store;

/// The desktop window.
const WIDE: (u32, u32) = (1280, 900);

/// A phone-sized window (an iPhone 12–15's CSS viewport).
const NARROW: (u32, u32) = (390, 844);

/// How long a page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Guest → Login → the mock IdP's form (alice) → Welcome (name, picture, email, claims) → reload →
/// broken picture falls back to the initial → Logout → Guest → a refused login shows the error page
/// → Home. `base` is the app's URL and `idp` the mock IdP's issuer (both without a trailing slash);
/// chromedriver's log and the browser profile go to `dir`, the screenshots to `store`'s directory.
pub fn login_logout(store: Store, base: &str, idp: &str, dir: &Path) -> Result<()> {
    let mut shots = Screenshots::new(store)?;
    let browser = Browser::start(dir, WIDE)?;
    let home = format!("{base}/");

    // The guest page, and its Login link.
    browser.goto(&home)?;
    expect_heading(&browser, "Welcome Guest")?;
    expect_styled(&browser)?;
    shots.wide_and_narrow(&browser, WIDE, NARROW, "guest")?;
    let login = browser.find(r#"a[href="/login"]"#)?;
    let label = browser.text(&login)?;
    ensure!(
        label == "Login",
        "the login link reads {label:?}, not \"Login\""
    );
    browser.click(&login)?;

    // The mock IdP's form (waiting for it to load): type a username, sign in.
    browser.find("#username")?;
    let url = browser.url()?;
    ensure!(
        url.starts_with(&format!("{idp}/authorize?")),
        "Login led to {url}, not the mock IdP's authorize endpoint"
    );
    let banner = browser.text(&browser.find(".banner")?)?;
    ensure!(
        banner.contains("for tests and demos only"),
        "the IdP's page does not say it is a test provider: {banner:?}"
    );
    shots.wide_and_narrow(&browser, WIDE, NARROW, "idp-login")?;
    let username = browser.find("#username")?;
    browser.clear(&username)?;
    browser.type_text(&username, "alice")?;
    shots.take(&browser, "idp-filled-in")?;
    browser.click(&browser.find(r#"button[type="submit"]"#)?)?;

    // Back at the app, logged in.
    expect_heading(&browser, "Welcome Alice!")?;
    expect_url(&browser, &home)?;
    expect_profile(&browser, idp)?;
    expect_styled(&browser)?;
    shots.wide_and_narrow(&browser, WIDE, NARROW, "welcome")?;

    // A reload keeps the session.
    browser.refresh()?;
    expect_heading(&browser, "Welcome Alice!")?;
    expect_profile(&browser, idp)?;
    shots.take(&browser, "reloaded")?;

    // The picture fails to load: the initial must show instead (CSS only; the page has no script).
    let broken = format!("{idp}/avatars/no-such-picture.png");
    browser.execute(
        "document.querySelector('.avatar img').src = arguments[0];",
        json!([broken]),
    )?;
    browser.wait_for("the broken picture to fail", STEP_TIMEOUT, |b| {
        let state = b.execute(
            "const i = document.querySelector('.avatar img'); return i.complete && i.naturalWidth;",
            json!([]),
        )?;
        Ok((state == json!(0)).then_some(()))
    })?;
    let fallback = browser.execute(
        "return getComputedStyle(document.querySelector('.avatar img'), '::after').content;",
        json!([]),
    )?;
    ensure!(
        fallback == json!("\"A\""),
        "a broken picture should be covered by the initial \"A\", got {fallback}"
    );
    shots.take(&browser, "avatar-fallback")?;

    // Logout: through the IdP's end-session endpoint and back to the guest page.
    browser.click(&browser.find(r#"a[href="/logout"]"#)?)?;
    expect_heading(&browser, "Welcome Guest")?;
    expect_url(&browser, &home)?;
    shots.take(&browser, "logged-out")?;

    // A login the provider refuses: the error page, with the provider's words escaped.
    browser.click(&browser.find(r#"a[href="/login"]"#)?)?;
    let username = browser.find("#username")?;
    browser.type_text(&username, "alice")?;
    browser.click(&browser.find("details summary")?)?;
    browser.click(&browser.find(r#"#mock_misbehave option[value="access-denied"]"#)?)?;
    shots.take(&browser, "idp-test-options")?;
    browser.click(&browser.find(r#"button[type="submit"]"#)?)?;
    expect_heading(&browser, "Login was not completed")?;
    let detail = browser.text(&browser.find(".detail blockquote")?)?;
    ensure!(
        detail == "<script>alert(1)</script>",
        "the provider's description should show as text, got {detail:?}"
    );
    for (selector, label) in [
        (r#"a[href="/login"]"#, "Try again"),
        (r#"a[href="/"]"#, "Home"),
    ] {
        let text = browser.text(&browser.find(&format!(".actions {selector}"))?)?;
        ensure!(
            text == label,
            "the error page's {selector} link reads {text:?}"
        );
    }
    expect_styled(&browser)?;
    shots.wide_and_narrow(&browser, WIDE, NARROW, "error")?;
    browser.click(&browser.find(r#".actions a[href="/"]"#)?)?;
    expect_heading(&browser, "Welcome Guest")?;
    shots.finish()
}

/// Waits until the page's `<h1>` reads `want`.
fn expect_heading(browser: &Browser, want: &str) -> Result<()> {
    let mut seen = String::from("(no h1 yet)");
    let waited = browser.wait_for(&format!("the heading {want:?}"), STEP_TIMEOUT, |b| {
        // Right after a click the old page may still be showing, or the new one half-loaded:
        // an h1 that vanished between finding and reading it is not an error, just "not yet".
        seen = match b.find("h1").and_then(|h1| b.text(&h1)) {
            Ok(text) => text,
            Err(error) => format!("(not readable: {error:#})"),
        };
        Ok((seen == want).then_some(()))
    });
    waited.with_context(|| format!("the heading read {seen:?}"))
}

/// Waits until the stylesheet and the logo have loaded. A wrong asset path or a CSP that refuses
/// them leaves a page that works but is unstyled, which no heading or link check would notice.
fn expect_styled(browser: &Browser) -> Result<()> {
    // --bg of the light and the dark colour scheme; an unstyled body is transparent.
    const BACKGROUNDS: [&str; 2] = ["rgb(243, 244, 247)", "rgb(14, 16, 20)"];
    let mut seen = json!(null);
    let waited = browser.wait_for("the stylesheet and the logo", STEP_TIMEOUT, |b| {
        seen = b.execute(
            "const logo = document.querySelector('.brand img'); \
             return [getComputedStyle(document.body).backgroundColor, \
                     logo ? logo.complete && logo.naturalWidth : -1];",
            json!([]),
        )?;
        let styled = seen[0].as_str().is_some_and(|bg| BACKGROUNDS.contains(&bg));
        let logo = seen[1].as_u64().is_some_and(|width| width > 0);
        Ok((styled && logo).then_some(()))
    });
    waited.with_context(|| format!("[body background, logo width]: {seen}"))
}

/// Fails unless the browser is at `want`.
fn expect_url(browser: &Browser, want: &str) -> Result<()> {
    let url = browser.url()?;
    ensure!(
        url == want,
        "expected to be at {want}, but the browser is at {url}"
    );
    Ok(())
}

/// Checks the logged-in page of alice: email, the claims block, and a picture that really loaded.
fn expect_profile(browser: &Browser, idp: &str) -> Result<()> {
    let email = browser.text(&browser.find(".email")?)?;
    ensure!(
        email.contains("alice@example.com"),
        "the email reads {email:?}"
    );
    let claims = browser.text(&browser.find("details pre")?)?;
    ensure!(
        claims.contains(r#""sub": "mock|alice""#),
        "the claims block does not show alice's sub: {claims:?}"
    );
    let img = browser.find(".avatar img")?;
    let src = browser.property(&img, "src")?;
    let want = format!("{idp}/avatars/alice.svg");
    ensure!(src == json!(want), "the picture is {src}, expected {want}");
    browser.wait_for("the picture to load", STEP_TIMEOUT, |b| {
        let width = b.property(&img, "naturalWidth")?;
        Ok(width.as_u64().filter(|&w| w > 0))
    })?;
    let alt = browser.property(&img, "alt")?;
    ensure!(
        alt == json!("Profile picture of Alice"),
        "the picture's alt text is {alt}"
    );
    Ok(())
}
