//! The library's contract, end to end: `crates/axum/examples/embed.rs` built and run as a real
//! process (configured only by environment variables, as a host app would be) in front of a real
//! `mock-idp`, then driven as a browser and as curl would.

use std::path::Path;

use anyhow::{Context as _, Result, ensure};
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{StatusCode, Url};
use sesame_testkit::bins::{App, Bins, Store};
use sesame_testkit::process::{ChildGuard, Output, free_ports};

use crate::fresh_dir;

/// What a browser sends when it loads a page.
const PAGE: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Starts mock-idp and the example, walks the contract, prints one line per check.
pub fn run(bins: &Bins, example: &Path) -> Result<()> {
    println!("\n==> the embed example (crates/axum/examples/embed.rs) as a process");
    let dir = fresh_dir("embed")?;
    let [idp_port, app_port] = free_ports()?;
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let mut idp = ChildGuard::spawn(
        "mock-idp",
        bins.mock_idp(&dir, idp_port, &issuer),
        Output::File(dir.join("mock-idp.log")),
    )?;
    idp.wait_healthy(&format!("{issuer}/healthz"))?;
    // The same variables as the sesame binary: the example reads them with Sesame::from_env.
    let app = App::local(&issuer, app_port, Store::Memory)?;
    let mut embed = ChildGuard::spawn(
        "embed",
        app.command(example, &dir),
        Output::File(dir.join("embed.log")),
    )?;
    let base = Url::parse(&format!("http://127.0.0.1:{app_port}/"))?;
    embed.wait_healthy(base.as_str())?;
    let result = walk(&base);
    if result.is_err()
        && let Ok(Some(status)) = embed.exited()
    {
        println!("      embed has exited ({status}){}", embed.log_tail());
    }
    result?;
    println!("  logs: {}", dir.display());
    Ok(())
}

/// The contract: guest home, `/admin?tab=2` sends the browser to log in and back, logout, and
/// 401s for anything that is not a page load.
fn walk(base: &Url) -> Result<()> {
    let browser = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = |url: &Url| browser.get(url.clone()).header(ACCEPT, PAGE).send();
    let admin = base.join("/admin")?;
    let fetch = |accept: &str| browser.get(admin.clone()).header(ACCEPT, accept).send();

    let home = page(base)?.text()?;
    ensure!(home.contains("Welcome Guest"), "guest home: {home}");
    let to_login = page(&base.join("/admin?tab=2")?)?;
    let login = redirect(base, &to_login)?;
    ensure!(
        login.as_str() == base.join("/login?returnTo=%2Fadmin%3Ftab%3D2")?.as_str(),
        "a guest's page load of /admin?tab=2 should go to /login with returnTo, went to {login}"
    );
    println!("  ok    guest: home says Welcome Guest, /admin?tab=2 redirects to /login?returnTo=");

    let mut authorize = redirect(base, &page(&login)?)?;
    authorize
        .query_pairs_mut()
        .append_pair("mock_auto_login", "alice");
    let callback = redirect(base, &browser.get(authorize).send()?)?;
    let landed = redirect(base, &page(&callback)?)?;
    ensure!(
        landed.as_str() == base.join("/admin?tab=2")?.as_str(),
        "after login the browser should land on /admin?tab=2, not {landed}"
    );
    let shown = page(&landed)?.text()?;
    let want = "admin page for Alice <alice@example.com> (sub mock|alice)";
    ensure!(
        shown == want,
        "/admin?tab=2 after login: {shown:?}, want {want:?}"
    );
    println!("  ok    login at the mock IdP lands on /admin?tab=2: {want}");

    let logout = page(&base.join("/logout")?)?;
    ensure!(
        logout.status() == StatusCode::FOUND,
        "/logout answered {}",
        logout.status()
    );
    let again = redirect(base, &page(&admin)?)?;
    ensure!(
        again.path() == "/login",
        "after logout /admin should redirect to /login again, went to {again}"
    );
    for accept in ["*/*", "application/json"] {
        let status = fetch(accept)?.status();
        ensure!(
            status == StatusCode::UNAUTHORIZED,
            "GET /admin with Accept: {accept} answered {status}, want 401"
        );
    }
    println!(
        "  ok    logout; then /admin redirects a browser again and is a 401 for curl and JSON"
    );
    Ok(())
}

/// The absolute URL a 302 points to.
fn redirect(base: &Url, response: &Response) -> Result<Url> {
    ensure!(
        response.status() == StatusCode::FOUND,
        "{} answered {}, want a 302",
        response.url(),
        response.status()
    );
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .with_context(|| format!("{}: a 302 without Location", response.url()))?;
    Ok(base.join(location)?)
}
