//! `/api/v1/auth/...`: signing up and signing in (public endpoints).

pub mod login;
pub mod register;

use crate::http::Reply;
use hyper::StatusCode;
use shared::auth::password::PasswordError;

/// What a client is told when its password could not be hashed or checked:
/// 503 while every hashing slot stays taken, else an internal error.
pub fn password_refusal(error: PasswordError) -> Reply {
    match error {
        PasswordError::Busy => Reply::unavailable("password checking"),
        error => {
            tracing::error!(%error, "password hashing failed");
            Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
