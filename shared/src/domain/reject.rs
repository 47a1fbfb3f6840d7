use serde::{Deserialize, Serialize};

/// Why a well-formed command was not applied. Maps onto HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The package does not exist (404).
    NotFound,
    /// The tracking number is taken, or the status flow forbids the change (409).
    Conflict,
    /// The command's `Idempotency-Key` was first used for a different request (422).
    IdempotencyConflict,
    /// The principal in the envelope may not do this (403): checked again by
    /// the workers, so a replayed message, or one re-driven after the
    /// principal's rights changed, is refused.
    Forbidden,
    /// The session, token or link is not (or no longer) good (401).
    Unauthenticated,
    /// The command names something that cannot be used (422): a courier that
    /// is no courier, a package that does not exist.
    Invalid,
}
