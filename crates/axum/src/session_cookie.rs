//! The session cookie: found in a request's `Cookie` headers and checked, then issued or
//! removed with `Set-Cookie`.
//!
//! It holds only the session's ID, signed: the standard base64 of the HMAC-SHA256 of the ID
//! under the session-cookie key (44 characters), then the ID. That is the `cookie` crate's
//! signed format, which tower-sessions' signed layer wrote when it read the cookie for Sesame,
//! so cookies issued then stay valid. Reading it here costs one HMAC of 22 bytes under a key
//! prepared once; tower-sessions parsed every cookie of the request into a jar and keyed a new
//! HMAC for each read.

use crate::keys::Keys;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use tower_sessions::Expiry;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::session::Id;

type CookieMac = Hmac<Sha256>;

/// Length of the signature in front of the ID: standard base64 of 32 bytes.
const SIGNATURE_LEN: usize = 44;

/// Reads and writes one app's session cookie.
#[derive(Clone)]
pub(crate) struct SessionCookie {
    name: String,
    https: bool,
    /// The MAC keyed with the current key; cloned for each use, so the key's padding blocks are
    /// hashed once, not per request.
    current: CookieMac,
    /// During a key rotation, the previous key's: cookies it signed are still accepted (the
    /// next `Set-Cookie` for the session is signed with the current one).
    previous: Option<CookieMac>,
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookie")
            .field("name", &self.name)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl SessionCookie {
    pub(crate) fn new(name: &str, https: bool, keys: &Keys) -> Self {
        let mac = |key: &tower_sessions::cookie::Key| {
            // HMAC takes a key of any length; this cannot fail.
            CookieMac::new_from_slice(key.signing()).unwrap_or_else(|_| unreachable!())
        };
        Self {
            name: name.to_owned(),
            https,
            current: mac(&keys.current.session_cookie),
            previous: keys.previous.as_ref().map(|keys| mac(&keys.session_cookie)),
        }
    }

    /// The session ID of the first cookie of this name, in any of the request's `Cookie`
    /// headers, that is signed with one of our keys. Others of the name (tossed by a sibling
    /// domain, or left from an older key) are passed over rather than ending the search.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<Id> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .filter(|(name, _)| name.trim() == self.name)
            .find_map(|(_, value)| self.verify(value.trim()))
    }

    /// The ID a signed value carries, if the signature is one of our keys'.
    fn verify(&self, value: &str) -> Option<Id> {
        if !value.is_char_boundary(SIGNATURE_LEN) {
            return None;
        }
        let (signature, id) = value.split_at(SIGNATURE_LEN);
        let mut tag = [0u8; 33];
        let tag = match STANDARD.decode_slice(signature, &mut tag) {
            Ok(32) => &tag[..32],
            _ => return None,
        };
        // `verify_slice` compares in constant time.
        let signed_with = |mac: &CookieMac| Self::tag(mac, id).verify_slice(tag).is_ok();
        let signed = signed_with(&self.current) || self.previous.as_ref().is_some_and(signed_with);
        signed.then(|| id.parse().ok()).flatten()
    }

    /// The `Set-Cookie` that gives the browser session `id`, signed with the current key, for
    /// as long as `expiry` says.
    pub(crate) fn issue(&self, id: Id, expiry: Option<Expiry>) -> Option<HeaderValue> {
        let id = id.to_string();
        let mut value = STANDARD.encode(Self::tag(&self.current, &id).finalize().into_bytes());
        value.push_str(&id);
        let mut cookie = self.attributes(Cookie::new(self.name.clone(), value));
        cookie.set_max_age(match expiry {
            Some(Expiry::OnInactivity(idle)) => Some(idle),
            Some(Expiry::AtDateTime(end)) => Some(end - OffsetDateTime::now_utc()),
            Some(Expiry::OnSessionEnd) | None => None,
        });
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// The `Set-Cookie` that deletes the session cookie. With the attributes it was set with:
    /// a browser ignores a `__Host-` cookie's removal that is not `Secure` with `Path=/`.
    pub(crate) fn removal(&self) -> Option<HeaderValue> {
        let mut cookie = self.attributes(Cookie::new(self.name.clone(), ""));
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    fn attributes(&self, cookie: Cookie<'static>) -> Cookie<'static> {
        with_app_attributes(cookie, self.https)
    }

    /// `mac`'s HMAC of `id`.
    fn tag(mac: &CookieMac, id: &str) -> CookieMac {
        let mut mac = mac.clone();
        mac.update(id.as_bytes());
        mac
    }
}

/// The attributes every cookie Sesame sets shares (the session's and the pending logins'):
/// HttpOnly, `Secure` over https, `SameSite=Lax` (not `Strict`: the provider's redirect back is
/// a cross-site navigation, which would arrive without the cookie), and `Path=/` (`__Host-`
/// requires it, and a login under a prefix must cover the whole app).
pub(crate) fn with_app_attributes(mut cookie: Cookie<'static>, https: bool) -> Cookie<'static> {
    cookie.set_http_only(true);
    cookie.set_secure(https);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_sessions::cookie::CookieJar;

    const KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const OLD_KEY: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

    fn cookie(keys: &Keys) -> SessionCookie {
        SessionCookie::new("sesame", false, keys)
    }

    /// A request carrying `cookie_header` as its `Cookie` header.
    fn request(cookie_header: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie_header).unwrap(),
        );
        headers
    }

    /// The `name=value` pair a browser sends back for a `Set-Cookie`.
    fn pair(set_cookie: &HeaderValue) -> String {
        let text = set_cookie.to_str().unwrap();
        text.split(';').next().unwrap().to_owned()
    }

    /// What the `cookie` crate's signed jar, as tower-sessions used it, writes for `id`.
    fn signed_by_the_cookie_crate(keys: &Keys, id: Id) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(&keys.current.session_cookie)
            .add(Cookie::new("sesame", id.to_string()));
        jar.get("sesame").unwrap().value().to_owned()
    }

    #[test]
    fn an_issued_cookie_reads_back_and_matches_the_cookie_crates_signed_format() {
        let keys = Keys::new(KEY, None);
        let cookie = cookie(&keys);
        let id = Id::default();
        let issued = cookie.issue(id, None).unwrap();
        assert_eq!(cookie.read(&request(&pair(&issued))), Some(id));
        assert_eq!(
            pair(&issued),
            format!("sesame={}", signed_by_the_cookie_crate(&keys, id)),
            "cookies issued before Sesame read them itself stay valid"
        );
    }

    #[test]
    fn a_cookie_is_found_among_others_and_in_a_second_header() {
        let cookie = cookie(&Keys::new(KEY, None));
        let id = Id::default();
        let pair = pair(&cookie.issue(id, None).unwrap());
        let mut headers = request("theme=dark; other=1");
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b;{pair} ;c=d")).unwrap(),
        );
        assert_eq!(cookie.read(&headers), Some(id));
    }

