//! `/api/v1/auth/...`: signing up and signing in (public endpoints).

pub mod login;
pub mod register;
