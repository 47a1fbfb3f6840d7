//! The REST API: `/api/v1/...` paths to one handler module each, through
//! one route table ([`table::ROUTES`]: method, path, who may call it,
//! handler). [`router`] matches a request to its route.
//!
//! Health, the OpenAPI document, sign-up, sign-in and public tracking need
//! no credentials; every other endpoint needs a caller (401 without one)
//! and asks [`crate::authn`] what that caller may do.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod couriers;
pub mod deliveries;
pub mod devices;
pub mod document;
pub mod geofences;
pub(crate) mod health;
pub mod locations;
pub mod packages;
pub mod recipients;
pub mod route;
pub mod router;
pub(crate) mod stats;
pub mod table;
pub mod track;
pub mod users;
pub mod webhooks;
pub mod write;
pub mod ws_ticket;

use crate::authn;
use crate::http::{ApiError, ApiResponse, Reply};
use hyper::body::Incoming;
use hyper::{Method, Request};
use route::{Access, Call};
use router::Found;
use shared::auth::Caller;
use shared::trace::TraceParent;
use std::net::IpAddr;
use std::time::Instant;
use tracing::Instrument;

pub use crate::state::{trace_of, AppState, ClientAddr, PeerAddr, RequestTrace};
pub use router::template;

/// The router's entry: continues or starts the request's trace, routes it in
/// a span that names the trace, and counts it by route template.
pub async fn handle(state: &AppState, mut request: Request<Incoming>) -> ApiResponse {
    let started = Instant::now();
    let trace = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .unwrap_or_else(TraceParent::new_root);
    let route_template = template(request.uri().path());
    let method = method_label(request.method());
    // Span fields are recorded when the span is made: borrowing is enough.
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method,
        route = route_template,
        trace_id = trace.trace_id(),
        request_id
    );
    shared::telemetry::continue_trace(&span, &trace);
    request.extensions_mut().insert(RequestTrace(trace));
    let response = route(state, request).instrument(span.clone()).await;
    let status = response.status();
    let metrics = &state.metrics;
    if let Some(cache) = response.headers().get("x-cache") {
        let result = if cache.as_bytes() == b"HIT" {
            "hit"
        } else {
            "miss"
        };
        metrics.cache.with_label_values(&[result]).inc();
    }
    metrics
        .requests
        .with_label_values(&[route_template, method, status.as_str()])
        .inc();
    let elapsed = started.elapsed();
    metrics
        .request_seconds
        .with_label_values(&[route_template])
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1e3,
            "request handled"
        )
    });
    response
}

/// Methods as a bounded label: anything unusual is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Marks the requests of the OsmAnd port (`OSMAND_LISTEN`): every one is a report.
#[derive(Debug, Clone, Copy)]
pub struct OsmAndPort;

/// Finds the route, applies its access rules and limits, and answers.
async fn route(state: &AppState, mut request: Request<Incoming>) -> ApiResponse {
    let path = request.uri().path().to_owned();
    let osmand_port = request.extensions().get::<OsmAndPort>().is_some();
    if osmand_port || path.trim_end_matches('/') == "/osmand" {
        // Any method; the device's identifier is the credential.
        if let Err(refused) = admitted(state, &mut request, &path, Access::CallerOrDevice).await {
            return refused.into_reply().into_response();
        }
        let network = client_network(&request);
        return couriers::osmand::handle(state, request, &network)
            .await
            .into_response();
    }
    if !path.starts_with("/api/v1/") {
        if *request.method() == Method::GET {
            if let Some(page) = crate::web::serve(&state.web, &path).await {
                return page.into_response();
            }
        }
        return router::not_found().into_reply().into_response();
    }
    let found = router::find(request.method(), path.trim_end_matches('/'));
    let access = found.access();
    if access == Access::Open {
        return dispatch(state, found, None, request).await.into_response();
    }
    if let Err(refused) = admitted(state, &mut request, &path, access).await {
        return refused.into_reply().into_response();
    }
    if access.is_public() {
        return dispatch(state, found, None, request).await.into_response();
    }
    let network = client_network(&request);
    let caller = match authn::authenticate(state, request.headers(), &network).await {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return authn::unauthorized("authentication required")
                .into_reply()
                .into_response()
        }
        Err(refused) => return refused.into_reply().into_response(),
    };
    let key = || match caller.device_id {
        Some(device) => format!("device:{device}"),
        None => format!("caller:{}", caller.user_id),
    };
    if let Err(refused) = limited(state, "caller", state.limits.per_caller, key).await {
        return refused.into_reply().into_response();
    }
    // A device key is for posting locations, nothing else.
    let device_may =
        matches!(&found, Found::Route(route, _) if route.access == Access::CallerOrDevice);
    let reply = if caller.device_id.is_some() && !device_may {
        ApiError::Forbidden("a device's API key may only post locations".into()).into_reply()
    } else {
        dispatch(state, found, Some(&caller), request).await
    };
    // What one caller read is theirs alone: no shared cache may keep it.
    reply.header("cache-control", "no-store").into_response()
}

/// The handler's answer (its error's, when it fails), or 405 / 404.
async fn dispatch(
    state: &AppState,
    found: Found<'_>,
    caller: Option<&Caller>,
    request: Request<Incoming>,
) -> Reply {
    match found {
        Found::Route(route, params) => {
            let query = request.uri().query().map(str::to_owned);
            let call = Call {
                caller,
                params,
                query,
                request,
            };
            (route.handler)(state, call)
                .await
                .unwrap_or_else(ApiError::into_reply)
        }
        Found::NotAllowed { allow, .. } => ApiError::MethodNotAllowed { allow }.into_reply(),
        Found::NotFound => router::not_found().into_reply(),
    }
}

/// The client's network as the limits count it: an IPv6 client's whole /64.
fn client_network(request: &Request<Incoming>) -> String {
    let address = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.0);
    shared::net::network_of(address).to_string()
}

/// Decides the client's address and counts the request against the
/// per-address limit and the limit of its kind (sign-in, public lookups).
async fn admitted(
    state: &AppState,
    request: &mut Request<Incoming>,
    path: &str,
    access: Access,
) -> Result<(), ApiError> {
    let peer = request
        .extensions()
        .get::<PeerAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0);
    let address = shared::net::client_address(request.headers(), peer, &state.proxies);
    request.extensions_mut().insert(ClientAddr(address));
    let network = client_network(request);
    let limits = state.limits;
    limited(state, "address", limits.per_address, || {
        format!("ip:{network}")
    })
    .await?;
    if path.trim_end_matches('/') == "/api/v1/auth" || path.starts_with("/api/v1/auth/") {
        limited(state, "auth", limits.auth, || format!("auth:{network}")).await?;
    }
    if access == Access::Track {
        let key = || shared::rate_limit::public_lookup_key(&network);
        limited(state, "track", limits.track, key).await?;
    }
    Ok(())
}

/// 429 with `Retry-After` when `key` is over `limit` this minute (the key
/// is only spelled out when the limit is on).
async fn limited(
    state: &AppState,
    which: &str,
    limit: u32,
    key: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    if limit == 0 {
        return Ok(());
    }
    match state.limiter.check(&key(), limit).await {
        crate::rate_limit::Verdict::Allow => Ok(()),
        crate::rate_limit::Verdict::Deny { retry_after } => {
            state.metrics.rate_limited.with_label_values(&[which]).inc();
            let seconds = retry_after.as_secs().max(1);
            Err(ApiError::TooManyRequests {
                message: format!("too many requests; retry in {seconds} s"),
                retry_after: seconds,
            })
        }
    }
}
