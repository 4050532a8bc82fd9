//! The provider's few HTML pages (login form, error, signed out), self-contained: inline CSS, no
//! external assets, so demos work offline and the CSP can forbid everything else.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Misbehaviour;

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An HTML response that is never cached and can load nothing but its own inline style.
pub(crate) fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        // No form-action: Chrome applies it to the redirect after the form post, which goes to the RP.
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The look shared with Sesame's own pages (same palette, type and focus rings), with an amber
/// "test provider" stripe so nobody mistakes this for a real sign-in page.
const STYLE: &str = "\
:root{--bg:#f3f4f7;--surface:#fff;--text:#111827;--muted:#4b5563;--line:#e3e6eb;--accent:#4338ca;\
--accent-hover:#3730a3;--on-accent:#fff;--focus:#2563eb;--warn-bg:#fffaeb;--warn:#93370d;--warn-line:#fedf89;\
--danger:#b42318;--danger-soft:#fef3f2;--code-bg:#f3f4f7;--shadow:0 1px 2px rgb(16 24 40/.05),0 12px 32px rgb(16 24 40/.07)}\
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--surface:#171a20;--text:#f2f4f7;--muted:#a8afbc;\
--line:#2a2f38;--accent:#a5b4fc;--accent-hover:#c7d2fe;--on-accent:#111827;--focus:#93c5fd;--warn-bg:#2a1f0b;\
--warn:#fec84b;--warn-line:#4e3a12;--danger:#fda29b;--danger-soft:#2b1614;--code-bg:#111318;--shadow:none}}\
*,*::before,*::after{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;flex-direction:column;background:var(--bg);color:var(--text);\
font:16px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\
.stripe{background:repeating-linear-gradient(-45deg,#f79009 0 12px,#fdb022 12px 24px);height:6px}\
header{width:100%;max-width:26rem;margin:0 auto;padding:1.25rem 1.25rem .75rem;display:flex;align-items:center;\
justify-content:space-between;gap:.75rem}\
.brand{display:inline-flex;align-items:center;gap:.5rem;font-weight:700;font-size:1.05rem}\
.pill{font-size:.7rem;font-weight:700;letter-spacing:.06em;text-transform:uppercase;padding:.15rem .55rem;\
border-radius:999px;background:var(--warn-bg);color:var(--warn);border:1px solid var(--warn-line)}\
main{flex:1;width:100%;max-width:26rem;margin:0 auto;padding:0 1.25rem 2.5rem}\
.card{background:var(--surface);border:1px solid var(--line);border-radius:1rem;padding:1.75rem;box-shadow:var(--shadow)}\
h1{font-size:1.5rem;line-height:1.25;letter-spacing:-.015em;margin:0 0 .2rem}\
p{margin:0}\
.to{color:var(--muted);font-size:.95rem}\
.banner{background:var(--warn-bg);color:var(--warn);border:1px solid var(--warn-line);border-radius:.6rem;\
padding:.65rem .8rem;font-size:.875rem;margin:1.1rem 0 .25rem}\
.error{background:var(--danger-soft);color:var(--danger);border-radius:.6rem;padding:.65rem .8rem;margin:1rem 0 0}\
label{display:block;font-weight:600;font-size:.9rem;margin:1.1rem 0 .35rem}\
label .hint{font-weight:400}\
input,select{width:100%;min-height:2.75rem;padding:.55rem .75rem;border:1px solid #c4c9d2;border-radius:.55rem;\
font:inherit;color:var(--text);background:var(--surface)}\
select:disabled{opacity:.75}\
input:focus-visible,select:focus-visible,button:focus-visible,summary:focus-visible{outline:3px solid var(--focus);outline-offset:2px}\
button{margin-top:1.5rem;width:100%;min-height:2.75rem;padding:.65rem;border:0;border-radius:.6rem;\
background:var(--accent);color:var(--on-accent);font:inherit;font-weight:600;cursor:pointer}\
button:hover{background:var(--accent-hover)}\
details{margin-top:1.25rem;border-top:1px solid var(--line);padding-top:.9rem}\
summary{cursor:pointer;color:var(--muted);font-size:.9rem;border-radius:.3rem}\
details label{margin-top:.75rem}\
.hint{color:var(--muted);font-size:.8rem;margin:.35rem 0 0}\
code{background:var(--code-bg);padding:0 .3rem;border-radius:.3rem;font-size:.9em}\
footer{text-align:center;color:var(--muted);font-size:.8rem;padding:0 1.25rem 1.5rem}";

/// A key in a circle, amber: the provider's mark (inline, so the page loads nothing).
const MARK: &str = "<svg width=\"26\" height=\"26\" viewBox=\"0 0 32 32\" aria-hidden=\"true\" focusable=\"false\">\
<rect width=\"32\" height=\"32\" rx=\"8\" fill=\"#dc6803\"/>\
<circle cx=\"12\" cy=\"16\" r=\"5\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2.5\"/>\
<path d=\"M17 16h9M23 16v4M26 16v3\" stroke=\"#fff\" stroke-width=\"2.5\" stroke-linecap=\"round\"/></svg>";

