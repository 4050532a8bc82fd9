//! The ways a single login can be told to go wrong, so a relying party's checks are exercised
//! against a live provider. Chosen per login (stored with the code), so parallel tests can share
//! one provider.

use std::fmt;
use std::str::FromStr;

/// One way for a login to misbehave. Spelled in kebab-case on the wire (`mock_misbehave=wrong-iss`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// Behave correctly.
    #[default]
    None,
    /// ID token `iss` is not this provider.
    WrongIss,
    /// ID token `aud` (and `azp`) name another client.
    WrongAud,
    /// ID token has no `aud`.
    MissingAud,
    /// ID token has no `sub`.
    MissingSub,
    /// ID token has no `iat`.
    MissingIat,
    /// ID token expired an hour ago.
    Expired,
    /// ID token issued an hour in the future (and expires after that).
    IatFuture,
    /// ID token signature bytes are flipped.
    BadSignature,
    /// ID token header says `alg: none` and the signature is empty.
    AlgNone,
    /// ID token signed by a key whose `kid` is not in the JWKS.
    UnknownKey,
    /// ID token header has no `kid` (signed by the first key).
    NoKid,
    /// ID token `nonce` differs from the one sent.
    WrongNonce,
    /// ID token has no `nonce`.
    MissingNonce,
    /// ID token `at_hash` does not match the access token.
    WrongAtHash,
    /// Userinfo answers with a different `sub` than the ID token.
    UserinfoSubMismatch,
    /// Token endpoint answers 500 with a text body.
    TokenError500,
    /// Token endpoint answers 200 with a body that is not JSON.
    TokenInvalidJson,
    /// Token endpoint waits 30 seconds before answering.
    TokenSlow,
    /// Authorization is refused: the redirect carries `error=access_denied` and a hostile description.
    AccessDenied,
    /// The `sub` (in the ID token and userinfo alike) carries a newline and a fake log line, as
    /// a hostile provider or a compromised account field could: an RP that logs it unescaped
    /// lets it forge log entries.
    LogForgingSub,
    /// The token endpoint refuses with an OAuth `error` code holding a newline and a fake log
    /// line: an RP that logs the refusal unescaped lets it forge log entries.
    TokenErrorForgedLine,
    /// The login behaves, but every refresh of it answers with an ID token for another `sub`:
    /// an RP must check a refreshed ID token describes the same login (OIDC Core §12.2).
    RefreshOtherSubject,
}

/// The `sub` of [`Misbehaviour::LogForgingSub`]: the username's, then a line that looks like
/// the RP's own log.
pub const LOG_FORGING_LINE: &str =
    "2026-01-01T00:00:00Z  INFO sesame: user logged in subject=\"admin\"";

impl Misbehaviour {
    /// Every value, `None` first (the order of the demo form's menu).
    pub const ALL: [Misbehaviour; 23] = [
        Misbehaviour::None,
        Misbehaviour::WrongIss,
        Misbehaviour::WrongAud,
        Misbehaviour::MissingAud,
        Misbehaviour::MissingSub,
        Misbehaviour::MissingIat,
        Misbehaviour::Expired,
        Misbehaviour::IatFuture,
        Misbehaviour::BadSignature,
        Misbehaviour::AlgNone,
        Misbehaviour::UnknownKey,
        Misbehaviour::NoKid,
        Misbehaviour::WrongNonce,
        Misbehaviour::MissingNonce,
        Misbehaviour::WrongAtHash,
        Misbehaviour::UserinfoSubMismatch,
        Misbehaviour::TokenError500,
        Misbehaviour::TokenInvalidJson,
        Misbehaviour::TokenSlow,
        Misbehaviour::AccessDenied,
        Misbehaviour::LogForgingSub,
        Misbehaviour::TokenErrorForgedLine,
        Misbehaviour::RefreshOtherSubject,
    ];

