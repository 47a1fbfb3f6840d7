//! The router: `/api/v1/...` paths to one handler module each.
//!
//! Health, the OpenAPI document, sign-up and sign-in are public; every other
//! endpoint needs a caller (401 without one) and asks [`crate::authn`] what
//! that caller may do.

pub mod audit;
pub mod auth;
pub mod deliveries;
pub mod devices;
pub(crate) mod health;
pub mod locations;
pub mod packages;
pub(crate) mod stats;
pub mod track;
pub mod users;
pub mod write;
pub mod ws_ticket;

use crate::authn;
use crate::broker::Broker;
use crate::http::request::BodyLimits;
use crate::http::{ApiResponse, Reply};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use shared::auth::{AuthConfig, Caller};
use shared::cache::ViewCache;
use shared::domain::TrackingNumber;
use shared::trace::TraceParent;
use shared::wire::TraceContext;
use sqlx::PgPool;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What every handler may use. Cheap to share: everything inside is a handle.
pub struct AppState {
    pub pool: PgPool,
    pub cache: ViewCache,
    pub broker: Broker,
    pub mongo: mongodb::Client,
    pub mongo_database: String,
    pub outcome_timeout: Duration,
    /// Limits on JSON request bodies.
    pub body: BodyLimits,
    pub point_rules: locations::PointRules,
    /// The OpenAPI document, rendered once.
    pub openapi: bytes::Bytes,
    /// Group commit of location posts.
    pub point_groups: crate::group_commit::PointGroups,
    pub auth: AuthConfig,
    /// Device keys and couriers' deliveries, remembered between requests.
    pub credentials: crate::credentials::Credentials,
    pub limiter: std::sync::Arc<crate::rate_limit::RateLimiter>,
    /// What each limit allows per minute.
    pub limits: crate::rate_limit::Limits,
    /// Seals what ingest publishes and checks the links it is shown.
    pub signing: shared::wire::SigningKeys,
    /// How long a session lasts without a refresh (`REFRESH_TOKEN_TTL_S`).
    pub refresh_ttl: std::time::Duration,
    /// Where passwords are hashed and checked, a few at a time.
    pub hashing: std::sync::Arc<shared::auth::password::Hashing>,
    /// Delays after failed sign-ins, per account.
    pub sign_in_delays: shared::auth::sign_in_delay::SignInDelays,
    /// The proxies whose `X-Forwarded-For` entries are believed.
    pub proxies: shared::net::TrustedProxies,
    pub metrics: std::sync::Arc<crate::metrics::IngestMetrics>,
    /// Queue depths for `/stats`, from the broker (and its management API).
    pub queues: crate::queues::QueueStats,
    /// The web pages' folder and settings.
    pub web: crate::web::WebConfig,
}

/// The address of the connection a request came on (set per connection).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// The client's address as the router decided it (the peer, or the
/// forwarded one behind a trusted proxy): stamped into the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The trace a request belongs to: the client's `traceparent`, or a new
/// one. What the request publishes carries it to the workers.
#[derive(Debug, Clone)]
pub struct RequestTrace(pub TraceParent);

/// The trace context for what a request sends: its trace, with the
/// request's span (exported) or a fresh id as the parent of the next hop.
pub fn trace_of<B>(request: &Request<B>) -> TraceContext {
    request
        .extensions()
        .get::<RequestTrace>()
        .map(|t| TraceContext {
            traceparent: Some(shared::telemetry::outgoing_traceparent(
                &tracing::Span::current(),
                &t.0.child(),
            )),
        })
        .unwrap_or_default()
}

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

/// The route template a path matches (the label requests are counted by:
/// never a tracking number or an id), from the OpenAPI document's list of
/// routes, with `:name` for a parameter (`/api/v1/packages/:tracking_number`:
/// braces in label values trip up some Prometheus tooling); `other` for no
/// route.
pub fn template(path: &str) -> &'static str {
    static LABELS: std::sync::LazyLock<Vec<(&'static str, String)>> =
        std::sync::LazyLock::new(|| {
            crate::openapi::ROUTES
                .iter()
                .map(|(_, template)| (*template, template.replace('{', ":").replace('}', "")))
                .collect()
        });
    match path {
        "/web-config.json" => return "/web-config.json",
        "/" => return "/",
        "/reset-password" => return "/reset-password",
        _ if path.starts_with("/assets/") => return "/assets",
        _ if path.starts_with("/track/") => return "/track/:tracking_number",
        _ => {}
    }
    let segments = path.trim_end_matches('/').split('/');
    LABELS
        .iter()
        .find(|(template, _)| {
            let mut wanted = template.split('/');
            let mut given = segments.clone();
            loop {
                match (wanted.next(), given.next()) {
                    (None, None) => return true,
                    (Some(w), Some(g)) if w == g || (w.starts_with('{') && !g.is_empty()) => {}
                    _ => return false,
                }
            }
        })
        .map_or("other", |(_, label)| label.as_str())
}