/// Wraps a page body in the shared layout.
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{title} · Mock IdP (test provider)</title><style>{STYLE}</style></head>\
         <body><div class=\"stripe\" aria-hidden=\"true\"></div>\
         <header><span class=\"brand\">{MARK}Mock IdP</span><span class=\"pill\">Test provider</span></header>\
         <main><div class=\"card\">{body}</div></main>\
         <footer>Sesame's mock OpenID provider. Not for real accounts.</footer></body></html>\n",
        title = escape(title),
    )
}

/// How the misbehaviour menu appears on the login form.
pub(crate) enum MisbehaviourChoice {
    /// The person picks; this value preselected.
    Open(Misbehaviour),
    /// Fixed by the authorization URL: carried in a hidden input, menu shown disabled (so it is not
    /// submitted twice).
    FromUrl(Misbehaviour),
}

/// What the login form shows.
pub(crate) struct LoginForm<'a> {
    /// Where the form posts (the authorization endpoint's path).
    pub(crate) action: &'a str,
    /// The original authorization parameters, echoed as hidden inputs.
    pub(crate) hidden: Vec<(&'a str, &'a str)>,
    /// Prefilled username (from `login_hint` or a failed submit).
    pub(crate) username: &'a str,
    /// Client asking for the login, shown to the person.
    pub(crate) client_id: &'a str,
    /// Problem with the last submit.
    pub(crate) error: Option<&'a str>,
    /// The misbehaviour menu's state.
    pub(crate) misbehaviour: MisbehaviourChoice,
}

/// The login page.
pub(crate) fn login_page(form: &LoginForm<'_>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Sign in</h1><p class=\"to\">to continue to <code>{client}</code></p>\
         <p class=\"banner\" role=\"note\"><strong>Mock identity provider — for tests and demos only; any username works.</strong> \
         The password is ignored. Never enter a real one here.</p>",
        client = escape(form.client_id),
    );
    if let Some(error) = form.error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\">",
        escape(form.action)
    );
    for (name, value) in &form.hidden {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let (selected, disabled) = match form.misbehaviour {
        MisbehaviourChoice::Open(m) => (m, ""),
        MisbehaviourChoice::FromUrl(m) => {
            let _ = write!(
                body,
                "<input type=\"hidden\" name=\"mock_misbehave\" value=\"{m}\">"
            );
            (m, " disabled")
        }
    };
    let _ = write!(
        body,
        "<label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" type=\"text\" value=\"{username}\" autocomplete=\"username\" \
         autocapitalize=\"none\" spellcheck=\"false\" placeholder=\"any name, e.g. alice\" required autofocus>\
         <p class=\"hint\">Any name: it becomes the user's name, <code>name@example.com</code> and an avatar.</p>\
         <label for=\"password\">Password <span class=\"hint\">(ignored)</span></label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">",
        username = escape(form.username),
    );
    // The misbehaviour menu is folded away unless it is in use, so the everyday form stays short.
    let open = if selected == Misbehaviour::None && disabled.is_empty() {
        ""
    } else {
        " open"
    };
    let _ = write!(
        body,
        "<button type=\"submit\">Sign in</button>\
         <details{open}><summary>Test options</summary>\
         <label for=\"mock_misbehave\">Misbehaviour (for testing)</label>\
         <select id=\"mock_misbehave\" name=\"mock_misbehave\"{disabled}>"
    );
    for m in Misbehaviour::ALL {
        let sel = if m == selected { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{m}\"{sel}>{m} — {}</option>",
            escape(m.description())
        );
    }
    body.push_str("</select>");
    if disabled.is_empty() {
        body.push_str("<p class=\"hint\">Makes this one login go wrong on purpose.</p>");
    } else {
        body.push_str(
            "<p class=\"hint\">Set by the <code>mock_misbehave</code> URL parameter.</p>",
        );
    }
    body.push_str("</details></form>");
    layout("Sign in", &body)
}

/// A page explaining why a request was refused.
pub(crate) fn error_page(title: &str, message: &str) -> String {
    layout(
        title,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
            escape(title),
            escape(message)
        ),
    )
}

/// The page shown after logout when there is nowhere (allowed) to send the person back to.
pub(crate) fn signed_out_page(note: Option<&str>) -> String {
    let mut body = "<h1>You are signed out</h1>\
                    <p class=\"to\">of the mock identity provider.</p>\
                    <p class=\"banner\" role=\"note\">Mock identity provider — for tests and demos only.</p>"
        .to_owned();
    if let Some(note) = note {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(note)
        );
    }
    layout("Signed out", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
