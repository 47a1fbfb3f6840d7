//! `Idempotency-Key`: a client's retry of a write is applied once and answered
//! with the first outcome; the same key on a different request is refused.
//!
//! A key is scoped to its caller (the principal, once requests are
//! authenticated), the method and the path, so two callers' keys never meet;
//! the event id is derived from that scope. Each request also gets a
//! fingerprint (method, path, body): the workers keep it with what the key
//! first applied, and a later command under the same event id but another
//! fingerprint is refused (422), never answered with someone else's outcome.

use super::ApiError;
use hyper::header::HeaderValue;
use hyper::{Method, Request};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::wire::Principal;
use uuid::Uuid;

const NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3c2a_9b7e_4f10_8a55_d3e1_0c4b_7a29);
const MAX_LEN: usize = 255;

/// A request's `Idempotency-Key`, scoped to who sent it and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    scope: String,
}

impl IdempotencyKey {
    /// The request's key, if it sent one; a malformed key is a 400.
    pub fn from_request<B>(
        request: &Request<B>,
        principal: &Principal,
    ) -> Result<Option<Self>, ApiError> {
        match request
            .headers()
            .get("idempotency-key")
            .map(HeaderValue::to_str)
        {
            None => Ok(None),
            Some(Ok(key)) if !key.is_empty() && key.len() <= MAX_LEN => {
                let caller = principal.subject.as_deref().unwrap_or("-");
                Ok(Some(Self {
                    scope: format!(
                        "{caller} {} {} {key}",
                        request.method(),
                        request.uri().path()
                    ),
                }))
            }
            Some(_) => Err(ApiError::BadRequest(
                "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            )),
        }
    }

    /// The event id every request with this key maps to.
    pub fn event_id(&self) -> Uuid {
        Uuid::new_v5(&NAMESPACE, self.scope.as_bytes())
    }

    /// The key's scope with a request fingerprint: names a retry's points
    /// (with their index), never another request's.
    pub fn point_scope(&self, fingerprint: &str) -> String {
        format!("{} {fingerprint}", self.scope)
    }
}

/// A JSON object in a canonical form: keys sorted at every level, no
/// whitespace. (serde_json keeps insertion order here: a dependency turns on
/// its `preserve_order`.)
pub fn canonical_json(object: &Map<String, Value>) -> Vec<u8> {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(object) => {
                let mut entries: Vec<(&String, &Value)> = object.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sorted(&Value::Object(object.clone()))).unwrap_or_default()
}

/// A digest of what a request asks for: method, path and body (callers pass
/// a canonical form of the body where one exists, so whitespace and key order
/// do not matter).
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(method.as_str());
    digest.update(b" ");
    digest.update(path);
    digest.update(b"\n");
    digest.update(body);
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, path: &str) -> Request<()> {
        Request::post(path)
            .header("idempotency-key", key)
            .body(())
            .unwrap()
    }

    #[test]
    fn keys_are_scoped_to_caller_method_and_path() {
        let anonymous = Principal::default();
        let someone = Principal {
            subject: Some("user-1".into()),
            ..Principal::default()
        };
        let key = |r: &Request<()>, p: &Principal| {
            IdempotencyKey::from_request(r, p)
                .ok()
                .flatten()
                .unwrap()
                .event_id()
        };
        let a = request("k1", "/api/v1/packages");
        assert_eq!(
            key(&a, &anonymous),
            key(&request("k1", "/api/v1/packages"), &anonymous)
        );
        assert_ne!(key(&a, &anonymous), key(&a, &someone));
        assert_ne!(
            key(&a, &anonymous),
            key(&request("k1", "/api/v1/locations"), &anonymous)
        );
        assert_ne!(
            key(&a, &anonymous),
            key(&request("k2", "/api/v1/packages"), &anonymous)
        );
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, {"d": 0, "c": 1}], "x": 2}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": 2, "y": [1, {"c": 1, "d": 0}]}, "b": 1}"#).unwrap();
        let (Value::Object(a), Value::Object(b)) = (a, b) else {
            unreachable!()
        };
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let f = |body: &[u8]| fingerprint(&Method::POST, "/p", body);
        assert_eq!(f(b"{}"), f(b"{}"));
        assert_ne!(f(b"{\"a\":1}"), f(b"{\"a\":2}"));
        assert_ne!(fingerprint(&Method::PUT, "/p", b"{}"), f(b"{}"));
        assert_eq!(f(b"").len(), 64);
    }
}
