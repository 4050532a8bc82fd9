//! Page rendering with minijinja; the templates live in the top-level `templates/` and are
//! embedded in the binary at build time, so a deployed `sesame` needs no files beside it. Every
//! page links the one stylesheet and the logo at their content-hashed paths ([`crate::assets`]).

use crate::{assets, page_cache};
use bytes::Bytes;
use minijinja::{Environment, Value, context};
use serde_json::{Map, Value as Json};
use sesame_axum::CurrentUser;
use sha2::{Digest as _, Sha256};
use std::sync::LazyLock;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Marked safe: our own paths, linked as they are rather than with `/` escaped.
    for (name, asset) in [
        ("stylesheet", &*assets::STYLESHEET),
        ("logo", &*assets::LOGO),
    ] {
        env.add_global(name, Value::from_safe_string(asset.path().to_owned()));
    }
    // `.html` names turn on HTML auto-escaping: claims and provider error text are untrusted.
    for (name, source) in [
        ("base.html", include_str!("../../../templates/base.html")),
        ("home.html", include_str!("../../../templates/home.html")),
        ("error.html", include_str!("../../../templates/error.html")),
        (
            "logout.html",
            include_str!("../../../templates/logout.html"),
        ),
    ] {
        if let Err(err) = env.add_template(name, source) {
            // Templates are compiled into the binary; a broken one is caught by the tests.
            tracing::error!(%err, template = name, "template does not compile");
        }
    }
    env
});

/// What the home page shows of a logged-in user.
pub(crate) struct Profile<'a> {
    pub(crate) name: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) picture: Option<&'a str>,
    pub(crate) claims: &'a Map<String, Json>,
    pub(crate) authenticated_at: i64,
    /// When the session's access token expires (unix seconds), when known: shown, the token
    /// itself never is.
    pub(crate) access_token_expires_at: Option<i64>,
}

impl<'a> Profile<'a> {
    pub(crate) fn of(user: &'a CurrentUser) -> Self {
        Self {
            name: user.name(),
            subject: user.subject(),
            email: user.email(),
            picture: user.picture(),
            claims: user.claims(),
            authenticated_at: user.authenticated_at(),
            access_token_expires_at: user.access_token_expires_at(),
        }
    }
}

/// The home page, for a guest (`None`) or a logged-in user: a logged-in user's page is
/// rendered once per login and token expiry ([`page_cache`]).
pub(crate) fn home(user: Option<&CurrentUser>) -> Result<Bytes, minijinja::Error> {
    let Some(user) = user else {
        return render_home(None).map(Bytes::from);
    };
    let key = page_cache::PageKey {
        fingerprint: *user.fingerprint(),
        access_token_expires_at: user.access_token_expires_at(),
    };
    HOME_PAGES.page(key, || render_home(Some(&Profile::of(user))))
}

/// Logged-in home pages kept, sharing the lines of the layout (what the pages of two made-up
/// users who differ in everything a user can have in common) and of the pages met since.
static HOME_PAGES: LazyLock<page_cache::PageCache> = LazyLock::new(|| {
    let sample = |name, subject, email, picture, at: i64| {
        let claims = serde_json::json!({
            "sub": subject, "name": name, "email": email, "email_verified": true,
            "picture": picture,
        });
        let claims = claims.as_object().cloned().unwrap_or_default();
        let profile = Profile {
            name,
            subject,
            email: Some(email),
            picture: Some(picture),
            claims: &claims,
            authenticated_at: at,
            access_token_expires_at: Some(at + 3600),
        };
        // A template that fails here fails on every page too, and its tests say so.
        render_home(Some(&profile)).unwrap_or_default()
    };
    page_cache::PageCache::new(&[
        sample(
            "Ann",
            "sample|ann",
            "ann@a.example",
            "https://a.example/ann.png",
            1_700_000_000,
        ),
        sample(
            "Bo",
            "sample|bo",
            "bo@b.example",
            "https://b.example/bo.jpg",
            1_800_000_000,
        ),
    ])
});

