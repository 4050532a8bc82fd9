//! Just enough HTML for the tests: entity decoding and reading a form's action and hidden inputs.
//!
//! A string scan, not a parser: tolerant of attribute order, either quote style and escaped values,
//! which is all the mock IdP's login form needs.

/// A `<form>` as a browser would submit it.
#[derive(Debug, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute, decoded (absent means "the page's own URL").
    pub action: Option<String>,
    /// `(name, value)` of every `<input type="hidden">`, values decoded, in document order.
    pub hidden: Vec<(String, String)>,
}

/// The first `<form>` in `html`, with the hidden inputs up to its `</form>`.
pub fn first_form(html: &str) -> Option<Form> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<form")?;
    let (form_attrs, body_start) = attributes(html, start + "<form".len());
    let body_end = lower[body_start..]
        .find("</form")
        .map_or(html.len(), |end| body_start + end);
    let mut hidden = Vec::new();
    let mut at = body_start;
    while let Some(found) = lower[at..body_end].find("<input") {
        let (attrs, next) = attributes(html, at + found + "<input".len());
        let is_hidden = attribute(&attrs, "type").is_some_and(|t| t.eq_ignore_ascii_case("hidden"));
        if let (true, Some(name)) = (is_hidden, attribute(&attrs, "name")) {
            let value = attribute(&attrs, "value").unwrap_or_default();
            hidden.push((name.to_owned(), value.to_owned()));
        }
        at = next;
    }
    Some(Form {
        action: attribute(&form_attrs, "action").map(str::to_owned),
        hidden,
    })
}

/// The value of attribute `name` in `attrs`.
fn attribute<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Reads a tag's attributes from `from` (just past the tag name) up to its `>`, quote-aware.
/// Returns `(lowercased name, decoded value)` pairs and the index just past the `>`.
fn attributes(html: &str, from: usize) -> (Vec<(String, String)>, usize) {
    let bytes = html.as_bytes();
    let mut attrs = Vec::new();
    let mut i = from;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= bytes.len() {
            return (attrs, i);
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut value = String::new();
        if j < bytes.len() && bytes[j] == b'=' {
            j += 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let (value_start, value_end, next) = match bytes.get(j) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let end = html[j + 1..]
                        .find(quote as char)
                        .map_or(html.len(), |e| j + 1 + e);
                    (j + 1, end, (end + 1).min(html.len()))
                }
                _ => {
                    let mut end = j;
                    while end < bytes.len()
                        && bytes[end] != b'>'
                        && !bytes[end].is_ascii_whitespace()
                    {
                        end += 1;
                    }
                    (j, end, end)
                }
            };
            value = unescape(&html[value_start..value_end]);
            i = next;
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

/// Decodes HTML character references: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&#39;`, `&#x2f;`...
/// Anything that is not a reference is kept as written.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // References are short; looking a few bytes ahead keeps a lone `&` from swallowing text.
        let reference = rest[1..]
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .and_then(|(end, _)| decode(&rest[1..1 + end]).map(|c| (c, end + 2)));
        match reference {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character a reference's name (between `&` and `;`) stands for.
fn decode(name: &str) -> Option<char> {
    let code = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        "nbsp" => return Some('\u{a0}'),
        _ => {
            let number = name.strip_prefix('#')?;
            match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            }
        }
    };
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_named_and_numeric_references() {
        assert_eq!(
            unescape("a &amp; b &lt;i&gt; &quot;q&quot; &#39;s&#x27; &#x2f;&#47; &bogus; & x"),
            "a & b <i> \"q\" 's' // &bogus; & x"
        );
    }

    #[test]
    fn reads_hidden_inputs_in_any_attribute_order() {
        let page = r#"<html><body>
            <input type="hidden" name="outside" value="no">
            <FORM method="post" action="/authorize?x=1&amp;y=2">
              <input type="hidden" name="state" value="a&amp;b">
              <input value='http://x/cb?a=1&amp;b=&quot;2&quot;' name='redirect_uri' type='HIDDEN' />
              <input name="username" type="text" autofocus>
              <input type=hidden name=scope value="openid profile email">
              <button>Sign in</button>
            </form>
            <input type="hidden" name="after" value="no">"#;
        let form = first_form(page).unwrap();
        assert_eq!(form.action.as_deref(), Some("/authorize?x=1&y=2"));
        assert_eq!(
            form.hidden,
            vec![
                ("state".to_owned(), "a&b".to_owned()),
                (
                    "redirect_uri".to_owned(),
                    "http://x/cb?a=1&b=\"2\"".to_owned()
                ),
                ("scope".to_owned(), "openid profile email".to_owned()),
            ]
        );
    }

    #[test]
    fn no_form_is_none() {
        assert_eq!(first_form("<p>nothing here</p>"), None);
    }
}
