//! The web UI: one HTML shell and a few static assets (plain HTML, CSS and JavaScript modules), embedded in the
//! binary. The pages read and act through the REST API (`/api/v1`), so the UI holds no logic of its own on the
//! server side.
//!
//! - `/` and `/ui` redirect to `/ui/`.
//! - `/ui/`, `/ui/incidents/{id}` and `/ui/dispatches` answer the shell; its script renders the page for the path.
//! - `/ui/assets/{version}/{file}` answers the assets. `version` is a digest of every asset, so the shell (revalidated
//!   on every load) always names the assets it was built with, and those are cached for good.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and requests to this origin only, no
//! inline code, Trusted Types so no string can be parsed as HTML), `nosniff`, no framing and no referrer.

use super::AppState;
use axum::extract::Path;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The policy of every UI answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'; object-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// Where the assets are served, before the version.
const ASSET_PREFIX: &str = "/ui/assets";

/// The placeholder in the shell replaced by `/ui/assets/<version>`.
const ASSET_PLACEHOLDER: &str = "%ASSETS%";

const SHELL: &str = include_str!("ui/index.html");

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("ui/app.css") },
    Asset { name: "main.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("ui/main.js") },
    Asset { name: "api.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("ui/api.js") },
    Asset { name: "dom.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("ui/dom.js") },
    Asset { name: "shell.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("ui/shell.js") },
    Asset { name: "keys.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("ui/keys.js") },
    Asset { name: "list.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("ui/list.js") },
    Asset {
        name: "incident.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("ui/incident.js"),
    },
    Asset {
        name: "dispatches.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("ui/dispatches.js"),
    },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_bytes!("ui/favicon.svg") },
];

/// The UI's routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui/", get(shell))
        .route("/ui/incidents/{id}", get(shell))
        .route("/ui/dispatches", get(shell))
        .route("/ui/assets/{version}/{file}", get(asset))
}

/// A digest of every asset: it changes whenever one does.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash = Sha256::new();
        for a in ASSETS {
            hash.update(a.name.as_bytes());
            hash.update((a.body.len() as u64).to_le_bytes());
            hash.update(a.body);
        }
        hex::encode(&hash.finalize()[..8])
    })
}

/// The shell with the asset paths filled in, and its entity tag.
fn shell_page() -> &'static (String, String) {
    static PAGE: OnceLock<(String, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        let html = SHELL.replace(ASSET_PLACEHOLDER, &format!("{ASSET_PREFIX}/{}", version()));
        let etag = entity_tag(html.as_bytes());
        (html, etag)
    })
}

fn entity_tag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..12]))
}

/// The headers every UI answer carries.
fn security_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(headers, HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
}

/// Answers `body`, or 304 when the client already holds this version.
fn respond(
    request: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    etag: &str,
    body: &'static [u8],
) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let headers = response.headers_mut();
    security_headers(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    if fresh {
        headers.remove(header::CONTENT_LENGTH);
    }
    response
}

/// The HTML shell, whichever page: revalidated on every load, so a new binary's assets are picked up at once.
async fn shell(request: HeaderMap) -> Response {
    let (html, etag) = shell_page();
    respond(&request, "text/html; charset=utf-8", "no-cache", etag, html.as_bytes())
}

/// One asset. Under the current version it never changes, so it is cached for good; under another version (a page
/// loaded before an upgrade) the current file is answered, to be revalidated.
async fn asset(request: HeaderMap, Path((v, file)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return super::error::not_found().await.into_response();
    };
    let cache = if v == version() { "public, max-age=31536000, immutable" } else { "no-cache" };
    let etag = asset_tag(asset);
    respond(&request, asset.content_type, cache, &etag, asset.body)
}

fn asset_tag(asset: &Asset) -> String {
    format!("\"{}-{}\"", version(), asset.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_names_versioned_assets_that_exist() {
        let (html, _) = shell_page();
        assert!(!html.contains(ASSET_PLACEHOLDER));
        let prefix = format!("{ASSET_PREFIX}/{}/", version());
        let mut named = 0;
        for part in html.split(&prefix).skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(ASSETS.iter().any(|a| a.name == name), "{name}");
            named += 1;
        }
        assert!(named >= 3, "{html}");
    }

    #[test]
    fn the_shell_has_no_inline_script_or_style() {
        let (html, _) = shell_page();
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap();
            assert!(open.contains("src="), "inline script: {open}");
        }
        assert!(!html.contains("<style") && !html.contains("style="), "{html}");
        for (at, _) in html.match_indices(" on") {
            let name: String = html[at + 1..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            assert!(!html[at + 1 + name.len()..].starts_with('='), "inline handler {name}");
        }
    }

    #[test]
    fn modules_import_only_assets_that_exist() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.rsplit("from").next().unwrap().trim().trim_end_matches(';').trim_matches('\'');
                let name = spec.strip_prefix("./").unwrap_or_else(|| panic!("{}: {line}", a.name));
                assert!(ASSETS.iter().any(|b| b.name == name), "{}: {line}", a.name);
            }
            assert!(!text.contains("innerHTML") && !text.contains("outerHTML"), "{} parses HTML", a.name);
            assert!(!text.contains("insertAdjacentHTML") && !text.contains("document.write"), "{}", a.name);
        }
    }
}
