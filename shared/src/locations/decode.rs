//! Decoding a batch of points without ever building more than it may hold.
//!
//! A generic decoder (`serde_json::Value`, or MessagePack into one) builds
//! whatever the body describes: a megabyte of empty maps is a million maps,
//! about twenty bytes of memory per byte of body. These decoders stream the
//! batch instead: they stop at the point limit (a MessagePack array says its
//! length up front, so it is refused before any element is read), keep only
//! the fields a point has, and only when they are scalars; everything else
//! is skipped as it is read. A batch costs the body, plus at most the limit's
//! worth of small points.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;

/// Whether a key is a field a point (a package's, or a courier's own) may
/// have; any other is skipped unread.
fn known(key: &str) -> Option<&'static str> {
    let fields = super::parse::FIELDS.iter();
    fields
        .chain(super::Measurements::FIELDS.iter())
        .chain(super::report::FIELDS.iter())
        .copied()
        .find(|name| *name == key)
}

/// One element of a batch: a point's known scalar fields, or something that
/// is not an object at all.
pub type Element = Option<Map<String, Value>>;

/// Why a body is no batch.
#[derive(Debug, PartialEq)]
pub enum BatchError {
    /// More than the limit: stopped there.
    TooMany,
    /// Well-formed, but not an array (of points).
    NotAnArray,
    /// Malformed; the decoder's words.
    Malformed(String),
    /// A JSON number too large to be finite (`1e999`).
    OutOfRange(String),
}

/// A JSON array of points.
pub fn json(body: &[u8], max: usize) -> Result<Vec<Element>, BatchError> {
    let overflow = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let decoded = Batch {
        max,
        overflow: &overflow,
    }
    .deserialize(&mut deserializer)
    .and_then(|batch| deserializer.end().map(|()| batch));
    settle(decoded, &overflow, json_problem)
}

/// NDJSON: one point per non-empty line. The lines are counted before any
/// is decoded.
pub fn ndjson(body: &[u8], max: usize) -> Result<Vec<Element>, BatchError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| BatchError::Malformed("NDJSON must be UTF-8".into()))?;
    let lines = || {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
    };
    if lines().nth(max).is_some() {
        return Err(BatchError::TooMany);
    }
    lines()
        .map(|(n, line)| {
            let mut deserializer = serde_json::Deserializer::from_str(line);
            PointSeed
                .deserialize(&mut deserializer)
                .and_then(|point| deserializer.end().map(|()| point))
                .map_err(|e| match json_problem(e) {
                    BatchError::Malformed(why) => {
                        BatchError::Malformed(format!("malformed NDJSON on line {}: {why}", n + 1))
                    }
                    other => other,
                })
        })
        .collect()
}

/// A MessagePack array of maps.
pub fn msgpack(body: &[u8], max: usize) -> Result<Vec<Element>, BatchError> {
    let overflow = Cell::new(false);
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(body);
    let decoded = Batch {
        max,
        overflow: &overflow,
    }
    .deserialize(&mut deserializer);
    settle(decoded, &overflow, |e: rmp_serde::decode::Error| {
        BatchError::Malformed(format!("malformed MessagePack: {e}"))
    })
}

fn settle<E>(
    decoded: Result<Option<Vec<Element>>, E>,
    overflow: &Cell<bool>,
    problem: impl FnOnce(E) -> BatchError,
) -> Result<Vec<Element>, BatchError> {
    if overflow.get() {
        return Err(BatchError::TooMany);
    }
    match decoded {
        Ok(Some(points)) => Ok(points),
        Ok(None) => Err(BatchError::NotAnArray),
        Err(error) => Err(problem(error)),
    }
}

fn json_problem(error: serde_json::Error) -> BatchError {
    let text = error.to_string();
    if text.starts_with("number out of range") {
        BatchError::OutOfRange(text)
    } else {
        BatchError::Malformed(format!("malformed JSON: {text}"))
    }
}

