//! Ingest's rate limits (per client network, per caller, sign-in and
//! public lookups), counted by [`shared::rate_limit::RateLimiter`].

pub use shared::rate_limit::{RateLimiter, Verdict};

/// Requests per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RATE_LIMIT_IP_PER_MIN`: every request, by client address.
    pub per_address: u32,
    /// `RATE_LIMIT_CALLER_PER_MIN`: authenticated requests, by account or device.
    pub per_caller: u32,
    /// `RATE_LIMIT_AUTH_PER_MIN`: sign-in and sign-up, by client address.
    pub auth: u32,
    /// `RATE_LIMIT_TRACK_PER_MIN`: the public tracking lookup, by client
    /// address: a tracking number is the only key to a package there, so
    /// guessing them must stay slow.
    pub track: u32,
    /// `RATE_LIMIT_KEY_MISSES_PER_MIN`: device-key lookups that found no
    /// device, by client network (each costs a database query).
    pub key_misses: u32,
}

impl Limits {
    pub const OFF: Self = Self {
        per_address: 0,
        per_caller: 0,
        auth: 0,
        track: 0,
        key_misses: 0,
    };
}
