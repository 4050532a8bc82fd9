//! Generated SVG avatars, so the `picture` claim resolves even offline.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::pages::escape;

/// `GET /avatars/{name}.svg`: a coloured circle with the name's initial. The colour is derived
/// from the name, so each user keeps theirs.
pub(crate) async fn avatar(Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".svg").filter(|n| !n.is_empty()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let hue = u16::from_be_bytes({
        let digest = Sha256::digest(name.as_bytes());
        [digest[0], digest[1]]
    }) % 360;
    let initial: String = name
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"128\" height=\"128\" viewBox=\"0 0 128 128\" \
         role=\"img\" aria-label=\"{label}\">\
         <circle cx=\"64\" cy=\"64\" r=\"64\" fill=\"hsl({hue},55%,45%)\"/>\
         <text x=\"64\" y=\"64\" dy=\".35em\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" \
         font-size=\"64\" font-weight=\"600\" fill=\"#fff\">{initial}</text></svg>",
        label = escape(name),
        initial = escape(&initial),
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            // An SVG opened directly is a document: forbid scripts in it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    )
        .into_response()
}