async fn route(state: &AppState, mut request: Request<Incoming>) -> ApiResponse {
    let peer = request
        .extensions()
        .get::<PeerAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0);
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        if *request.method() == Method::GET {
            if let Some(page) = crate::web::serve(&state.web, &path).await {
                return page.into_response();
            }
        }
        return not_found().into_response();
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let method = request.method().clone();
    if let Some(reply) = public(state, &segments, &method).await {
        return reply.unwrap_or_else(|e| e).into_response();
    }
    let address = shared::net::client_address(request.headers(), peer, &state.proxies);
    request.extensions_mut().insert(ClientAddr(address));
    // Every per-address limit counts an IPv6 client's whole /64.
    let network = shared::net::network_of(address);
    let limits = state.limits;
    if let Err(refused) = limited(state, "address", limits.per_address, || {
        format!("ip:{network}")
    })
    .await
    {
        return refused.into_response();
    }
    if let ["auth", ..] = segments.as_slice() {
        if let Err(refused) =
            limited(state, "auth", limits.auth, || format!("auth:{network}")).await
        {
            return refused.into_response();
        }
    }
    if let ["track", tracking_number] = segments.as_slice() {
        if let Err(refused) = limited(state, "track", limits.track, || {
            shared::rate_limit::public_lookup_key(&network)
        })
        .await
        {
            return refused.into_response();
        }
        return match method {
            Method::GET => track::get(state, tracking_number).await,
            _ => Err(not_allowed("GET")),
        }
        .unwrap_or_else(|e| e)
        .into_response();
    }
    if is_public_auth(&segments) {
        return public_auth(state, &segments, &method, request)
            .await
            .unwrap_or_else(|e| e)
            .into_response();
    }
    let caller = match authn::authenticate(state, request.headers(), &network).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return authn::unauthorized("authentication required").into_response(),
        Err(reply) => return reply.into_response(),
    };
    let key = || match caller.device_id {
        Some(device) => format!("device:{device}"),
        None => format!("caller:{}", caller.user_id),
    };
    if let Err(refused) = limited(state, "caller", limits.per_caller, key).await {
        return refused.into_response();
    }
    let reply = protected(state, &caller, &segments, &method, request)
        .await
        .unwrap_or_else(|e| e);
    // What one caller read is theirs alone: no shared cache may keep it.
    reply.header("cache-control", "no-store").into_response()
}

/// 429 with `Retry-After` when `key` is over `limit` this minute (the key
/// is only spelled out when the limit is on).
async fn limited(
    state: &AppState,
    which: &str,
    limit: u32,
    key: impl FnOnce() -> String,
) -> Result<(), Reply> {
    if limit == 0 {
        return Ok(());
    }
    match state.limiter.check(&key(), limit).await {
        crate::rate_limit::Verdict::Allow => Ok(()),
        crate::rate_limit::Verdict::Deny { retry_after } => {
            state.metrics.rate_limited.with_label_values(&[which]).inc();
            let seconds = retry_after.as_secs().max(1);
            Err(Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests; retry in {seconds} s"),
            )
            .header("retry-after", &seconds.to_string()))
        }
    }
}

/// The `/auth/...` endpoints that take no credentials.
fn is_public_auth(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["auth", "register" | "login" | "refresh" | "password-reset"]
            | ["auth", "password-reset", "confirm"]
    )
}

async fn public_auth(
    state: &AppState,
    segments: &[&str],
    method: &Method,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    match (segments, method) {
        (["auth", "register"], &Method::POST) => auth::register::post(state, request).await,
        (["auth", "login"], &Method::POST) => auth::login::post(state, request).await,
        (["auth", "refresh"], &Method::POST) => auth::refresh::post(state, request).await,
        (["auth", "password-reset"], &Method::POST) => {
            auth::password_reset::request(state, request).await
        }
        (["auth", "password-reset", "confirm"], &Method::POST) => {
            auth::password_reset::confirm(state, request).await
        }
        _ => Err(not_allowed("POST")),
    }
}

/// Endpoints anyone may call without credentials (bodiless GETs).
async fn public(
    state: &AppState,
    segments: &[&str],
    method: &Method,
) -> Option<Result<Reply, Reply>> {
    Some(match segments {
        ["health"] => match *method {
            Method::GET => Ok(health::get(state).await),
            _ => Err(not_allowed("GET")),
        },
        ["health", "live"] => match *method {
            Method::GET => Ok(health::live()),
            _ => Err(not_allowed("GET")),
        },
        ["health", "ready"] => match *method {
            Method::GET => Ok(health::ready(state)),
            _ => Err(not_allowed("GET")),
        },
        ["openapi.json"] => match *method {
            Method::GET => Ok(Reply::raw_json(StatusCode::OK, state.openapi.clone())),
            _ => Err(not_allowed("GET")),
        },
        _ => return None,
    })
}

