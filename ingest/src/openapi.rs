//! The OpenAPI 3.1 document of the REST API, generated from the handlers'
//! annotations and the response types (utoipa), served at
//! `GET /api/v1/openapi.json` and kept in the repository as
//! `docs/openapi.json` (a test keeps the file and the document in step).
//! The operations come from the route table ([`crate::routes::table`]);
//! request shapes are [`crate::schemas`].

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "DeliverTrack",
        description = "Real-time package tracking: writes are queued (confirmed by the broker) and applied by workers; reads come from cached views. Compatible with the original DeliverTrack API.",
        version = "1.0.0",
        license(name = "MIT")
    ),
    security(("bearer" = [])),
    // What the shared responses (crate::http::documented) refer to by name.
    components(schemas(
        crate::http::error::ErrorBody,
        crate::http::error::InvalidFields,
        crate::routes::write::Accepted
    )),
    tags(
        (name = "packages", description = "Packages and their status flow"),
        (name = "locations", description = "Device positions, history and geo queries"),
        (name = "operations", description = "Health, statistics, this document"),
        (name = "auth", description = "Accounts and access tokens"),
        (name = "deliveries", description = "Couriers' runs of stops"),
        (name = "devices", description = "Devices posting locations with API keys"),
        (name = "tracking", description = "What anyone with a tracking number may see"),
        (name = "webhooks", description = "Signed calls to an account's endpoints when packages change")
    )
)]
pub struct ApiDoc;

/// Every endpoint but health, this document, sign-up and sign-in takes
/// `Authorization: Bearer <access_token>` from `POST /api/v1/auth/login`,
/// and may answer 401 (no or bad token) and 403 (the role may not).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        let error =
            |description: &str| crate::http::documented::response(description, "ErrorBody", false);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if is_public(path) {
                    // Public: no credentials asked for.
                    operation.security = Some(Vec::new());
                    continue;
                }
                let responses = &mut operation.responses.responses;
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("No, malformed, expired or forged credentials"));
                responses
                    .entry("403".into())
                    .or_insert_with(|| error("The caller's role may not do this"));
            }
        }
    }
}

/// The whole document: the description above, the route table's
/// operations, and what every protected operation may answer.
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa::Modify;
    let mut document = ApiDoc::openapi();
    document.merge(crate::routes::table::RoutePaths::openapi());
    BearerAuth.modify(&mut document);
    document
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

/// Whether the route table lets anyone call `path`.
fn is_public(path: &str) -> bool {
    crate::routes::table::ROUTES
        .iter()
        .any(|route| route.path == path && route.access.is_public())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_describes_exactly_the_routes() {
        let document: serde_json::Value = serde_json::from_str(&json()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let described: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = crate::routes::table::ROUTES
            .iter()
            .map(|route| (route.method.as_str().to_lowercase(), route.path.to_owned()))
            .collect();
        assert_eq!(described, served);
    }

    #[test]
    fn the_committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let generated = json() + "\n";
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if committed == generated {
            return;
        }
        // Asked to, it rewrites the document, and still fails: a run that
        // rewrote it has not checked the committed one.
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("write docs/openapi.json");
            panic!("docs/openapi.json was stale and is rewritten: review and commit it, then run again without UPDATE_OPENAPI");
        }
        panic!("docs/openapi.json is stale: regenerate it with `UPDATE_OPENAPI=1 cargo test -p ingest openapi`");
    }
}
