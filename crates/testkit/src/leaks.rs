//! Finding a token where none may be: in a page, a log line or a store's bytes.
//!
//! A JSON Web Token is base64url segments joined by dots, and its header and payload are JSON
//! objects, so both begin `eyJ` (base64 of `{"`). Looking for `eyJ` alone is not enough to call
//! something a leak: three base64 characters turn up by chance in any random identifier or
//! ciphertext (about once in 260,000 base64 positions, once in 16 million random bytes), which
//! made a store check fail once in CI on nothing but a sealed record. A header, a dot and a
//! payload together (`eyJ…​.eyJ`) do not turn up by chance, and every leaked JWT has them.

/// The first JWT-shaped text in `text` (header and the start of the payload), if any.
pub fn find_jwt(text: &str) -> Option<&str> {
    let is_base64url = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_');
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = text[from..].find("eyJ") {
        let header = from + offset;
        let header_len = bytes[header..]
            .iter()
            .take_while(|b| is_base64url(b))
            .count();
        let dot = header + header_len;
        if bytes.get(dot) == Some(&b'.') && bytes[dot + 1..].starts_with(b"eyJ") {
            return Some(&text[header..dot + 4]);
        }
        from = header + 3;
    }
    None
}

/// Panics, saying `what`, if `text` holds a JWT; shows only its start (the header is public).
pub fn assert_no_jwt(text: &str, what: &str) {
    if let Some(found) = find_jwt(text) {
        let start: String = found.chars().take(24).collect();
        panic!("{what}: a JWT is readable in it (starting `{start}…`)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_jwt_anywhere() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        assert_eq!(find_jwt(token), Some("eyJhbGciOiJSUzI1NiJ9.eyJ"));
        let in_a_page = format!("<a href=\"/logout?id_token_hint={token}\">");
        assert!(find_jwt(&in_a_page).is_some());
        let glued = format!("xeyJzzz{token}");
        assert!(find_jwt(&glued).is_some(), "a false start does not hide it");
    }

    #[test]
    fn chance_base64_is_not_a_jwt() {
        for text in [
            "",
            "eyJ",
            "session id q8eyJ-Zk1a_Pq",
            "eyJhbGciOiJSUzI1NiJ9.",
            "eyJhbGciOiJSUzI1NiJ9.abc.def",
            "eyJ.\\344eyJ",
            "eyJhbGci eyJzdWIi",
        ] {
            assert_eq!(find_jwt(text), None, "{text}");
        }
    }

    #[test]
    #[should_panic(expected = "the page: a JWT is readable in it")]
    fn the_assertion_names_what_leaked() {
        assert_no_jwt("x eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0. y", "the page");
    }
}
