//! Pending logins in cookies: what `/login` remembers for `/callback`, kept by the browser so that
//! a visitor who has not logged in costs the server nothing durable.
//!
//! One cookie per pending login, so logins started in several tabs at once never overwrite each
//! other (a shared record would lose all but the last write). Each is named from a hash of its
//! `state` (the callback finds its own without trying the others), sealed with AES-256-GCM under
//! a key derived from `APP_SECRET_KEY` with the cookie's name as associated data (secret, and
//! worthless under any other name), HttpOnly, `SameSite=Lax` (the provider's redirect back is a
//! cross-site navigation), and gone after the login timeout. At most [`MAX_PENDING`] are kept.

use crate::keys::Keys;
use crate::session_cookie::with_app_attributes;
use axum::http::{HeaderMap, HeaderValue, header};
use sesame_auth::PendingLogin;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tower_sessions::cookie::{Cookie, CookieJar};

/// How many logins one browser may have pending; starting another drops the oldest.
pub(crate) const MAX_PENDING: usize = 4;

/// Reads and writes the pending-login cookies of one app.
pub(crate) struct PendingCookies<'a> {
    pub(crate) keys: &'a Keys,
    /// `{session cookie's name}_login_`, with `__Host-` over https.
    pub(crate) prefix: &'a str,
    pub(crate) https: bool,
    pub(crate) lifetime: Duration,
}

impl PendingCookies<'_> {
    /// The cookie that holds the pending login for `state`.
    pub(crate) fn name_for(&self, state: &str) -> String {
        let digest = Sha256::digest(state.as_bytes());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{hex}", self.prefix)
    }

    /// The pending login for `state` that this request carries, if its cookie opens with one of
    /// our keys and really is that state's (not a cookie copied to another name: the name is
    /// sealed in).
    pub(crate) fn find(&self, headers: &HeaderMap, state: &str) -> Option<PendingLogin> {
        let name = self.name_for(state);
        let cookie = request_cookies(headers).find(|cookie| cookie.name() == name)?;
        self.open(cookie)
            .filter(|pending| pending.matches_state(state))
    }

    /// Every pending-login cookie the request carries, with what it holds (`None` when it does
    /// not open: another key, tampered, or not ours).
    pub(crate) fn all(&self, headers: &HeaderMap) -> Vec<(String, Option<PendingLogin>)> {
        request_cookies(headers)
            .filter(|cookie| cookie.name().starts_with(self.prefix))
            .map(|cookie| (cookie.name().to_owned(), self.open(cookie)))
            .collect()
    }

    /// The `Set-Cookie` that stores `pending`.
    pub(crate) fn seal(&self, pending: &PendingLogin) -> Option<HeaderValue> {
        let name = self.name_for(pending.state().expose());
        let json = serde_json::to_string(pending).ok()?;
        let mut jar = CookieJar::new();
        jar.private_mut(&self.keys.current.pending_login)
            .add(self.attributes(Cookie::new(name.clone(), json)));
        let sealed = jar.get(&name)?;
        HeaderValue::from_str(&sealed.to_string()).ok()
    }

    /// The `Set-Cookie` that deletes the cookie `name`.
    pub(crate) fn removal(&self, name: &str) -> Option<HeaderValue> {
        let mut cookie = self.attributes(Cookie::new(name.to_owned(), ""));
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// `Set-Cookie`s that make room for one more pending login: unreadable and timed-out
    /// cookies go, and the oldest beyond [`MAX_PENDING`]` - 1`.
    pub(crate) fn make_room(&self, headers: &HeaderMap) -> Vec<HeaderValue> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let (mut live, dead): (Vec<_>, Vec<_>) = self
            .all(headers)
            .into_iter()
            .map(|(name, pending)| {
                let started = pending
                    .map(|pending| pending.started_at)
                    .filter(|started| now.saturating_sub(*started) <= lifetime);
                (name, started)
            })
            .partition(|(_, started)| started.is_some());
        live.sort_by_key(|(_, started)| std::cmp::Reverse(*started));
        let excess = live.split_off(live.len().min(MAX_PENDING - 1));
        dead.into_iter()
            .chain(excess)
            .filter_map(|(name, _)| self.removal(&name))
            .collect()
    }

    fn open(&self, cookie: Cookie<'static>) -> Option<PendingLogin> {
        self.keys.all().find_map(|keys| {
            let mut jar = CookieJar::new();
            jar.add_original(cookie.clone());
            let opened = jar.private(&keys.pending_login).get(cookie.name())?;
            serde_json::from_str(opened.value()).ok()
        })
    }

    fn attributes(&self, cookie: Cookie<'static>) -> Cookie<'static> {
        // `Path=/`, not the callback's path: `/login` must see the others to keep at most four.
        // They exist only while a login is pending.
        let mut cookie = with_app_attributes(cookie, self.https);
        cookie.set_max_age(time::Duration::try_from(self.lifetime).ok());
        cookie
    }
}

