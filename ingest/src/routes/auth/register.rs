//! `POST /api/v1/auth/register`: anyone signs up, as a customer.
//!
//! The answer is the same `202` whether or not the email already has an
//! account, as soon as the broker holds the request: the mail tells the
//! address's owner (a verification link for a new account, a notice for
//! an existing one). Until the link is followed, the account sees only the
//! packages it creates, none addressed to the email.

use crate::http::Reply;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::Request;

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = crate::schemas::RegisterRequest,
    responses(
        (status = 400, description = "Malformed JSON", body = crate::http::response::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = crate::http::response::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::response::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::http::response::ErrorBody),
        (status = 429, description = "Too many attempts from this network", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds"))),
        (status = 503, description = "A dependency is unavailable", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds"))),
        (status = 202, description = "Accepted: a mail to the address says what comes next (the same answer for an address that has an account)", body = super::Acknowledged),
        (status = 422, description = "Malformed email, a password under 10 characters, or a missing name", body = crate::http::response::InvalidFields)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, Reply> {
    crate::routes::accounts::create_account(state, None, request, false).await
}
