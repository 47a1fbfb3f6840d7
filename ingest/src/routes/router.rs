//! Matching a request to its [`Route`] in [`super::table::ROUTES`].

use super::route::{Access, Route};
use super::table::ROUTES;
use crate::http::ApiError;
use hyper::Method;

/// Where a path and method lead.
pub enum Found<'p> {
    Route(&'static Route, Vec<&'p str>),
    /// The path is routed, for other methods (`allow` lists them).
    NotAllowed {
        access: Access,
        allow: String,
    },
    NotFound,
}

impl Found<'_> {
    /// Who may call it; an unknown path asks for credentials first, as any
    /// protected one does.
    pub fn access(&self) -> Access {
        match self {
            Self::Route(route, _) => route.access,
            Self::NotAllowed { access, .. } => *access,
            Self::NotFound => Access::Caller,
        }
    }
}

/// The route for `method` on `path` (`/api/v1/...`, no trailing slash).
pub fn find<'p>(method: &Method, path: &'p str) -> Found<'p> {
    let mut allowed: Vec<&'static Route> = Vec::new();
    for route in ROUTES {
        let Some(params) = matches(route.path, path) else {
            continue;
        };
        if route.method == *method {
            return Found::Route(route, params);
        }
        allowed.push(route);
    }
    match allowed.first() {
        None => Found::NotFound,
        Some(first) => Found::NotAllowed {
            access: first.access,
            allow: allowed
                .iter()
                .map(|r| r.method.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        },
    }
}

/// The parameters of `path` if it matches `template` (a parameter matches
/// any one non-empty segment).
fn matches<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut params = Vec::new();
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => params.push(g),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// The route template a path matches (the label requests are counted by:
/// never a tracking number or an id), with `:name` for a parameter
/// (`/api/v1/packages/:tracking_number`: braces in label values trip up some
/// Prometheus tooling); `other` for no route.
pub fn template(path: &str) -> &'static str {
    static LABELS: std::sync::LazyLock<Vec<(&'static str, String)>> =
        std::sync::LazyLock::new(|| {
            let mut labels: Vec<(&'static str, String)> = ROUTES
                .iter()
                .map(|route| (route.path, route.path.replace('{', ":").replace('}', "")))
                .collect();
            labels.dedup();
            labels
        });
    match path {
        "/web-config.json" => return "/web-config.json",
        "/" => return "/",
        "/reset-password" => return "/reset-password",
        _ if path.starts_with("/assets/") => return "/assets",
        _ if path.starts_with("/track/") => return "/track/:tracking_number",
        _ => {}
    }
    let path = path.trim_end_matches('/');
    LABELS
        .iter()
        .find(|(template, _)| matches(template, path).is_some())
        .map_or("other", |(_, label)| label.as_str())
}

pub fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_counted_by_their_route_never_their_values() {
        for (path, label) in [
            (
                "/api/v1/packages/TRK123456789/status",
                "/api/v1/packages/:tracking_number/status",
            ),
            ("/api/v1/packages", "/api/v1/packages"),
            ("/api/v1/packages/", "/api/v1/packages"),
            ("/api/v1/locations/near", "/api/v1/locations/near"),
            ("/api/v1/devices/abc/rotate", "/api/v1/devices/:id/rotate"),
            ("/api/v1/packages//status", "other"),
            ("/api/v1/nothing/here", "other"),
            ("/etc/passwd", "other"),
            ("/track/TRK123456789", "/track/:tracking_number"),
            ("/assets/track.js", "/assets"),
        ] {
            assert_eq!(template(path), label, "{path}");
        }
    }

    #[test]
    fn a_routed_path_with_another_method_lists_the_methods_it_has() {
        match find(&Method::DELETE, "/api/v1/packages/TRK1234/locations") {
            Found::NotAllowed { allow, access } => {
                assert_eq!((allow.as_str(), access), ("GET, POST", Access::Caller))
            }
            _ => panic!("not a 405"),
        }
        match find(&Method::POST, "/api/v1/packages/TRK1234/locations") {
            Found::Route(route, params) => {
                assert_eq!(
                    (route.access, params),
                    (Access::CallerOrDevice, vec!["TRK1234"])
                )
            }
            _ => panic!("not routed"),
        }
        assert!(matches!(
            find(&Method::GET, "/api/v1/nothing"),
            Found::NotFound
        ));
    }
}
