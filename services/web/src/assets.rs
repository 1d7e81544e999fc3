//! The files every page loads, embedded in the binary: the style sheet, the call
//! bar's script, htmx 2.0.11 (0BSD, vendored from the npm package `htmx.org`) and
//! Sortable 1.15.7 (MIT, from the npm package `sortablejs`, for the board's drag and
//! drop), each with its licence beside it in `assets/`. Each is served at
//! `/assets/<first 12 hex digits of its sha256>/<name>` and cached for a year: a new
//! build that changes a file changes its address, and an old address is not found.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    content_type: &'static str,
    pub body: &'static [u8],
    /// Where pages load it from.
    pub path: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        let digest = Sha256::digest(body);
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Asset {
            name,
            content_type,
            body,
            path: format!("/assets/{hex}/{name}"),
        }
    }
}

/// The files, by the name pages use.
pub struct Assets {
    pub style: Asset,
    pub app: Asset,
    pub htmx: Asset,
    pub sortable: Asset,
}

pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    style: Asset::new(
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    app: Asset::new(
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    htmx: Asset::new(
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx-2.0.11.min.js"),
    ),
    sortable: Asset::new(
        "sortable.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/sortable-1.15.7.min.js"),
    ),
});

impl Assets {
    fn all(&self) -> [&Asset; 4] {
        [&self.style, &self.app, &self.htmx, &self.sortable]
    }
}

/// `GET /assets/{version}/{name}`.
pub async fn serve(Path((version, name)): Path<(String, String)>) -> Response {
    let path = format!("/assets/{version}/{name}");
    let Some(asset) = ASSETS.all().into_iter().find(|a| a.path == path) else {
        // Another build's file (a rolling update): not cached, so a retry reaches a
        // replica that has it.
        return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")]).into_response();
    };
    let headers = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn the_vendored_htmx_is_the_published_2_0_11() {
        // `npm pack htmx.org@2.0.11`, `package/dist/htmx.min.js`.
        assert_eq!(
            sha256(ASSETS.htmx.body),
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
        );
        let licence = include_str!("../assets/htmx-LICENSE");
        assert!(licence.starts_with("Zero-Clause BSD"), "{licence:.40}");
    }

    #[test]
    fn the_vendored_sortable_is_the_published_1_15_7() {
        // `npm pack sortablejs@1.15.7`, `package/Sortable.min.js`.
        assert_eq!(
            sha256(ASSETS.sortable.body),
            "bf4241bc73fef7f11c59a283a69fe8051cdd31c6d8ff5a2b9ba219e7831fcf76"
        );
        let licence = include_str!("../assets/sortable-LICENSE");
        assert!(licence.starts_with("MIT License"), "{licence:.40}");
    }

    #[test]
    fn each_file_has_its_own_versioned_address() {
        let paths: Vec<&str> = ASSETS.all().iter().map(|a| a.path.as_str()).collect();
        for (path, asset) in paths.iter().zip(ASSETS.all()) {
            assert!(path.ends_with(&format!("/{}", asset.name)), "{path}");
            assert_eq!(path.len(), "/assets/".len() + 12 + 1 + asset.name.len());
        }
    }
}