fn render_home(user: Option<&Profile<'_>>) -> Result<String, minijinja::Error> {
    let user = user.map(|user| {
        context! {
            name => user.name,
            email => user.email,
            email_verified => user.claims.get("email_verified").and_then(Json::as_bool),
            picture => user.picture,
            initial => user.name.chars().next().map(|c| c.to_uppercase().to_string()),
            hue => hue_digits(avatar_hue(user.subject)),
            signed_in_at => chrono::DateTime::from_timestamp(user.authenticated_at, 0)
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            access_token_expires => user
                .access_token_expires_at
                .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
                .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
            // The claims as indented JSON, as the quickstart shows them.
            claims_pretty => pretty_html(user.claims),
        }
    });
    TEMPLATES
        .get_template("home.html")?
        .render(context! { user => user })
}

/// The claims as indented JSON (as the quickstart shows them), HTML-escaped, ready for the page.
fn pretty_html(claims: &Map<String, Json>) -> Value {
    let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
    Value::from_safe_string(minijinja::HtmlEscape(&pretty).to_string())
}

/// The hue (0-359) of the avatar's initial circle: derived from the subject, so each user keeps
/// a colour across logins and the palette needs no stored state.
fn avatar_hue(subject: &str) -> u16 {
    let digest = Sha256::digest(subject.as_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % 360
}

/// The avatar's hue as the stylesheet reads it from `data-hue`: three digits, whose first two
/// and last one each select a rule (`067` is 6 tens and 7 ones). The page so names its exact
/// hue without a `style=` attribute.
fn hue_digits(hue: u16) -> String {
    format!("{:03}", hue % 360)
}

/// The error page.
pub(crate) fn error(
    status: u16,
    title: &str,
    message: &str,
    detail: Option<&str>,
) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template("error.html")?.render(context! {
        status => status,
        title => title,
        message => message,
        detail => detail.map(Value::from),
    })
}

