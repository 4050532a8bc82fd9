//! The stylesheet and the logo: embedded in the binary and served at content-hashed paths
//! (`/static/sesame.<hash>.css`) with a year of immutable caching, so a browser fetches each once
//! and the pages carry only their content.
//!
//! The hash is the first 10 hex digits of the file's SHA-256, computed once at startup. Any other
//! name under `/static/` is a 404: a page from an older release asking for its own stylesheet must
//! not be handed this release's under a year-long `immutable`, which no reload would undo.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::sync::LazyLock;

use crate::PageError;

/// Where the assets are served from.
const PREFIX: &str = "/static/";

/// One embedded file and the name it is served under.
pub(crate) struct Asset {
    /// `stem.<hash>.ext`.
    file_name: String,
    /// `/static/` and the file name: what pages link to.
    path: String,
    content_type: &'static str,
    body: &'static [u8],
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Self {
        let digest = Sha256::digest(body);
        let mut hash = String::with_capacity(10);
        for byte in &digest[..5] {
            // Writing to a String cannot fail.
            let _ = write!(hash, "{byte:02x}");
        }
        let file_name = format!("{stem}.{hash}.{ext}");
        Self {
            path: format!("{PREFIX}{file_name}"),
            file_name,
            content_type,
            body,
        }
    }

    /// The path pages link to, e.g. `/static/sesame.0123456789.css`.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    fn response(&self) -> Response {
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            self.body,
        )
            .into_response()
    }
}

/// Every page's stylesheet (`templates/static/sesame.css`).
pub(crate) static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "sesame",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../../../templates/static/sesame.css"),
    )
});

/// The header's logo (`templates/static/logo.svg`).
pub(crate) static LOGO: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "logo",
        "svg",
        "image/svg+xml",
        include_bytes!("../../../templates/static/logo.svg"),
    )
});

/// `GET /static/{file}`: no session, no state; mounted outside the session layer.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{PREFIX}{{file}}"), get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    [&*STYLESHEET, &*LOGO]
        .into_iter()
        .find(|asset| asset.file_name == file)
        .map_or_else(|| PageError::NotFound.into_response(), Asset::response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_content() {
        let css = STYLESHEET.path();
        assert!(
            css.starts_with("/static/sesame.") && css.ends_with(".css"),
            "{css}"
        );
        let hash = &css["/static/sesame.".len()..css.len() - ".css".len()];
        assert_eq!(hash.len(), 10);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(LOGO.path().starts_with("/static/logo.") && LOGO.path().ends_with(".svg"));
    }

    #[test]
    fn the_stylesheet_has_a_rule_for_every_digit_of_the_hue() {
        let css = std::str::from_utf8(STYLESHEET.body).unwrap();
        let tens = (0..36).map(|t| format!(".avatar[data-hue^=\"{t:02}\"] {{ --hue-tens: {t}; }}"));
        let ones = (0..10).map(|o| format!(".avatar[data-hue$=\"{o}\"] {{ --hue-ones: {o}; }}"));
        for rule in tens.chain(ones) {
            assert!(css.contains(&rule), "missing {rule}");
        }
        assert!(
            !css.contains("{%") && !css.contains("{#"),
            "template syntax left in the CSS"
        );
    }
}
