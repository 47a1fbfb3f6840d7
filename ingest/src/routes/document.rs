//! `GET /api/v1/openapi.json`: the OpenAPI document, rendered once at start
//! ([`crate::openapi::json`]).

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
pub fn document() {}
