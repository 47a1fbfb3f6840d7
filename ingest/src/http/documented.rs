//! The error answers many endpoints share, described once for the OpenAPI
//! document. An endpoint lists the groups it can answer with beside its own
//! responses: `responses((status = 200, ...), BodyErrors, DatabaseDown)`.
//! (401 and 403 are added to every protected operation by
//! [`crate::openapi`]; what a write answers is [`crate::routes::write`]'s.)

use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::IntoResponses;

/// A response with a JSON body of the named schema; `retry_after`: with the
/// `Retry-After` header a client waits for.
pub fn response(description: &str, schema: &str, retry_after: bool) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    if retry_after {
        let header = HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .build(),
            ))
            .description(Some("Seconds"))
            .build();
        response = response.header("retry-after", header);
    }
    response.build().into()
}

/// `(status, description, schema, retry_after)` rows as a response map.
pub fn group(rows: &[(u16, &str, &str, bool)]) -> BTreeMap<String, RefOr<Response>> {
    rows.iter()
        .map(|&(status, description, schema, retry)| {
            (status.to_string(), response(description, schema, retry))
        })
        .collect()
}

/// What reading a JSON body can go wrong with (its 422 is the endpoint's
/// own: it says which fields).
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(&[
            (400, "Malformed JSON or Idempotency-Key", "ErrorBody", false),
            (408, "The body did not arrive in time", "ErrorBody", false),
            (413, "Body too large", "ErrorBody", false),
            (415, "Not JSON", "ErrorBody", false),
        ])
    }
}

/// A read whose database is down.
pub struct DatabaseDown;

impl IntoResponses for DatabaseDown {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(&[(503, "The database is unavailable", "ErrorBody", true)])
    }
}

/// A request that needs more than one dependency (the database, the
/// broker, the workers' outcome, a password slot), one of which is down.
pub struct DependencyDown;

impl IntoResponses for DependencyDown {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(&[(503, "A dependency is unavailable", "ErrorBody", true)])
    }
}

/// The sign-in endpoints' shared limit per client network.
pub struct SignInLimited;

impl IntoResponses for SignInLimited {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(&[(
            429,
            "Too many attempts from this network",
            "ErrorBody",
            true,
        )])
    }
}
