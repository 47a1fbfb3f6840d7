//! What wraps every endpoint, as tower layers around the router: request
//! ids, CORS and security headers. Authentication is the router's (it knows
//! which endpoints are public).

use crate::http::ApiResponse;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// The router wrapped in the layers: `X-Request-Id` (the client's, or a new
/// one) on every response; CORS for the configured origins, preflights
/// answered 204; `nosniff` and `no-referrer` on everything.
pub fn wrap<S>(
    allowed_origins: &[String],
    router: S,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = ApiResponse,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
where
    S: tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = ApiResponse,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .map_response(preflight_without_content)
        .layer(cors(allowed_origins))
        .service(router)
}

fn cors(allowed_origins: &[String]) -> CorsLayer {
    let origins = if allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("prefer"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::LOCATION,
            header::LINK,
            header::RETRY_AFTER,
            HeaderName::from_static("x-cache"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600))
}

/// tower-http answers a preflight 200 with an empty body; 204 says the same
/// thing in the status code browsers and the original API's clients expect.
fn preflight_without_content(mut response: ApiResponse) -> ApiResponse {
    if response.status() == StatusCode::OK
        && response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS)
    {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}
