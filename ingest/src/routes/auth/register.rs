//! `POST /api/v1/auth/register`: anyone signs up, as a customer.

use crate::http::Reply;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::Request;

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = crate::openapi::RegisterRequest,
    responses(
        (status = 400, description = "Malformed JSON", body = crate::http::response::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = crate::http::response::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::response::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::http::response::ErrorBody),
        (status = 503, description = "A dependency is unavailable", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds"))),
        (status = 201, description = "Created, as a customer", body = shared::auth::UserView),
        (status = 409, description = "The email has an account", body = crate::http::response::ErrorBody),
        (status = 422, description = "Malformed email, a password under 10 characters, or a missing name", body = crate::http::response::InvalidFields)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, Reply> {
    crate::routes::users::create_account(state, None, request, false).await
}