    #[test]
    fn tampered_foreign_or_malformed_cookies_carry_no_session() {
        let keys = Keys::new(KEY, None);
        let cookie = cookie(&keys);
        let id = Id::default();
        let good = pair(&cookie.issue(id, None).unwrap());
        let value = good.strip_prefix("sesame=").unwrap();
        let other_id = Id::default().to_string();
        let swapped = format!("sesame={}{other_id}", &value[..SIGNATURE_LEN]);
        let old = Keys::new(OLD_KEY, None);
        let foreign = pair(
            &SessionCookie::new("sesame", false, &old)
                .issue(id, None)
                .unwrap(),
        );
        for bad in [
            swapped.as_str(),
            foreign.as_str(),
            "sesame=",
            "sesame=short",
            "sesame=é",
            &format!("sesame={}", &value[..SIGNATURE_LEN]),
            &format!("other={value}"),
            &format!("sesame={}x{}", &value[..43], &value[44..]),
        ] {
            assert_eq!(cookie.read(&request(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_first_genuine_cookie_of_the_name_wins_over_a_forged_one() {
        let cookie = cookie(&Keys::new(KEY, None));
        let id = Id::default();
        let genuine = pair(&cookie.issue(id, None).unwrap());
        let forged = format!("sesame={}{}", "A".repeat(43) + "=", Id::default());
        assert_eq!(
            cookie.read(&request(&format!("{forged}; {genuine}"))),
            Some(id)
        );
    }

    #[test]
    fn during_a_rotation_the_previous_keys_cookies_still_read() {
        let old = cookie(&Keys::new(OLD_KEY, None));
        let id = Id::default();
        let before = pair(&old.issue(id, None).unwrap());
        let rotating = cookie(&Keys::new(KEY, Some(OLD_KEY)));
        assert_eq!(rotating.read(&request(&before)), Some(id));
        let reissued = pair(&rotating.issue(id, None).unwrap());
        assert_eq!(
            cookie(&Keys::new(KEY, None)).read(&request(&reissued)),
            Some(id)
        );
        assert_eq!(cookie(&Keys::new(KEY, None)).read(&request(&before)), None);
    }

    #[test]
    fn attributes_lifetime_and_removal() {
        let keys = Keys::new(KEY, None);
        let plain = cookie(&keys);
        let idle = time::Duration::hours(1);
        let issued = plain.issue(Id::default(), Some(Expiry::OnInactivity(idle)));
        let issued = issued.unwrap().to_str().unwrap().to_owned();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
            assert!(issued.contains(attribute), "{attribute}: {issued}");
        }
        assert!(!issued.contains("Secure"), "{issued}");
        let capped = Expiry::AtDateTime(OffsetDateTime::now_utc() + time::Duration::minutes(10));
        let capped = plain.issue(Id::default(), Some(capped)).unwrap();
        let capped = capped.to_str().unwrap();
        let max_age: i64 = capped
            .split("Max-Age=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|seconds| seconds.parse().ok())
            .unwrap_or_else(|| panic!("no Max-Age: {capped}"));
        assert!((598..=600).contains(&max_age), "{capped}");

        let https = SessionCookie::new("__Host-sesame", true, &keys);
        let removal = https.removal().unwrap().to_str().unwrap().to_owned();
        for attribute in [
            "__Host-sesame=;",
            "Secure",
            "Path=/",
            "Max-Age=0",
            "Expires=",
        ] {
            assert!(removal.contains(attribute), "{attribute}: {removal}");
        }
    }
}