    /// The kebab-case name used in `mock_misbehave`.
    pub fn as_str(self) -> &'static str {
        match self {
            Misbehaviour::None => "none",
            Misbehaviour::WrongIss => "wrong-iss",
            Misbehaviour::WrongAud => "wrong-aud",
            Misbehaviour::MissingAud => "missing-aud",
            Misbehaviour::MissingSub => "missing-sub",
            Misbehaviour::MissingIat => "missing-iat",
            Misbehaviour::Expired => "expired",
            Misbehaviour::IatFuture => "iat-future",
            Misbehaviour::BadSignature => "bad-signature",
            Misbehaviour::AlgNone => "alg-none",
            Misbehaviour::UnknownKey => "unknown-key",
            Misbehaviour::NoKid => "no-kid",
            Misbehaviour::WrongNonce => "wrong-nonce",
            Misbehaviour::MissingNonce => "missing-nonce",
            Misbehaviour::WrongAtHash => "wrong-at-hash",
            Misbehaviour::UserinfoSubMismatch => "userinfo-sub-mismatch",
            Misbehaviour::TokenError500 => "token-error-500",
            Misbehaviour::TokenInvalidJson => "token-invalid-json",
            Misbehaviour::TokenSlow => "token-slow",
            Misbehaviour::AccessDenied => "access-denied",
            Misbehaviour::LogForgingSub => "log-forging-sub",
            Misbehaviour::TokenErrorForgedLine => "token-error-forged-line",
            Misbehaviour::RefreshOtherSubject => "refresh-other-subject",
        }
    }

    /// A short human description, shown in the demo form.
    pub fn description(self) -> &'static str {
        match self {
            Misbehaviour::None => "behave correctly",
            Misbehaviour::WrongIss => "ID token iss is another issuer",
            Misbehaviour::WrongAud => "ID token aud is another client",
            Misbehaviour::MissingAud => "ID token without aud",
            Misbehaviour::MissingSub => "ID token without sub",
            Misbehaviour::MissingIat => "ID token without iat",
            Misbehaviour::Expired => "ID token expired an hour ago",
            Misbehaviour::IatFuture => "ID token issued an hour from now",
            Misbehaviour::BadSignature => "ID token signature corrupted",
            Misbehaviour::AlgNone => "ID token unsigned (alg none)",
            Misbehaviour::UnknownKey => "ID token signed by a key not in the JWKS",
            Misbehaviour::NoKid => "ID token header without kid",
            Misbehaviour::WrongNonce => "ID token nonce differs",
            Misbehaviour::MissingNonce => "ID token without nonce",
            Misbehaviour::WrongAtHash => "ID token at_hash does not match",
            Misbehaviour::UserinfoSubMismatch => "userinfo returns another sub",
            Misbehaviour::TokenError500 => "token endpoint answers 500",
            Misbehaviour::TokenInvalidJson => "token endpoint answers non-JSON",
            Misbehaviour::TokenSlow => "token endpoint waits 30 s",
            Misbehaviour::AccessDenied => "login refused (error=access_denied)",
            Misbehaviour::LogForgingSub => "sub with a newline and a fake log line",
            Misbehaviour::TokenErrorForgedLine => "token error code with a fake log line",
            Misbehaviour::RefreshOtherSubject => "refreshed ID tokens name another sub",
        }
    }
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unrecognised `mock_misbehave` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown misbehaviour {0:?}")]
pub struct UnknownMisbehaviour(pub String);

impl FromStr for Misbehaviour {
    type Err = UnknownMisbehaviour;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Misbehaviour::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMisbehaviour(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for m in Misbehaviour::ALL {
            assert_eq!(m.to_string().parse::<Misbehaviour>(), Ok(m));
        }
        let mut names: Vec<_> = Misbehaviour::ALL.iter().map(|m| m.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Misbehaviour::ALL.len());
        assert!("nope".parse::<Misbehaviour>().is_err());
    }
}
