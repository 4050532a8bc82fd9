//! The keys Sesame derives from `APP_SECRET_KEY` (and `APP_SECRET_KEY_PREVIOUS` during a
//! rotation), and the startup check that refuses a guessable one.
//!
//! One secret, several purposes, each with its own derived key, so that a value made for one
//! purpose (a pending-login cookie, a logout form's token) is worthless for another. The session
//! cookie's key stays `SHA-512(secret)`, as before this module existed, so upgrading Sesame logs
//! nobody out.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use tower_sessions::cookie::Key;

/// The compose file's built-in key. It is public (it is in the repository), so it is accepted
/// only with the bundled mock IdP; with a real provider it would let anyone forge cookies.
pub(crate) const PUBLIC_DEMO_KEY: &str = "docker-compose-demo-key-public-do-not-deploy-0123456789";

/// The least estimated entropy a secret key must have.
pub(crate) const MIN_KEY_BITS: f64 = 128.0;

/// The keys derived from one secret.
#[derive(Clone)]
pub(crate) struct KeySet {
    /// Signs the session cookie (tower-sessions' signed cookie).
    pub(crate) session_cookie: Key,
    /// Encrypts and authenticates pending-login cookies (AES-256-GCM, the cookie's name as
    /// associated data).
    pub(crate) pending_login: Key,
    /// Keys the HMAC behind the logout confirmation's CSRF token.
    logout_csrf: [u8; 32],
    /// Seals each session's provider tokens in the store (AES-256-GCM).
    pub(crate) token_seal: [u8; 32],
}

impl KeySet {
    pub(crate) fn derive(secret: &str) -> Self {
        let session_cookie = Key::from(Sha512::digest(secret.as_bytes()).as_slice());
        let pending_login = Key::from(purpose_hash::<Sha512>(secret, "pending-login").as_slice());
        let mut logout_csrf = [0; 32];
        logout_csrf.copy_from_slice(&purpose_hash::<Sha256>(secret, "logout-csrf"));
        let mut token_seal = [0; 32];
        token_seal.copy_from_slice(&purpose_hash::<Sha256>(secret, "token-seal"));
        Self {
            session_cookie,
            pending_login,
            logout_csrf,
            token_seal,
        }
    }

