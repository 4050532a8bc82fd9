//! Provider (browser) sessions: who is signed in at the IdP itself, independently of any relying
//! party. A session is what makes single sign-on work (a second `/authorize` skips the form) and
//! what a back-channel logout token names with `sid`. In memory only, like the grants.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::grants::lock;
use crate::keys::random_token;

/// The cookie that carries the session ID in the browser.
pub(crate) const COOKIE: &str = "mock_idp_session";

/// Sessions never expire; a test or demo makes a handful. This bound only keeps a runaway loop
/// (a benchmark logging in forever) from eating memory: past it an arbitrary half is dropped,
/// harmless for a test provider whose sessions are cheap to make again.
const MAX_SESSIONS: usize = 100_000;

/// One provider session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// The session ID, published as `sid` in ID and logout tokens.
    pub(crate) sid: String,
    /// Who is signed in.
    pub(crate) username: String,
    /// When they typed their name (Unix seconds): `auth_time` stays this for single sign-on.
    pub(crate) auth_time: u64,
}

/// Every live session, by `sid`.
#[derive(Default)]
pub(crate) struct Sessions {
    by_sid: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a new session for `username` with a fresh random `sid`.
    pub(crate) fn create(&self, username: &str, auth_time: u64) -> Session {
        let session = Session {
            // 128 bits: unguessable, since the sid alone identifies a session to the logout endpoints.
            sid: random_token(16),
            username: username.to_owned(),
            auth_time,
        };
        let mut map = lock(&self.by_sid);
        if map.len() >= MAX_SESSIONS {
            let drop: Vec<String> = map.keys().take(MAX_SESSIONS / 2).cloned().collect();
            for sid in drop {
                map.remove(&sid);
            }
        }
        map.insert(session.sid.clone(), session.clone());
        session
    }

    /// The live session `sid`, if any.
    pub(crate) fn get(&self, sid: &str) -> Option<Session> {
        lock(&self.by_sid).get(sid).cloned()
    }

    /// Ends the session `sid`; returns it if it was live.
    pub(crate) fn end(&self, sid: &str) -> Option<Session> {
        lock(&self.by_sid).remove(sid)
    }

    /// Ends every session of `username`; returns them.
    pub(crate) fn end_all_of(&self, username: &str) -> Vec<Session> {
        let mut map = lock(&self.by_sid);
        let sids: Vec<String> = map
            .values()
            .filter(|s| s.username == username)
            .map(|s| s.sid.clone())
            .collect();
        sids.iter().filter_map(|sid| map.remove(sid)).collect()
    }

    /// The `sid`s of `username`'s live sessions.
    pub(crate) fn sids_of(&self, username: &str) -> Vec<String> {
        lock(&self.by_sid)
            .values()
            .filter(|s| s.username == username)
            .map(|s| s.sid.clone())
            .collect()
    }
}

/// The session ID the browser sent in its `Cookie` header(s), if any.
pub(crate) fn cookie_sid(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for session `sid` (or, with `None`, one that deletes the cookie). Scoped to the
/// issuer's path so two providers under one origin keep apart; `SameSite=Lax` still sends it on
/// the top-level navigation an authorization request is; `Secure` when the issuer is https.
pub(crate) fn set_cookie(path: &str, secure: bool, sid: Option<&str>) -> Option<HeaderValue> {
    let path = if path.is_empty() { "/" } else { path };
    let secure = if secure { "; Secure" } else { "" };
    let value = match sid {
        Some(sid) => format!("{COOKIE}={sid}; Path={path}; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{COOKIE}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
    };
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_find_and_end() {
        let sessions = Sessions::default();
        let a = sessions.create("alice", 1);
        let b = sessions.create("alice", 2);
        assert_ne!(a.sid, b.sid);
        assert_eq!(sessions.get(&a.sid), Some(a.clone()));
        assert_eq!(sessions.end(&a.sid), Some(a.clone()));
        assert_eq!(sessions.get(&a.sid), None);
        sessions.create("bob", 3);
        assert_eq!(sessions.end_all_of("alice"), vec![b]);
        assert!(sessions.sids_of("alice").is_empty());
        assert_eq!(sessions.sids_of("bob").len(), 1);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; mock_idp_session=xyz"),
        );
        assert_eq!(cookie_sid(&headers).as_deref(), Some("xyz"));
        assert_eq!(cookie_sid(&HeaderMap::new()), None);
    }
}
