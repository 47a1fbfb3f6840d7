//! Reading request bodies: content type, size limit, read deadline, memory
//! budget, JSON syntax.

use super::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Request};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much of a body is read, and for how long: a client that trickles its
/// body in must not hold a connection slot indefinitely.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
    pub budget: BodyBudget,
}

/// The memory all request bodies of this process may hold at once
/// (`BODY_MEMORY_BUDGET_MB`). A body takes its share (its declared length,
/// or its limit when it declares none) before a byte of it is read, and
/// gives it back when the last reference to its bytes is dropped; a body
/// that cannot get its share within the read timeout is answered 503. So a
/// hundred megabyte bodies at once cost the budget, not a hundred
/// megabytes, whatever the allocator keeps afterwards.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    /// In KiB; `None`: no budget.
    kib: Option<Arc<Semaphore>>,
    total_kib: usize,
}

impl BodyBudget {
    /// `bytes` at most held by bodies at once; 0: no budget.
    pub fn new(bytes: usize) -> Self {
        let total_kib = (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            kib: (bytes > 0).then(|| Arc::new(Semaphore::new(total_kib))),
            total_kib,
        }
    }

    /// No budget (tests and tools).
    pub fn unlimited() -> Self {
        Self::new(0)
    }

    /// This body's share, once it is free; `None` if the budget is closed.
    async fn take(&self, bytes: usize) -> Option<Option<OwnedSemaphorePermit>> {
        let Some(kib) = &self.kib else {
            return Some(None);
        };
        // Never more than the whole budget, or a body would wait forever.
        let share = bytes.div_ceil(1024).clamp(1, self.total_kib);
        let share = u32::try_from(share).unwrap_or(u32::MAX);
        Arc::clone(kib)
            .acquire_many_owned(share)
            .await
            .ok()
            .map(Some)
    }
}

/// A body's bytes with its share of the budget: both go when the bytes do.
struct Budgeted {
    bytes: bytes::BytesMut,
    _share: Option<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The most values one JSON request body may hold: room for the largest
/// legitimate body (a delivery of 500 stops), and a bound on what parsing
/// any body may cost.
pub const MAX_JSON_VALUES: usize = 4096;

/// Checks the content type is JSON (a missing one is taken as JSON, as the
/// original API did) and reads the body within `limits`.
pub async fn json_object(
    request: Request<Incoming>,
    limits: &BodyLimits,
) -> Result<Map<String, Value>, ApiError> {
    require_json(request.headers())?;
    let body = read_limited(request, limits).await?;
    if too_many_json_values(&body, MAX_JSON_VALUES) {
        return Err(ApiError::TooLarge(format!(
            "a request body holds at most {MAX_JSON_VALUES} JSON values"
        )));
    }
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| json_error(e, ApiError::invalid_fields))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid_fields(
            "request body must be a JSON object",
        )),
    }
}

/// The media type of `Content-Type` without parameters, lower-cased; `None`
/// when the header is absent.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().unwrap_or_default();
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Malformed JSON is a 400, except a number too large to be finite (`1e999`):
/// the JSON is well-formed, the value is what is invalid, so a 422 in the
/// endpoint's shape (`unprocessable`).
pub fn json_error(
    error: serde_json::Error,
    unprocessable: impl FnOnce(String) -> ApiError,
) -> ApiError {
    if error.to_string().starts_with("number out of range") {
        return unprocessable(format!("a number is not finite (out of range): {error}"));
    }
    ApiError::BadRequest(format!("malformed JSON: {error}"))
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(essence) = content_type(headers) else {
        return Ok(());
    };
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ))
    }
}

pub async fn read_limited(
    request: Request<Incoming>,
    limits: &BodyLimits,
) -> Result<Bytes, ApiError> {
    let limit = limits.max_bytes;
    let too_large = || ApiError::TooLarge(format!("request body exceeds {limit} bytes"));
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + limits.read_timeout;
    let share = declared.map_or(limit, |length| length as usize);
    let Ok(Some(share)) = tokio::time::timeout_at(deadline, limits.budget.take(share)).await else {
        return Err(ApiError::Unavailable(
            "too many large request bodies at once; retry in a second".into(),
        ));
    };
    let read = tokio::time::timeout_at(
        deadline,
        collect(request.into_body(), limit, declared, share),
    );
    let Ok(collected) = read.await else {
        return Err(ApiError::BodyTimeout(format!(
            "the request body did not arrive within {} ms",
            limits.read_timeout.as_millis()
        )));
    };
    match collected {
        Ok(body) => Ok(body),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {error}"
        ))),
    }
}

/// Reads the body's frames into one buffer, sized up front when the length
/// is declared: a body costs its own size once, not its frames and then a
/// copy of them.
async fn collect(
    body: Incoming,
    limit: usize,
    declared: Option<u64>,
    share: Option<OwnedSemaphorePermit>,
) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
    let mut body = Limited::new(body, limit);
    let capacity = declared.map_or(0, |length| length.min(limit as u64) as usize);
    let mut buffer = bytes::BytesMut::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
    Ok(match share {
        Some(share) => Bytes::from_owner(Budgeted {
            bytes: buffer,
            _share: Some(share),
        }),
        None => buffer.freeze(),
    })
}

/// Whether a JSON text holds more than `max` values (objects, arrays and
/// scalars, counted by their separators outside strings), so a small body
/// of tiny values (`[[],[],...]`) is refused before it is built: each would
/// cost far more memory than its bytes.
pub fn too_many_json_values(body: &[u8], max: usize) -> bool {
    let (mut values, mut in_string, mut escaped) = (1usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => {
                values += 1;
                if values > max {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::too_many_json_values;

    #[test]
    fn json_values_are_counted_outside_strings_only() {
        assert!(!too_many_json_values(
            br#"{"a": "x,y,[z]{", "b": [1, 2]}"#,
            5
        ));
        assert!(too_many_json_values(br#"{"a": 1, "b": [1, 2]}"#, 4));
        assert!(!too_many_json_values(br#"{"a": "\",", "b": 2}"#, 3));
        assert!(too_many_json_values(br#"{"a": "\\", "b": [1]}"#, 3));
        assert!(too_many_json_values("[[],[],[],[]]".as_bytes(), 4));
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    fn held(bytes: usize, share: Option<OwnedSemaphorePermit>) -> Bytes {
        Bytes::from_owner(Budgeted {
            bytes: bytes::BytesMut::zeroed(bytes),
            _share: share,
        })
    }

    #[tokio::test]
    async fn a_body_waits_for_its_share_and_gives_it_back_with_its_last_bytes() {
        let budget = BodyBudget::new(1 << 20);
        let first = budget.take(1 << 20).await.expect("open");
        let body = held(1 << 20, first);
        let slice = body.slice(0..10);
        drop(body);
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.take(100)).await;
        assert!(
            waiting.is_err(),
            "the budget is spent while any of the bytes live"
        );
        drop(slice);
        let next = tokio::time::timeout(Duration::from_millis(50), budget.take(100)).await;
        assert!(next.is_ok(), "given back with the last reference");
        // A share larger than the whole budget is the whole budget, not a
        // wait forever; no budget never waits.
        drop(next);
        assert!(budget.take(10 << 20).await.is_some());
        assert!(matches!(
            BodyBudget::unlimited().take(10 << 20).await,
            Some(None)
        ));
    }
}