    /// The logout form's token for the session `session_id` (empty without a session): an
    /// HMAC, so only this app can make it and it is good for that session only.
    pub(crate) fn logout_token(&self, session_id: &str) -> String {
        use base64::Engine as _;
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.logout_csrf) else {
            // HMAC takes keys of any length; this cannot happen.
            return String::new();
        };
        mac.update(b"sesame logout\0");
        mac.update(session_id.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The current key set, and the previous one while a key rotation is under way: what the
/// previous key made (session cookies, pending-login cookies) is still accepted, everything new
/// is made with the current one.
#[derive(Clone)]
pub(crate) struct Keys {
    pub(crate) current: KeySet,
    pub(crate) previous: Option<KeySet>,
}

impl Keys {
    pub(crate) fn new(current: &str, previous: Option<&str>) -> Self {
        Self {
            current: KeySet::derive(current),
            previous: previous.map(KeySet::derive),
        }
    }

    /// The current set first, then the previous one.
    pub(crate) fn all(&self) -> impl Iterator<Item = &KeySet> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

/// `H("sesame\0" purpose "\0" secret)`: a key for one purpose. The secret has at least 128 bits
/// of entropy (checked at startup), so one hash is a sound derivation.
fn purpose_hash<D: Digest>(secret: &str, purpose: &str) -> Vec<u8> {
    let mut hasher = D::new();
    hasher.update(b"sesame\0");
    hasher.update(purpose.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret.as_bytes());
    hasher.finalize().to_vec()
}

/// Why `key` is too weak to sign and encrypt with, if it is.
pub(crate) fn weak_key(key: &str) -> Option<String> {
    const HOW: &str = "generate one with `openssl rand -hex 32`";
    if key.len() < 32 {
        return Some(format!(
            "is too short ({} bytes, at least 32): {HOW}",
            key.len()
        ));
    }
    let lowered = key.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| lowered.contains(p)) {
        return Some(format!("looks like a placeholder: {HOW}"));
    }
    let bits = estimated_bits(key);
    (bits < MIN_KEY_BITS).then(|| {
        format!(
            "is too predictable (about {bits:.0} bits of entropy estimated from its repetitions \
             and kinds of characters, at least {MIN_KEY_BITS:.0} needed): {HOW}"
        )
    })
}

/// Values people copy from docs and forget to replace.
const PLACEHOLDERS: [&str; 4] = ["changeme", "change-me", "secret", "your-secret-key"];

/// A conservative estimate of the entropy of `key` in bits.
///
/// The key is cut into tokens, greedily: a run of three or more characters that already occurred
/// earlier (overlaps allowed) is one token, any other character is one. Each token is worth the
/// smaller of two per-character figures: `log2` of the alphabet its kinds of characters span
/// (hex digits, lower case, upper case, digits, the rest of ASCII, anything else), and the
/// Shannon entropy of the key's character frequencies. So `0000…01` is worth about one bit,
/// `passwordpassword…` about 25 (eight letters and a repeat), and 64 random hex digits over 200.
pub(crate) fn estimated_bits(key: &str) -> f64 {
    let chars: Vec<char> = key.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    let tokens = lz_tokens(&chars) as f64;
    tokens * alphabet_bits(&chars).min(shannon_bits(&chars))
}

/// How many tokens a greedy LZ77-style parse of `chars` makes (see [`estimated_bits`]).
fn lz_tokens(chars: &[char]) -> usize {
    const MIN_MATCH: usize = 3;
    let (mut position, mut tokens) = (0, 0);
    while position < chars.len() {
        let longest = (0..position)
            .map(|start| {
                chars[position..]
                    .iter()
                    .zip(&chars[start..])
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(0);
        position += if longest >= MIN_MATCH { longest } else { 1 };
        tokens += 1;
    }
    tokens
}

/// A kind of character: its test, and how many characters it has.
type CharClass = (fn(&char) -> bool, u32);

/// `log2` of the alphabet spanned by the kinds of characters in `chars`.
fn alphabet_bits(chars: &[char]) -> f64 {
    let any = |test: fn(&char) -> bool| chars.iter().any(test);
    let all = |test: fn(&char) -> bool| chars.iter().all(test);
    let one_case = !any(char::is_ascii_uppercase) || !any(char::is_ascii_lowercase);
    let size = if all(char::is_ascii_digit) {
        10
    } else if all(char::is_ascii_hexdigit) && one_case {
        16
    } else {
        let classes: [CharClass; 5] = [
            (char::is_ascii_lowercase, 26),
            (char::is_ascii_uppercase, 26),
            (char::is_ascii_digit, 10),
            (|c| c.is_ascii() && !c.is_ascii_alphanumeric(), 33),
            (|c| !c.is_ascii(), 100),
        ];
        classes
            .iter()
            .filter(|(test, _)| any(*test))
            .map(|(_, size)| size)
            .sum()
    };
    f64::from(size).log2()
}

/// The Shannon entropy per character of `chars`' own character frequencies.
fn shannon_bits(chars: &[char]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in chars {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let total = chars.len() as f64;
    counts
        .values()
        .map(|&count| {
            let p = count as f64 / total;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_keys_pass_and_patterned_ones_do_not() {
        // `openssl rand -hex 32` and `-base64 32` outputs.
        for strong in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            "q4Gk0r8t1Y5mXo2bVbJ9cQ7eL3wZs6PnHa0dFuRiTyE=",
        ] {
            assert!(
                weak_key(strong).is_none(),
                "{strong}: {}",
                estimated_bits(strong)
            );
        }
        let zeros_and_one = format!("{}1", "0".repeat(63));
        for weak in [
            "passwordpasswordpasswordpasswordpasswordpasswordpasswordpassword",
            zeros_and_one.as_str(),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "abcdefghijklmnopqrstuvwxyzabcdef",
            "11111111111111111111111111111111111111",
        ] {
            let why = weak_key(weak).unwrap_or_default();
            assert!(why.contains("predictable"), "{weak}: {why}");
        }
        assert!(estimated_bits(&zeros_and_one) < 2.0);
    }

    #[test]
    fn short_keys_and_placeholders_are_named_as_such() {
        assert!(weak_key("short").unwrap_or_default().contains("too short"));
        let placeholder = weak_key("changeme-changeme-changeme-changeme").unwrap_or_default();
        assert!(placeholder.contains("placeholder"), "{placeholder}");
    }

    #[test]
    fn the_public_demo_key_passes_the_estimate_so_it_needs_its_own_rule() {
        assert!(weak_key(PUBLIC_DEMO_KEY).is_none());
    }

    #[test]
    fn each_purpose_gets_its_own_key() {
        let keys =
            KeySet::derive("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_ne!(keys.session_cookie.master(), keys.pending_login.master());
        assert_ne!(keys.logout_token("a"), keys.logout_token("b"));
        assert_eq!(keys.logout_token("a"), keys.logout_token("a"));
        let other =
            KeySet::derive("3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b");
        assert_ne!(keys.logout_token("a"), other.logout_token("a"));
    }
}
