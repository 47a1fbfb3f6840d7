//! `POST /api/v1/auth/register`: anyone signs up, as a customer.
//!
//! The answer is the same `202` whether or not the email already has an
//! account, as soon as the broker holds the request: the mail tells the
//! address's owner (a verification link for a new account, a notice for
//! an existing one). Until the link is followed, the account sees only the
//! packages it creates, none addressed to the email.

use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::Request;

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = crate::schemas::RegisterRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::SignInLimited, crate::http::documented::DependencyDown,
        (status = 202, description = "Accepted: a mail to the address says what comes next (the same answer for an address that has an account)", body = super::Acknowledged),
        (status = 422, description = "Malformed email, a password under 10 characters, or a missing name", body = crate::http::error::InvalidFields)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, ApiError> {
    crate::routes::accounts::create_account(state, None, request, false).await
}
