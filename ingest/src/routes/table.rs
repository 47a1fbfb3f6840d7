//! The route table: every endpoint once, with who may call it and the
//! handler that answers. The router ([`super::router`]), the OpenAPI paths
//! ([`RoutePaths`]), the public set and the metric route templates all come
//! from it.

use super::route::{Access, Route};
use super::{
    audit, auth, couriers, deliveries, devices, document, geofences, health, locations, packages,
    recipients, stats, track, users, webhooks, ws_ticket,
};
use crate::http::Reply;
use hyper::{Method, StatusCode};

/// `route!(METHOD "path" Access doc::path, |state, call| body)`: one entry
/// of [`ROUTES`], and its operation in [`RoutePaths`].
macro_rules! routes {
    ($( $method:ident $path:literal $access:ident $doc:path => $handler:expr ; )*) => {
        /// Every endpoint the router serves, in matching order.
        pub static ROUTES: &[Route] = &[
            $( Route { method: Method::$method, path: $path, access: Access::$access, handler: $handler }, )*
        ];

        /// The OpenAPI operations of [`ROUTES`], from the handlers' annotations.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($( $doc ),*))]
        pub struct RoutePaths;
    };
}

routes! {
    GET "/api/v1/health" Open health::get => |s, _| Box::pin(async move { Ok(health::get(s).await) });
    GET "/api/v1/health/live" Open health::live => |_, _| Box::pin(async move { Ok(health::live()) });
    GET "/api/v1/health/ready" Open health::ready => |s, _| Box::pin(async move { Ok(health::ready(s)) });
    GET "/api/v1/openapi.json" Open document::document => |s, _| Box::pin(async move {
        Ok(Reply::raw_json(StatusCode::OK, s.openapi.clone()))
    });
    GET "/api/v1/stats" Caller stats::get => |s, c| Box::pin(async move { stats::get(s, c.caller()?).await });
    GET "/api/v1/packages" Caller packages::list::get => |s, c| Box::pin(async move {
        packages::list::get(s, c.caller()?, c.query()).await
    });
    POST "/api/v1/packages" Caller packages::create::post => |s, c| Box::pin(async move {
        packages::create::post(s, c.caller()?, c.request).await
    });
    GET "/api/v1/packages/{tracking_number}" Caller packages::get::get => |s, c| Box::pin(async move {
        packages::get::get(s, c.caller()?, c.package()?).await
    });
    PATCH "/api/v1/packages/{tracking_number}" Caller packages::plan::patch => |s, c| Box::pin(async move {
        let (caller, tn) = (c.caller()?, c.package()?);
        packages::plan::patch(s, caller, tn, c.request).await
    });
    PUT "/api/v1/packages/{tracking_number}/status" Caller packages::status::put => |s, c| Box::pin(async move {
        let (caller, tn) = (c.caller()?, c.package()?);
        packages::status::put(s, caller, tn, c.request).await
    });
    GET "/api/v1/packages/{tracking_number}/events" Caller packages::events::get => |s, c| Box::pin(async move {
        packages::events::get(s, c.caller()?, c.package()?, c.query()).await
    });
    GET "/api/v1/packages/{tracking_number}/locations" Caller locations::history::get => |s, c| Box::pin(async move {
        locations::history::get(s, c.caller()?, c.package()?, c.query()).await
    });
    POST "/api/v1/packages/{tracking_number}/locations" CallerOrDevice locations::post_one::post => |s, c| Box::pin(async move {
        let (caller, tn) = (c.caller()?, c.package()?);
        locations::post_one::post(s, caller, tn, c.request).await
    });
    POST "/api/v1/locations" CallerOrDevice locations::post_batch::post => |s, c| Box::pin(async move {
        locations::post_batch::post(s, c.caller()?, c.request).await
    });
    GET "/api/v1/locations/near" Caller locations::near::get => |s, c| Box::pin(async move {
        locations::near::get(s, c.caller()?, c.query()).await
    });
    GET "/api/v1/locations/within" Caller locations::within::get => |s, c| Box::pin(async move {
        locations::within::get(s, c.caller()?, c.query()).await
    });
    POST "/api/v1/auth/register" SignIn auth::register::post => |s, c| Box::pin(auth::register::post(s, c.request));
    POST "/api/v1/auth/login" SignIn auth::login::post => |s, c| Box::pin(auth::login::post(s, c.request));
    POST "/api/v1/auth/refresh" SignIn auth::refresh::post => |s, c| Box::pin(auth::refresh::post(s, c.request));
    POST "/api/v1/auth/logout" Caller auth::logout::post => |s, c| Box::pin(async move {
        auth::logout::post(s, c.caller()?, c.request).await
    });
    POST "/api/v1/auth/verify-email" Caller auth::verify_email::post => |s, c| Box::pin(async move {
        auth::verify_email::post(s, c.caller()?, c.request).await
    });
    POST "/api/v1/auth/verify-email/resend" Caller auth::verify_email::resend => |s, c| Box::pin(async move {
        auth::verify_email::resend(s, c.caller()?, c.request).await
    });
    POST "/api/v1/auth/password-reset" SignIn auth::password_reset::request => |s, c| Box::pin(auth::password_reset::request(s, c.request));
    POST "/api/v1/auth/password-reset/confirm" SignIn auth::password_reset::confirm => |s, c| Box::pin(auth::password_reset::confirm(s, c.request));
    POST "/api/v1/ws-ticket" Caller ws_ticket::post => |s, c| Box::pin(async move { ws_ticket::post(s, c.caller()?).await });
    GET "/api/v1/users" Caller users::list => |s, c| Box::pin(async move { users::list(s, c.caller()?, c.query()).await });
    POST "/api/v1/users" Caller users::post => |s, c| Box::pin(async move { users::post(s, c.caller()?, c.request).await });
    PATCH "/api/v1/users/{id}" Caller users::patch => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        users::patch(s, caller, id, c.request).await
    });
    GET "/api/v1/deliveries" Caller deliveries::get => |s, c| Box::pin(async move {
        deliveries::get(s, c.caller()?, c.query()).await
    });
    POST "/api/v1/deliveries" Caller deliveries::post => |s, c| Box::pin(async move {
        deliveries::post(s, c.caller()?, c.request).await
    });
    GET "/api/v1/deliveries/{id}" Caller deliveries::one::get => |s, c| Box::pin(async move {
        deliveries::one::get(s, c.caller()?, c.param(0)).await
    });
    PATCH "/api/v1/deliveries/{id}" Caller deliveries::one::patch => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        deliveries::one::patch(s, caller, id, c.request).await
    });
    GET "/api/v1/me/deliveries" Caller deliveries::mine::get => |s, c| Box::pin(async move {
        deliveries::mine::get(s, c.caller()?, c.query()).await
    });
    POST "/api/v1/me/location" CallerOrDevice couriers::report::post_one => |s, c| Box::pin(async move {
        couriers::report::post_one(s, c.caller()?, c.request).await
    });
    POST "/api/v1/me/locations" CallerOrDevice couriers::report::post_batch => |s, c| Box::pin(async move {
        couriers::report::post_batch(s, c.caller()?, c.request).await
    });
    GET "/api/v1/couriers" Caller couriers::read::list => |s, c| Box::pin(async move {
        couriers::read::list(s, c.caller()?, c.query()).await
    });
    GET "/api/v1/couriers/{id}" Caller couriers::read::one => |s, c| Box::pin(async move {
        couriers::read::one(s, c.caller()?, c.param(0)).await
    });
    GET "/api/v1/couriers/{id}/locations" Caller couriers::read::history => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        couriers::read::history(s, caller, id, c.query()).await
    });
    GET "/api/v1/geofences" Caller geofences::read::list => |s, c| Box::pin(async move {
        geofences::read::list(s, c.caller()?, c.query()).await
    });
    POST "/api/v1/geofences" Caller geofences::write::post => |s, c| Box::pin(async move {
        geofences::write::post(s, c.caller()?, c.request).await
    });
    GET "/api/v1/geofences/{id}" Caller geofences::read::one => |s, c| Box::pin(async move {
        geofences::read::one(s, c.caller()?, c.param(0)).await
    });
    PATCH "/api/v1/geofences/{id}" Caller geofences::write::patch => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        geofences::write::patch(s, caller, id, c.request).await
    });
    DELETE "/api/v1/geofences/{id}" Caller geofences::write::delete => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        geofences::write::delete(s, caller, id, c.request).await
    });
    GET "/api/v1/webhooks" Caller webhooks::read::list => |s, c| Box::pin(async move {
        webhooks::read::list(s, c.caller()?).await
    });
    POST "/api/v1/webhooks" Caller webhooks::write::post => |s, c| Box::pin(async move {
        webhooks::write::post(s, c.caller()?, c.request).await
    });
    GET "/api/v1/webhooks/{id}" Caller webhooks::read::one => |s, c| Box::pin(async move {
        webhooks::read::one(s, c.caller()?, c.param(0)).await
    });
    PATCH "/api/v1/webhooks/{id}" Caller webhooks::write::patch => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        webhooks::write::patch(s, caller, id, c.request).await
    });
    DELETE "/api/v1/webhooks/{id}" Caller webhooks::write::delete => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        webhooks::write::delete(s, caller, id, c.request).await
    });
    POST "/api/v1/webhooks/{id}/rotate" Caller webhooks::write::rotate => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        webhooks::write::rotate(s, caller, id, c.request).await
    });
    GET "/api/v1/webhooks/{id}/deliveries" Caller webhooks::read::deliveries => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        webhooks::read::deliveries(s, caller, id, c.query()).await
    });
    POST "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver" Caller webhooks::read::redeliver => |s, c| Box::pin(async move {
        let (caller, id, delivery) = (c.caller()?, c.param(0), c.param(1));
        webhooks::read::redeliver(s, caller, id, delivery).await
    });
    GET "/api/v1/devices" Caller devices::get => |s, c| Box::pin(async move { devices::get(s, c.caller()?, c.query()).await });
    POST "/api/v1/devices" Caller devices::post => |s, c| Box::pin(async move { devices::post(s, c.caller()?, c.request).await });
    DELETE "/api/v1/devices/{id}" Caller devices::revoke => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        devices::revoke(s, caller, id, c.request).await
    });
    POST "/api/v1/devices/{id}/rotate" Caller devices::rotate => |s, c| Box::pin(async move {
        let (caller, id) = (c.caller()?, c.param(0));
        devices::rotate(s, caller, id, c.request).await
    });
    GET "/api/v1/audit" Caller audit::get => |s, c| Box::pin(async move { audit::get(s, c.caller()?, c.query()).await });
    GET "/api/v1/recipients/unsubscribe" Track recipients::get => |s, c| Box::pin(async move { recipients::get(s, c.query()).await });
    POST "/api/v1/recipients/unsubscribe" Track recipients::post => |s, c| Box::pin(recipients::post(s, c.request));
    GET "/api/v1/track/{tracking_number}" Track track::get => |s, c| Box::pin(async move { track::get(s, c.param(0)).await });
}