/// The cookies of a request, from every `Cookie` header; unparsable ones are skipped.
fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = Cookie<'static>> + '_ {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value.to_owned()))
        .filter_map(Result::ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const OLD_KEY: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

    fn pending(state: &str, started_at: i64) -> PendingLogin {
        serde_json::from_value(serde_json::json!({
            "state": state, "nonce": "n", "pkce_verifier": "v",
            "return_to": format!("/{state}"), "started_at": started_at,
        }))
        .unwrap_or_else(|err| panic!("{err}"))
    }

    fn cookies<'a>(keys: &'a Keys) -> PendingCookies<'a> {
        PendingCookies {
            keys,
            prefix: "sesame_login_",
            https: false,
            lifetime: Duration::from_secs(900),
        }
    }

    /// The `Set-Cookie` for a login to `state` started just now.
    fn sealed(cookies: &PendingCookies<'_>, state: &str) -> HeaderValue {
        let now = chrono::Utc::now().timestamp();
        cookies
            .seal(&pending(state, now))
            .unwrap_or_else(|| panic!("sealing {state}"))
    }

    /// The request a browser sends back with the cookies `set` stored.
    fn request_with(set: &[HeaderValue]) -> HeaderMap {
        let pairs: Vec<_> = set
            .iter()
            .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect();
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&pairs.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
        headers
    }

    #[test]
    fn a_sealed_login_opens_only_for_its_own_state_and_hides_its_secrets() {
        let keys = Keys::new(KEY, None);
        let cookies = cookies(&keys);
        let set = sealed(&cookies, "state-a");
        let text = set.to_str().unwrap_or_default();
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900"] {
            assert!(text.contains(flag), "{flag}: {text}");
        }
        assert!(
            !text.contains("state-a") && !text.contains("/state-a"),
            "{text}"
        );
        let request = request_with(&[set]);
        let found = cookies.find(&request, "state-a").map(|p| p.return_to);
        assert_eq!(found.as_deref(), Some("/state-a"));
        assert!(cookies.find(&request, "state-b").is_none());
    }

    #[test]
    fn a_cookie_renamed_or_sealed_with_another_key_does_not_open() {
        let keys = Keys::new(KEY, None);
        let cookies = cookies(&keys);
        let set = sealed(&cookies, "state-a");
        let value = set
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default();
        let renamed = value.replacen(&cookies.name_for("state-a"), &cookies.name_for("b"), 1);
        let request = request_with(&[HeaderValue::from_str(&renamed).unwrap_or_else(|_| panic!())]);
        assert!(
            cookies.find(&request, "b").is_none(),
            "the name is sealed in"
        );

        let other = Keys::new(OLD_KEY, None);
        assert!(
            super::PendingCookies {
                keys: &other,
                ..cookies
            }
            .find(&request_with(&[set]), "state-a")
            .is_none()
        );
    }

    #[test]
    fn the_previous_key_still_opens_what_it_sealed() {
        let old = Keys::new(OLD_KEY, None);
        let now = chrono::Utc::now().timestamp();
        let set = cookies(&old)
            .seal(&pending("s", now))
            .unwrap_or_else(|| panic!());
        let rotated = Keys::new(KEY, Some(OLD_KEY));
        assert!(
            cookies(&rotated)
                .find(&request_with(std::slice::from_ref(&set)), "s")
                .is_some()
        );
        let without_previous = Keys::new(KEY, None);
        assert!(
            cookies(&without_previous)
                .find(&request_with(&[set]), "s")
                .is_none()
        );
    }

    #[test]
    fn making_room_drops_the_oldest_and_the_unreadable() {
        let keys = Keys::new(KEY, None);
        let cookies = cookies(&keys);
        let now = chrono::Utc::now().timestamp();
        let mut set: Vec<_> = (0..4)
            .filter_map(|i| cookies.seal(&pending(&format!("s{i}"), now - 10 + i)))
            .collect();
        set.push(HeaderValue::from_static("sesame_login_junk=junk"));
        let removed: Vec<String> = cookies
            .make_room(&request_with(&set))
            .iter()
            .map(|value| value.to_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(removed.iter().any(|c| c.starts_with("sesame_login_junk=")));
        assert!(
            removed
                .iter()
                .any(|c| c.starts_with(&cookies.name_for("s0"))),
            "the oldest"
        );
    }
}
