//! Page rendering with minijinja; the templates live in the top-level `templates/` and are
//! embedded in the binary at build time, so a deployed `sesame` needs no files beside it.

use minijinja::{Environment, Value, context};
use sesame_auth::AuthenticatedUser;
use std::sync::LazyLock;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `.html` names turn on HTML auto-escaping: claims and provider error text are untrusted.
    for (name, source) in [
        ("base.html", include_str!("../../../templates/base.html")),
        ("home.html", include_str!("../../../templates/home.html")),
        ("error.html", include_str!("../../../templates/error.html")),
    ] {
        if let Err(err) = env.add_template(name, source) {
            // Templates are compiled into the binary; a broken one is caught by the tests.
            tracing::error!(%err, template = name, "template does not compile");
        }
    }
    env
});

/// The home page, for a guest (`None`) or a logged-in user.
pub(crate) fn home(user: Option<&AuthenticatedUser>) -> Result<String, minijinja::Error> {
    let user = user.map(|user| {
        context! {
            name => &user.name,
            email => &user.email,
            picture => &user.picture,
            initial => user.name.chars().next().map(|c| c.to_uppercase().to_string()),
            claims_pretty => user.claims_pretty(),
        }
    });
    TEMPLATES
        .get_template("home.html")?
        .render(context! { user => user })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_page_has_the_quickstart_wording() {
        let page = home(None).unwrap();
        assert!(page.contains("Welcome Guest"));
        assert!(page.contains(r#"href="/login""#));
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
    }
}
