//! The claims block of the home page, made once per login rather than on every page view.
//!
//! A login's claims are written to its session once, at login, and never change after; yet
//! pretty-printing them and HTML-escaping the result was most of what a logged-in page view did
//! beyond reading the session. So the escaped block is kept here, in a small bounded map keyed
//! by the subject, and reused while the same login's claims come back.
//!
//! A hit needs the same `authenticated_at` and the same fingerprint of the claims (a hash of the
//! tree, which costs no allocation): two logins of one subject in the same second with different
//! claims, or another login of the subject since, are a miss, never the wrong block.

use minijinja::{HtmlEscape, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::{LazyLock, Mutex};

/// Subjects kept at most. An entry is about the block's size (half a kilobyte to a few); when the
/// map is full it starts over, which is cheaper per view than tracking recency, and a thousand
/// users viewing pages at once still mostly hit.
const CAPACITY: usize = 2048;

struct Entry {
    authenticated_at: i64,
    fingerprint: u64,
    /// The escaped block, marked safe: a clone is a reference count, not a copy.
    html: Value,
}

static CACHE: LazyLock<Mutex<HashMap<String, Entry>>> =
    LazyLock::new(|| Mutex::new(HashMap::with_capacity(CAPACITY)));

/// The claims as indented JSON (as the quickstart shows them), HTML-escaped, ready for the page.
pub(crate) fn pretty_html(
    subject: &str,
    authenticated_at: i64,
    claims: &Map<String, Json>,
) -> Value {
    let mut hasher = DefaultHasher::new();
    claims.hash(&mut hasher);
    let fingerprint = hasher.finish();
    // A poisoned lock only means another view panicked mid-insert: the map is still a map.
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(entry) = cache.get(subject)
        && entry.authenticated_at == authenticated_at
        && entry.fingerprint == fingerprint
    {
        return entry.html.clone();
    }
    // Made under the lock: a miss is once per login, and two racing views would only repeat it.
    let html = render(claims);
    if cache.len() >= CAPACITY && !cache.contains_key(subject) {
        cache.clear();
    }
    cache.insert(
        subject.to_owned(),
        Entry {
            authenticated_at,
            fingerprint,
            html: html.clone(),
        },
    );
    html
}

/// Pretty-prints and escapes `claims` the way the template's auto-escaping would.
fn render(claims: &Map<String, Json>) -> Value {
    let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
    Value::from_safe_string(HtmlEscape(&pretty).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(name: &str) -> Map<String, Json> {
        let claims = json!({ "sub": "cache|test", "name": name });
        claims.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_block_is_escaped_pretty_json() {
        let html = pretty_html("cache|escaped", 1, &claims("<b>Mallory</b>"));
        assert_eq!(
            html.as_str().unwrap(),
            "{\n  &quot;name&quot;: &quot;&lt;b&gt;Mallory&lt;&#x2f;b&gt;&quot;,\n  \
             &quot;sub&quot;: &quot;cache|test&quot;\n}"
        );
    }

    #[test]
    fn another_login_or_other_claims_are_a_miss() {
        let first = pretty_html("cache|test", 100, &claims("Alice"));
        let again = pretty_html("cache|test", 100, &claims("Alice"));
        assert_eq!(first, again);
        let renamed = pretty_html("cache|test", 100, &claims("Alicia"));
        assert!(renamed.as_str().unwrap().contains("Alicia"));
        let later = pretty_html("cache|test", 200, &claims("Alice"));
        assert!(later.as_str().unwrap().contains("Alice"));
        let back = pretty_html("cache|test", 100, &claims("Alicia"));
        assert_eq!(renamed, back);
    }
}