/// The non-text scalar `visit_*` methods of a visitor whose value is an
/// `Option`: such a scalar is `None` (a value of the wrong kind, or a map key
/// that names no field), never an error that stops the batch.
macro_rules! non_text_scalars_are_none {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

/// Every scalar `visit_*` method of a visitor whose value is an `Option`:
/// a scalar where a container was expected is `None` (reported by the
/// caller), never an error that stops the batch.
macro_rules! scalars_are_none {
    () => {
        non_text_scalars_are_none!();
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

/// The whole body: `Some(points)` for an array, `None` for any other value
/// (skipped, not built).
struct Batch<'a> {
    max: usize,
    overflow: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Batch<'_> {
    type Value = Option<Vec<Element>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = Option<Vec<Element>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of points")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let too_many = || {
            self.overflow.set(true);
            de::Error::custom("too many points")
        };
        let announced = seq.size_hint().unwrap_or(0);
        if announced > self.max {
            return Err(too_many());
        }
        let mut points = Vec::with_capacity(announced.min(self.max));
        while let Some(point) = seq.next_element_seed(PointSeed)? {
            if points.len() == self.max {
                return Err(too_many());
            }
            points.push(point);
        }
        Ok(Some(points))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    scalars_are_none!();
}

/// One element: a map keeps its known scalar fields; anything else is
/// skipped and reported as "not an object".
struct PointSeed;

impl<'de> DeserializeSeed<'de> for PointSeed {
    type Value = Element;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PointSeed {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a point (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut point = Map::new();
        while let Some(known) = map.next_key_seed(FieldName)? {
            match known {
                Some(name) => {
                    let value = map.next_value_seed(Scalar)?;
                    point.insert(name.to_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(point))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    scalars_are_none!();
}

/// A key: which known field it is, if any, without keeping the key.
struct FieldName;

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<&'static str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(known(key))
    }
    fn visit_bytes<E>(self, key: &[u8]) -> Result<Self::Value, E> {
        Ok(std::str::from_utf8(key).ok().and_then(known))
    }
    // MessagePack maps may have keys of any type: none of them is a field.
    non_text_scalars_are_none!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A field's value: scalars as they are; a container is skipped and stands
/// as an empty array, which every field refuses as the wrong type.
struct Scalar;

impl<'de> DeserializeSeed<'de> for Scalar {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scalar {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Not finite (MessagePack can say NaN): kept as a string, so the
        // field reports the wrong type rather than a silent null.
        Ok(serde_json::Number::from_f64(v)
            .map_or_else(|| Value::String(v.to_string()), Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Value, E> {
        Ok(Value::Array(Vec::new()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(Vec::new()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Array(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_messagepack_array_past_the_limit_is_refused_from_its_header() {
        // An array header announcing a million elements, and no elements.
        let mut body = vec![0xdd];
        body.extend_from_slice(&1_000_000u32.to_be_bytes());
        assert_eq!(msgpack(&body, 1000), Err(BatchError::TooMany));
    }

    #[test]
    fn json_and_ndjson_stop_at_the_limit() {
        let body = format!("[{}]", vec!["{}"; 2000].join(","));
        assert_eq!(json(body.as_bytes(), 1000), Err(BatchError::TooMany));
        assert_eq!(json(b"[{},{}]", 2).map(|p| p.len()), Ok(2));
        let lines = ["{}"; 11].join("\n");
        assert_eq!(ndjson(lines.as_bytes(), 10), Err(BatchError::TooMany));
    }

    #[test]
    fn only_known_scalar_fields_are_kept() {
        let body = br#"[{"latitude": 1.5, "junk": [[[1,2],{"a":[]}]], "address": {"x": 1}, "id": null}, 7]"#;
        let points = json(body, 10).unwrap();
        let first = points[0].as_ref().unwrap();
        assert_eq!(first.len(), 3, "{first:?}");
        assert_eq!(first["latitude"], Value::from(1.5));
        assert_eq!(first["address"], Value::Array(Vec::new()));
        assert_eq!(first["id"], Value::Null);
        assert_eq!(points[1], None);
        let packed = rmp_serde::to_vec_named(&serde_json::json!([
            {"tracking_number": "TRK1", "longitude": -3, "extra": {"deep": [1, 2, 3]}}
        ]))
        .unwrap();
        let points = msgpack(&packed, 10).unwrap();
        let first = points[0].as_ref().unwrap();
        assert_eq!(first["tracking_number"], Value::from("TRK1"));
        assert_eq!(first["longitude"], Value::from(-3));
        assert!(!first.contains_key("extra"));
    }

    #[test]
    fn bodies_that_are_no_array_are_told_apart_from_malformed_ones() {
        assert_eq!(json(br#"{"a": 1}"#, 10), Err(BatchError::NotAnArray));
        assert!(matches!(json(b"[1,", 10), Err(BatchError::Malformed(_))));
        assert!(matches!(
            json(b"[1e999]", 10),
            Err(BatchError::OutOfRange(_))
        ));
        assert!(
            matches!(ndjson(b"{}\n{", 10), Err(BatchError::Malformed(m)) if m.contains("line 2"))
        );
        assert!(matches!(
            msgpack(&[0xc1], 10),
            Err(BatchError::Malformed(_))
        ));
    }
}
