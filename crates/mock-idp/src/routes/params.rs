//! `application/x-www-form-urlencoded` parameters (query strings and form bodies) kept as an
//! ordered list, because OAuth forbids repeated parameters and a map would silently hide them.

/// Decoded name/value pairs in their original order.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a query string or form body (percent-escapes and `+`).
    pub(crate) fn parse(input: &[u8]) -> Params {
        Params(url::form_urlencoded::parse(input).into_owned().collect())
    }

    /// The value of `name`, if present (the first, if repeated).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first parameter name that appears more than once (RFC 6749 §3.1: "MUST NOT be included
    /// more than once").
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (name, _))| self.0[..*i].iter().any(|(n, _)| n == name))
            .map(|(_, (name, _))| name.as_str())
    }

    /// Every pair, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_spots_repeats() {
        let p = Params::parse(b"a=1+2&b=%C3%A9&a=3");
        assert_eq!(p.get("a"), Some("1 2"));
        assert_eq!(p.get("b"), Some("é"));
        assert_eq!(p.repeated(), Some("a"));
        assert_eq!(Params::parse(b"x=1&y=2").repeated(), None);
    }
}
