//! The files the pages load, compiled into the binary (`include_bytes!`): no CDN, no build step,
//! nothing read from disk at run time.
//!
//! Every file is answered with its content type, `X-Content-Type-Options: nosniff`, a strong
//! `ETag` (length and CRC-32C of the bytes, so it changes exactly when the file does) and
//! `Cache-Control: no-cache`: browsers keep a copy and revalidate it, getting `304 Not Modified`
//! while the binary is unchanged, so a new release is never mixed with stale modules.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// The path under `/assets/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            content_type: $ct,
            bytes: include_bytes!(concat!("assets/", $path)),
        }
    };
}

/// The storefront page (`/`).
pub static STOREFRONT: Asset = asset!("index.html", HTML);
/// The seller pages (`/seller`).
pub static SELLER: Asset = asset!("seller.html", HTML);
/// The operator console (`/console`).
pub static CONSOLE: Asset = asset!("console.html", HTML);

/// The Swagger UI page (`/swagger-ui`).
pub static SWAGGER_UI: Asset = asset!("swagger-ui.html", HTML);

/// Everything under `/assets/`.
pub static ASSETS: &[Asset] = &[
    asset!("css/app.css", CSS),
    asset!("js/api.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/session.js", JS),
    asset!("js/clock.js", JS),
    asset!("js/live.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/store.js", JS),
    asset!("js/account.js", JS),
    asset!("js/shop.js", JS),
    asset!("js/panel.js", JS),
    asset!("js/seller.js", JS),
    asset!("js/console.js", JS),
    asset!("js/swagger-init.js", JS),
    asset!("img/logo.svg", SVG),
    asset!("img/product.svg", SVG),
    asset!("vendor/swagger-ui/swagger-ui-bundle.js", JS),
    asset!("vendor/swagger-ui/swagger-ui.css", CSS),
    asset!("vendor/swagger-ui/LICENSE", TEXT),
    asset!("vendor/swagger-ui/NOTICE", TEXT),
    asset!("vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt", TEXT),
];

/// The ETag of each page and asset, computed once.
static ETAGS: LazyLock<Vec<(&'static str, HeaderValue)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .chain([&STOREFRONT, &SELLER, &CONSOLE, &SWAGGER_UI])
        .map(|a| (a.path, etag_of(a.bytes)))
        .collect()
});

fn etag_of(bytes: &[u8]) -> HeaderValue {
    let tag = format!("\"{:x}-{:08x}\"", bytes.len(), crc32c::crc32c(bytes));
    HeaderValue::from_str(&tag).expect("an ETag is ASCII")
}

/// The asset at `path` (relative to `/assets/`).
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The Content-Security-Policy of the pages: everything from this origin only, except product
/// images (sellers give them as URLs anywhere). Inline styles are allowed for Swagger UI, which
/// sets `style` attributes; no inline or remote script runs.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' https: http: data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// Answer `asset`: `304` when the browser's copy is current, the bytes otherwise.
pub fn respond(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = ETAGS
        .iter()
        .find(|(p, _)| *p == asset.path)
        .map(|(_, e)| e.clone())
        .unwrap_or_else(|| etag_of(asset.bytes));
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == "*" || v.as_bytes() == etag.as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type == HTML {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (headers, asset.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_path_and_a_known_type() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len(), "duplicate asset path");
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
            let ext = a.path.rsplit('.').next().unwrap_or("");
            let expected = match ext {
                "js" => JS,
                "css" => CSS,
                "svg" => SVG,
                "html" => HTML,
                _ => TEXT,
            };
            assert_eq!(a.content_type, expected, "{}", a.path);
        }
    }

    #[test]
    fn pages_load_nothing_from_another_origin() {
        for page in [&STOREFRONT, &SELLER, &CONSOLE, &SWAGGER_UI] {
            let html = std::str::from_utf8(page.bytes).expect("utf-8");
            for attr in ["src=\"", "href=\""] {
                for (i, _) in html.match_indices(attr) {
                    let target = &html[i + attr.len()..];
                    assert!(
                        !target.starts_with("http") && !target.starts_with("//"),
                        "{}: {}",
                        page.path,
                        &target[..target.len().min(60)]
                    );
                }
            }
        }
    }

    #[test]
    fn etag_changes_with_the_bytes() {
        assert_eq!(etag_of(b"abc"), etag_of(b"abc"));
        assert_ne!(etag_of(b"abc"), etag_of(b"abd"));
    }

    #[test]
    fn a_matching_if_none_match_gets_304() {
        let asset = find("js/api.js").expect("api.js");
        let first = respond(asset, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        assert_eq!(first.headers()[header::CONTENT_TYPE], JS);
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(respond(asset, &again).status(), StatusCode::NOT_MODIFIED);
        let mut stale = HeaderMap::new();
        stale.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"0-0\""));
        assert_eq!(respond(asset, &stale).status(), StatusCode::OK);
    }
}
