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

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f3f4f6;color:#111827}\
main{background:#fff;width:100%;max-width:24rem;padding:2rem;border-radius:.75rem;\
box-shadow:0 10px 25px rgba(0,0,0,.08)}\
h1{font-size:1.4rem;margin:0 0 .25rem}\
.banner{background:#fef3c7;color:#92400e;border-radius:.5rem;padding:.6rem .8rem;font-size:.9rem;margin:1rem 0}\
.error{background:#fee2e2;color:#991b1b;border-radius:.5rem;padding:.6rem .8rem;margin:1rem 0}\
label{display:block;font-weight:600;font-size:.9rem;margin:1rem 0 .3rem}\
input,select{width:100%;padding:.55rem .7rem;border:1px solid #d1d5db;border-radius:.4rem;font:inherit}\
input:focus,select:focus{outline:2px solid #6366f1;border-color:#6366f1}\
button{margin-top:1.5rem;width:100%;padding:.65rem;border:0;border-radius:.4rem;background:#4f46e5;\
color:#fff;font:inherit;font-weight:600;cursor:pointer}\
button:hover{background:#4338ca}\
.hint{color:#6b7280;font-size:.8rem;margin:.3rem 0 0}\
code{background:#f3f4f6;padding:0 .25rem;border-radius:.25rem}";

/// Wraps a page body in the shared layout.
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · Mock IdP</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n",
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
        "<h1>Sign in</h1><p class=\"hint\">to continue to <code>{client}</code></p>\
         <p class=\"banner\" role=\"note\">Mock identity provider — for tests and demos only; any username works.</p>",
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
         autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\
         <label for=\"password\">Password <span class=\"hint\">(ignored)</span></label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
         <label for=\"mock_misbehave\">Misbehaviour (for testing)</label>\
         <select id=\"mock_misbehave\" name=\"mock_misbehave\"{disabled}>",
        username = escape(form.username),
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
    body.push_str("<button type=\"submit\">Sign in</button></form>");
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
