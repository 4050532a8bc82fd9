//! The logged-in home page, rendered once per login rather than on every page view.
//!
//! Everything the page shows is fixed when the user logs in (the claims, the name, the avatar,
//! when they signed in), except when the access token expires, which moves with each refresh.
//! Yet rendering the template, pretty-printing and escaping the claims and formatting the times
//! was most of what a logged-in page view cost beyond reading the session. So the finished page
//! is kept here, in a small bounded map keyed by the subject, and served again while the same
//! login (and the same token expiry) comes back.
//!
//! A hit needs the same `authenticated_at`, the same token expiry and the same fingerprint of
//! the claims (a hash of the tree, which costs no allocation): two logins of one subject in the
//! same second with different claims, another login of the subject since, or a refresh, are a
//! miss, never someone else's page or a stale one.

use bytes::Bytes;
use minijinja::{HtmlEscape, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::{LazyLock, Mutex};

/// Subjects kept at most. An entry is about the page's size (about 3 KB); when the map is full
/// one page makes room for the next, which costs a view less than tracking recency would.
const CAPACITY: usize = 2048;

/// What must match for a kept page to be this view's page.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(crate) struct PageKey {
    authenticated_at: i64,
    access_token_expires_at: Option<i64>,
    fingerprint: u64,
}

impl PageKey {
    pub(crate) fn new(
        authenticated_at: i64,
        access_token_expires_at: Option<i64>,
        claims: &Map<String, Json>,
    ) -> Self {
        let mut hasher = DefaultHasher::new();
        claims.hash(&mut hasher);
        Self {
            authenticated_at,
            access_token_expires_at,
            fingerprint: hasher.finish(),
        }
    }
}

struct Entry {
    key: PageKey,
    /// The page: a clone is a reference count, not a copy.
    page: Bytes,
}

static CACHE: LazyLock<Mutex<HashMap<String, Entry>>> =
    LazyLock::new(|| Mutex::new(HashMap::with_capacity(CAPACITY)));

/// `subject`'s page for `key`, rendered by `render` unless kept from an earlier view.
pub(crate) fn home_page<E>(
    subject: &str,
    key: PageKey,
    render: impl FnOnce() -> Result<String, E>,
) -> Result<Bytes, E> {
    {
        // A poisoned lock only means another view panicked mid-insert: the map is still a map.
        let cache = CACHE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = cache.get(subject)
            && entry.key == key
        {
            return Ok(entry.page.clone());
        }
    }
    // Rendered outside the lock: two racing views of a new login only repeat the work.
    let page = Bytes::from(render()?);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if cache.len() >= CAPACITY
        && !cache.contains_key(subject)
        && let Some(evicted) = cache.keys().next().cloned()
    {
        cache.remove(&evicted);
    }
    cache.insert(
        subject.to_owned(),
        Entry {
            key,
            page: page.clone(),
        },
    );
    Ok(page)
}

/// The claims as indented JSON (as the quickstart shows them), HTML-escaped, ready for the page.
pub(crate) fn pretty_html(claims: &Map<String, Json>) -> Value {
    let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
    Value::from_safe_string(HtmlEscape(&pretty).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::convert::Infallible;

    fn claims(name: &str) -> Map<String, Json> {
        let claims = json!({ "sub": "cache|test", "name": name });
        claims.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_block_is_escaped_pretty_json() {
        let html = pretty_html(&claims("<b>Mallory</b>"));
        assert_eq!(
            html.as_str().unwrap(),
            "{\n  &quot;name&quot;: &quot;&lt;b&gt;Mallory&lt;&#x2f;b&gt;&quot;,\n  \
             &quot;sub&quot;: &quot;cache|test&quot;\n}"
        );
    }

    /// Renders "`name` at `at`, expires `expires`" through the cache, counting renders.
    fn page(at: i64, expires: Option<i64>, name: &str, renders: &mut u32) -> Bytes {
        let key = PageKey::new(at, expires, &claims(name));
        home_page("cache|test", key, || {
            *renders += 1;
            Ok::<_, Infallible>(format!("{name} {at} {expires:?}"))
        })
        .unwrap()
    }

    #[test]
    fn another_login_other_claims_or_a_refresh_are_a_miss() {
        let mut renders = 0;
        let first = page(100, Some(1), "Alice", &mut renders);
        assert_eq!(page(100, Some(1), "Alice", &mut renders), first);
        assert_eq!(renders, 1, "the second view is kept");
        assert_eq!(
            page(100, Some(1), "Alicia", &mut renders),
            "Alicia 100 Some(1)"
        );
        assert_eq!(
            page(200, Some(1), "Alicia", &mut renders),
            "Alicia 200 Some(1)"
        );
        assert_eq!(
            page(200, Some(2), "Alicia", &mut renders),
            "Alicia 200 Some(2)"
        );
        assert_eq!(page(200, None, "Alicia", &mut renders), "Alicia 200 None");
        assert_eq!(renders, 5);
    }
}