/// The page that asks to confirm a logout another site started.
pub(crate) fn logout(action: &str, csrf_token: &str) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template("logout.html")?.render(context! {
        action => action,
        csrf_token => csrf_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Alice's claims, with a picture if given.
    fn alice_claims(picture: Option<&str>) -> Map<String, Json> {
        let mut claims = json!({
            "sub": "mock|alice",
            "name": "Alice",
            "email": "alice@example.com",
            "email_verified": true,
        });
        if let Some(picture) = picture {
            claims["picture"] = json!(picture);
        }
        claims.as_object().cloned().unwrap_or_default()
    }

    fn profile(claims: &Map<String, Json>) -> Profile<'_> {
        let text = |name: &str| claims.get(name).and_then(Json::as_str);
        Profile {
            name: text("name").unwrap_or_default(),
            subject: text("sub").unwrap_or_default(),
            email: text("email"),
            picture: text("picture"),
            claims,
            authenticated_at: 1_704_067_200,
            access_token_expires_at: Some(1_704_070_800),
        }
    }

    #[test]
    fn the_claims_block_is_escaped_pretty_json() {
        let claims = json!({ "sub": "cache|test", "name": "<b>Mallory</b>" });
        let html = pretty_html(claims.as_object().unwrap());
        assert_eq!(
            html.as_str().unwrap(),
            "{\n  &quot;name&quot;: &quot;&lt;b&gt;Mallory&lt;&#x2f;b&gt;&quot;,\n  \
             &quot;sub&quot;: &quot;cache|test&quot;\n}"
        );
    }

    #[test]
    fn a_kept_page_shares_the_layout_and_comes_back_the_same() {
        let claims = alice_claims(Some("http://idp/avatars/alice.svg"));
        let rendered = render_home(Some(&profile(&claims))).unwrap();
        let key = page_cache::PageKey {
            fingerprint: [0xA1; 32],
            access_token_expires_at: Some(1),
        };
        let first = HOME_PAGES.page(key, || Ok::<_, ()>(rendered.clone()));
        let kept = HOME_PAGES.page(key, || Err(()));
        assert_eq!(first.unwrap(), rendered);
        assert_eq!(
            kept.unwrap(),
            rendered,
            "served from the cache, the same page"
        );
        let own = HOME_PAGES.own_len(&key.fingerprint).unwrap();
        assert!(
            own * 2 < rendered.len(),
            "a kept page holds {own} of its {} bytes",
            rendered.len()
        );
    }

    #[test]
    fn guest_page_has_the_quickstart_wording() {
        let page = render_home(None).unwrap();
        assert!(page.contains("Welcome Guest"));
        assert!(page.contains(r#"href="/login""#));
        assert!(page.contains(">Login</a>"));
        assert!(!page.contains("/logout"));
    }

    #[test]
    fn user_page_has_the_quickstart_wording_and_profile() {
        let claims = alice_claims(Some("http://idp/avatars/alice.svg"));
        let page = render_home(Some(&profile(&claims))).unwrap();
        assert!(page.contains("Welcome Alice!"));
        assert!(!page.contains("Welcome Guest"));
        assert!(page.contains(r#"href="/logout""#));
        assert!(page.contains(">Logout</a>"));
        assert!(page.contains("alice@example.com"));
        assert!(page.contains("Access token expires 2024-01-01 01:00:00 UTC"));
        assert!(page.contains(r#"src="http:&#x2f;&#x2f;idp&#x2f;avatars&#x2f;alice.svg""#));
        assert!(page.contains(r#"alt="Profile picture of Alice""#));
        assert!(page.contains("&quot;sub&quot;: &quot;mock|alice&quot;"));
        assert!(page.contains("<details open>"));
        assert!(page.contains(">verified</span>"));
        assert!(page.contains("2024-01-01 00:00 UTC"));
        sesame_testkit::assert_no_jwt(&page, "the home page");
    }

    #[test]
    fn the_initial_stands_in_when_there_is_no_picture_or_it_fails() {
        let page = render_home(Some(&profile(&alice_claims(None)))).unwrap();
        assert!(!page.contains("Profile picture of"), "no avatar picture");
        assert!(page.contains(r#"<span aria-hidden="true">A</span>"#));
        // With a picture, the image carries the initial its `::after` repaints when it fails to load.
        let claims = alice_claims(Some("http://127.0.0.1:1/broken.png"));
        let page = render_home(Some(&profile(&claims))).unwrap();
        assert!(page.contains(r#"data-initial="A""#));
        assert!(page.contains(r#"<span aria-hidden="true">A</span>"#));
    }

    #[test]
    fn claims_and_picture_are_escaped() {
        let mut claims = alice_claims(Some(r#"x" onerror="alert(1)"#));
        claims.insert("name".into(), json!("<b>Mallory</b>"));
        let page = render_home(Some(&profile(&claims))).unwrap();
        assert!(!page.contains("<b>Mallory"));
        assert!(page.contains("&lt;b&gt;Mallory"));
        assert!(!page.contains(r#"" onerror=""#));
    }

    #[test]
    fn avatar_hue_is_stable_and_in_range() {
        assert_eq!(avatar_hue("mock|alice"), avatar_hue("mock|alice"));
        assert!(avatar_hue("mock|bob") < 360);
        assert_eq!(
            [0, 7, 67, 100, 359].map(hue_digits),
            ["000", "007", "067", "100", "359"]
        );
    }

    #[test]
    fn pages_link_the_stylesheet_and_carry_no_inline_style() {
        let claims = alice_claims(Some("http://idp/avatars/alice.svg"));
        let pages = [
            render_home(None).unwrap(),
            render_home(Some(&profile(&claims))).unwrap(),
            error(404, "Page not found", "Nothing here.", None).unwrap(),
            logout("/logout/confirm", "token").unwrap(),
        ];
        let link = format!(
            r#"<link rel="stylesheet" href="{}">"#,
            assets::STYLESHEET.path()
        );
        let logo = format!(
            r#"<img src="{}" width="28" height="28" alt="">"#,
            assets::LOGO.path()
        );
        for page in pages {
            assert!(page.contains(&link) && page.contains(&logo), "{page}");
            assert!(
                !page.contains("<style") && !page.contains("style="),
                "{page}"
            );
        }
        let hue = hue_digits(avatar_hue("mock|alice"));
        let page = render_home(Some(&profile(&claims))).unwrap();
        assert!(page.contains(&format!(r#"<div class="avatar" data-hue="{hue}">"#)));
    }

    #[test]
    fn error_page_escapes_untrusted_text() {
        let page = error(
            403,
            "Login refused",
            "msg",
            Some("<script>alert(1)</script>"),
        )
        .unwrap();
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("Error 403"));
        assert!(page.contains("The identity provider said:"));
        assert!(page.contains(r#"<a href="/login" class="button">Try again</a>"#));
        assert!(page.contains(r#"<a href="/" class="button secondary">Home</a>"#));
    }

    #[test]
    fn error_page_without_detail_says_nothing_about_the_provider() {
        let page = error(
            404,
            "Page not found",
            "There is nothing at this address.",
            None,
        )
        .unwrap();
        assert!(page.contains("Page not found"));
        assert!(!page.contains("The identity provider said"));
    }
}
