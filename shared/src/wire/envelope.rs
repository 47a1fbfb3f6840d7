use chrono::{DateTime, SubsecRound, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

/// The envelope version this build writes and the only one it reads.
pub const SCHEMA_VERSION: u16 = 1;

pub use crate::auth::Principal;

/// W3C trace context, propagated so one request can be followed across services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub traceparent: Option<String>,
}

impl TraceContext {
    pub fn new(traceparent: &crate::trace::TraceParent) -> Self {
        Self {
            traceparent: Some(traceparent.to_string()),
        }
    }

    /// The trace id, for log fields ("" when the message carries none).
    pub fn trace_id(&self) -> &str {
        self.traceparent
            .as_deref()
            .and_then(|t| t.get(3..35))
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<B> {
    pub version: u16,
    /// Unique per command; the idempotency key of everything it causes. A result
    /// event carries the id of the command that caused it.
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub principal: Principal,
    pub trace: TraceContext,
    /// For a command sent with an `Idempotency-Key`: a digest of the request
    /// (method, path, body). The event id comes from the key alone, so a key
    /// reused for another request is recognised and refused, not replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// On a reply: the primary database's WAL position once the command was
    /// committed (bytes since `0/0`). ingest remembers it for the requester,
    /// whose reads go to a read replica only once it has replayed that far
    /// (read-your-writes). Sealed with the rest, so nobody on the broker can
    /// send a requester's reads to a replica that lacks its write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_position: Option<u64>,
    pub body: B,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("unsupported envelope version {found} (this build reads version {SCHEMA_VERSION})")]
    UnsupportedVersion { found: u16 },
    #[error("undecodable message: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("unencodable message: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("{0}")]
    Seal(#[from] crate::seal::SealError),
}

/// Only the version, read first so a future envelope is refused by its number
/// rather than by whatever field happened to change.
#[derive(Deserialize)]
struct VersionProbe {
    version: u16,
}

impl<B> Envelope<B> {
    /// `occurred_at` is kept to microseconds, the precision PostgreSQL stores,
    /// so an outcome rebuilt from the database equals the one first reported.
    pub fn new(event_id: Uuid, occurred_at: DateTime<Utc>, principal: Principal, body: B) -> Self {
        Self {
            version: SCHEMA_VERSION,
            event_id,
            occurred_at: occurred_at.trunc_subsecs(6),
            principal,
            trace: TraceContext::default(),
            fingerprint: None,
            wal_position: None,
            body,
        }
    }
}

impl<B> Envelope<B> {
    /// An envelope for what this one caused: same event id, time, principal
    /// and trace, another body.
    pub fn with_body<C>(&self, body: C) -> Envelope<C> {
        Envelope {
            version: self.version,
            event_id: self.event_id,
            occurred_at: self.occurred_at,
            principal: self.principal.clone(),
            trace: self.trace.clone(),
            fingerprint: self.fingerprint.clone(),
            wal_position: None,
            body,
        }
    }
}

impl<B: Serialize> Envelope<B> {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        Ok(rmp_serde::to_vec_named(self)?)
    }
}

impl<B: Serialize> Envelope<B> {
    /// The bytes to publish: the encoded envelope, sealed.
    pub fn seal(&self, keys: &super::SigningKeys) -> Result<Vec<u8>, WireError> {
        Ok(keys.seal(&self.encode()?))
    }
}

impl<B: DeserializeOwned> Envelope<B> {
    /// A message as it came off the broker: its seal opened, then decoded.
    pub fn open(frame: &[u8], keys: &super::SigningKeys) -> Result<Self, WireError> {
        Self::decode(keys.open(frame)?)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let probe: VersionProbe = rmp_serde::from_slice(bytes)?;
        if probe.version != SCHEMA_VERSION {
            return Err(WireError::UnsupportedVersion {
                found: probe.version,
            });
        }
        Ok(rmp_serde::from_slice(bytes)?)
    }
}