/// Endpoints for an authenticated caller; each asks the policy.
async fn protected(
    state: &AppState,
    caller: &Caller,
    segments: &[&str],
    method: &Method,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    let query = request.uri().query().map(str::to_owned);
    let query = query.as_deref();
    // A device key is for posting locations, nothing else.
    let posts_locations =
        *method == Method::POST && matches!(segments, ["locations"] | ["packages", _, "locations"]);
    if caller.device_id.is_some() && !posts_locations {
        return Err(Reply::error(
            StatusCode::FORBIDDEN,
            "a device's API key may only post locations",
        ));
    }
    match segments {
        ["stats"] => match *method {
            Method::GET => stats::get(state, caller).await,
            _ => Err(not_allowed("GET")),
        },
        ["deliveries"] => match *method {
            Method::GET => deliveries::get(state, caller, query).await,
            Method::POST => deliveries::post(state, caller, request).await,
            _ => Err(not_allowed("GET, POST")),
        },
        ["deliveries", id] => match *method {
            Method::GET => deliveries::one::get(state, caller, id).await,
            Method::PATCH => deliveries::one::patch(state, caller, id, request).await,
            _ => Err(not_allowed("GET, PATCH")),
        },
        ["me", "deliveries"] => match *method {
            Method::GET => deliveries::mine::get(state, caller, query).await,
            _ => Err(not_allowed("GET")),
        },
        ["devices"] => match *method {
            Method::GET => devices::get(state, caller, query).await,
            Method::POST => devices::post(state, caller, request).await,
            _ => Err(not_allowed("GET, POST")),
        },
        ["devices", id] => match *method {
            Method::DELETE => devices::revoke(state, caller, id, request).await,
            _ => Err(not_allowed("DELETE")),
        },
        ["devices", id, "rotate"] => match *method {
            Method::POST => devices::rotate(state, caller, id, request).await,
            _ => Err(not_allowed("POST")),
        },
        ["users"] => match *method {
            Method::GET => users::list(state, caller, query).await,
            Method::POST => users::post(state, caller, request).await,
            _ => Err(not_allowed("GET, POST")),
        },
        ["users", id] => match *method {
            Method::PATCH => users::patch(state, caller, id, request).await,
            _ => Err(not_allowed("PATCH")),
        },
        ["auth", "logout"] => match *method {
            Method::POST => auth::logout::post(state, caller, request).await,
            _ => Err(not_allowed("POST")),
        },
        ["auth", "verify-email"] => match *method {
            Method::POST => auth::verify_email::post(state, caller, request).await,
            _ => Err(not_allowed("POST")),
        },
        ["auth", "verify-email", "resend"] => match *method {
            Method::POST => auth::verify_email::resend(state, caller, request).await,
            _ => Err(not_allowed("POST")),
        },
        ["ws-ticket"] => match *method {
            Method::POST => ws_ticket::post(state, caller).await,
            _ => Err(not_allowed("POST")),
        },
        ["audit"] => match *method {
            Method::GET => audit::get(state, caller, query).await,
            _ => Err(not_allowed("GET")),
        },
        ["packages"] => match *method {
            Method::GET => packages::list::get(state, caller, query).await,
            Method::POST => packages::create::post(state, caller, request).await,
            _ => Err(not_allowed("GET, POST")),
        },
        ["packages", tn] => match *method {
            Method::GET => with_package(tn, |tn| packages::get::get(state, caller, tn)).await,
            _ => Err(not_allowed("GET")),
        },
        ["packages", tn, "status"] => match *method {
            Method::PUT => {
                with_package(tn, |tn| packages::status::put(state, caller, tn, request)).await
            }
            _ => Err(not_allowed("PUT")),
        },
        ["packages", tn, "locations"] => match *method {
            Method::GET => {
                with_package(tn, |tn| locations::history::get(state, caller, tn, query)).await
            }
            Method::POST => {
                with_package(tn, |tn| {
                    locations::post_one::post(state, caller, tn, request)
                })
                .await
            }
            _ => Err(not_allowed("GET, POST")),
        },
        ["locations"] => match *method {
            Method::POST => locations::post_batch::post(state, caller, request).await,
            _ => Err(not_allowed("POST")),
        },
        ["locations", "near"] => match *method {
            Method::GET => locations::near::get(state, caller, query).await,
            _ => Err(not_allowed("GET")),
        },
        ["locations", "within"] => match *method {
            Method::GET => locations::within::get(state, caller, query).await,
            _ => Err(not_allowed("GET")),
        },
        ["packages", tn, "events"] => match *method {
            Method::GET => with_package(tn, |tn| packages::events::get(state, caller, tn)).await,
            _ => Err(not_allowed("GET")),
        },
        _ => Err(not_found()),
    }
}

/// A tracking number in a path that cannot be valid names no package: 404.
async fn with_package<F, Fut>(raw: &str, handler: F) -> Result<Reply, Reply>
where
    F: FnOnce(TrackingNumber) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, Reply>>,
{
    match TrackingNumber::parse(raw) {
        Ok(tn) => handler(tn).await,
        Err(_) => Err(package_not_found(raw)),
    }
}

pub fn package_not_found(tracking_number: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        format!("package {tracking_number} not found"),
    )
}

fn not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "no such endpoint")
}

fn not_allowed(allow: &str) -> Reply {
    Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; use {allow}"),
    )
    .header("allow", allow)
}

#[cfg(test)]
mod tests {
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
            assert_eq!(super::template(path), label, "{path}");
        }
    }
}
