//! The web pages and their assets, from a folder the binary is told about
//! (`WEB_ROOT`, default `web/dist`, built by `npm run build` in `web/`):
//! `/` is the dispatchers' dashboard (it signs in through the API),
//! `/track/{tn}` the public tracking page, `/reset-password` and
//! `/verify-email` where mailed links land, `/assets/...` their scripts,
//! styles and map data, and `/web-config.json` tells the pages where the
//! broadcaster is.
//!
//! Only files under the root's `assets/` folder are served, by names made
//! of safe characters: nothing else on the disk is reachable.

use crate::http::{ApiError, Reply};
use bytes::Bytes;
use hyper::StatusCode;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `WEB_ROOT`: the built pages.
    pub root: PathBuf,
    /// `WEB_WEBSOCKET_URL`: the broadcaster's address as browsers reach it
    /// (`ws://host:8081/ws`); empty lets a page assume its own host, port 8081.
    pub websocket_url: String,
    /// `WEB_TILES_URL`: an online tile layer (`https://.../{z}/{x}/{y}.png`)
    /// drawn over the bundled world map; empty keeps the pages offline.
    pub tiles_url: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("web/dist"),
            websocket_url: String::new(),
            tiles_url: String::new(),
        }
    }
}

#[derive(Serialize)]
struct PageSettings<'a> {
    websocket_url: &'a str,
    tiles_url: &'a str,
}

/// The answer for a path outside `/api/`, or `None` if it is not a page.
pub async fn serve(config: &WebConfig, path: &str) -> Option<Reply> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        [""] => page(config, "index.html").await,
        // Without a number the page offers its lookup form.
        ["track"] | ["track", _] => page(config, "track.html").await,
        // The links of account mails (their tokens after `#`): a password
        // reset (and the form that asks for one), and an email verification
        // (which asks to sign in first).
        ["reset-password"] | ["verify-email"] => page(config, "account.html").await,
        ["web-config.json"] => Reply::json(
            StatusCode::OK,
            &PageSettings {
                websocket_url: &config.websocket_url,
                tiles_url: &config.tiles_url,
            },
        )
        .header("cache-control", "no-cache"),
        ["assets", rest @ ..] if !rest.is_empty() && rest.iter().all(|s| safe_name(s)) => {
            asset(config, rest).await
        }
        _ => return None,
    })
}

/// A name of letters, digits, `-`, `_` and `.`, not starting with a dot.
fn safe_name(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn page(config: &WebConfig, name: &str) -> Reply {
    match tokio::fs::read(config.root.join(name)).await {
        Ok(bytes) => with_type(Bytes::from(bytes), "text/html; charset=utf-8")
            .header("cache-control", "no-cache")
            .header(
                "content-security-policy",
                "default-src 'self'; img-src 'self' data: https:; connect-src 'self' ws: wss:; \
                 style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        Err(error) => missing(config, name, &error),
    }
}

async fn asset(config: &WebConfig, segments: &[&str]) -> Reply {
    let mut path = config.root.join("assets");
    path.extend(segments);
    let name = segments.last().copied().unwrap_or_default();
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => with_type(Bytes::from(bytes), content_type)
            .header("cache-control", "public, max-age=300"),
        Err(_) => ApiError::not_found("no such asset").into_reply(),
    }
}

fn with_type(bytes: Bytes, content_type: &'static str) -> Reply {
    Reply::bytes(StatusCode::OK, content_type, bytes)
}

fn missing(config: &WebConfig, name: &str, error: &std::io::Error) -> Reply {
    tracing::warn!(%error, root = %config.root.display(), name, "web page missing; build it with `npm run build` in web/");
    // Not there, as far as a client can tell: an API-only deployment, or
    // one whose pages were not built.
    ApiError::not_found("no such page: the web pages are not built on this server").into_reply()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_under_assets_are_files() {
        for good in [
            "track.js",
            "leaflet.css",
            "countries-110m.json",
            "layers-2x.png",
        ] {
            assert!(safe_name(good), "{good}");
        }
        for bad in [
            "..", ".env", "", "a/b", "..%2f", "%2e%2e", "a\\b", "x y", "é",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn nothing_outside_the_assets_is_reachable() {
        let root = std::env::temp_dir().join(format!("dt-web-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(root.join("secret.txt"), "no").unwrap();
        std::fs::write(root.join("assets/app.js"), "ok").unwrap();
        let config = WebConfig {
            root: root.clone(),
            ..WebConfig::default()
        };
        let status = |reply: Option<Reply>| reply.map(|r| r.0.status().as_u16());
        assert_eq!(status(serve(&config, "/assets/app.js").await), Some(200));
        for path in [
            "/assets/../secret.txt",
            "/assets/%2e%2e/secret.txt",
            "/assets/.hidden",
            "/assets//app.js",
        ] {
            assert_eq!(status(serve(&config, path).await), None, "{path}");
        }
        assert_eq!(status(serve(&config, "/secret.txt").await), None);
        assert_eq!(
            status(serve(&config, "/assets/missing.js").await),
            Some(404)
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
