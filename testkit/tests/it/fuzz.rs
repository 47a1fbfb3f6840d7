//! Every decoder of outside bytes, fed random and mutated input at scale: no
//! panic, and no allocation out of proportion to the input (a hostile length
//! prefix must not reserve gigabytes).
//!
//! Bounded by case count: `FUZZ_CASES` (default 20,000 per target); raise it
//! for a deeper run, e.g. `FUZZ_CASES=200000 cargo test -p testkit --test it fuzz`.

use crate::alloc::peak_during;
use ingest::routes::locations::post_batch::{parse_batch, Format};
use ingest::routes::locations::{PointIds, PointRules};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use shared::wire::{Command, Envelope, Event, LocationBatch};
use std::time::Duration;

/// Decoding `n` bytes may hold this much memory at most: proportional to
/// the input, plus room for fixed-size structures.
fn allocation_bound(input: usize) -> usize {
    64 * input + (1 << 20)
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

fn run<S: Strategy>(strategy: S, check: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |value| {
            check(value);
            Ok(())
        })
        .expect("no input makes a decoder fail badly");
}

fn within_bound<T>(input: &[u8], decode: impl FnOnce() -> T) -> T {
    let (result, peak) = peak_during(decode);
    assert!(
        peak <= allocation_bound(input.len()),
        "decoding {} bytes held {peak} bytes",
        input.len()
    );
    result
}

/// Field names the decoders look for, so generated objects reach past the
/// first check.
const NAMES: &[&str] = &[
    "tracking_number",
    "latitude",
    "longitude",
    "address",
    "accuracy_m",
    "speed_mps",
    "heading_deg",
    "recorded_at",
    "id",
    "status",
    "location",
    "sender_name",
    "sender_address",
    "recipient_name",
    "recipient_address",
    "weight",
    "description",
    "type",
    "since_seq",
    "version",
    "event_id",
    "occurred_at",
    "principal",
    "trace",
    "body",
    "kind",
    "data",
    "points",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-100.0f64..100.0).prop_map(Value::from),
        "[A-Za-z0-9_ .:-]{0,70}".prop_map(Value::String),
        Just(Value::String("2026-11-25T12:00:00Z".into())),
        Just(Value::String("TRK123456789".into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..10).prop_map(
                |entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }
            ),
        ]
    })
}

/// Bytes: random, or a valid encoding of a generated value, then mutated.
fn input(encode: fn(&Value) -> Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(move |v| encode(&v)),
        (
            json_value(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            any::<prop::sample::Index>()
        )
            .prop_map(move |(v, flips, cut)| {
                let mut bytes = encode(&v);
                if bytes.is_empty() {
                    return bytes;
                }
                for (at, byte) in flips {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                let keep = cut.index(bytes.len() + 1);
                bytes.truncate(keep.max(1));
                bytes
            }),
    ]
}

fn json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn ndjson(value: &Value) -> Vec<u8> {
    match value {
        Value::Array(items) => items
            .iter()
            .flat_map(|item| {
                let mut line = json(item);
                line.push(b'\n');
                line
            })
            .collect(),
        other => json(other),
    }
}

fn msgpack(value: &Value) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

fn rules() -> PointRules {
    PointRules {
        max_future_skew: Duration::from_secs(300),
        max_age: Duration::from_secs(7 * 24 * 3600),
        batch_max_points: 1000,
        batch_max_bytes: 1 << 20,
    }
}

#[test]
fn location_batches_in_every_format() {
    for (format, encode) in [
        (Format::Json, json as fn(&Value) -> Vec<u8>),
        (Format::NdJson, ndjson),
        (Format::MessagePack, msgpack),
    ] {
        run(input(encode), |bytes| {
            let ids = PointIds::new(
                &testkit::caller(shared::auth::Role::Courier),
                Some("fuzz".into()),
            );
            let _ = within_bound(&bytes, || {
                parse_batch(format, &bytes, &ids, &rules(), chrono::Utc::now())
            });
        });
    }
}

#[test]
fn hostile_msgpack_length_prefixes() {
    // array32 / map32 / str32 / bin32 headers claiming 4 GiB, with little behind them.
    for prefix in [0xdd_u8, 0xdf, 0xdb, 0xc6] {
        let mut bytes = vec![prefix, 0xff, 0xff, 0xff, 0xff];
        bytes.extend_from_slice(&[0x92, 0x01, 0x02]);
        let ids = PointIds::new(&testkit::caller(shared::auth::Role::Courier), None);
        let _ = within_bound(&bytes, || {
            parse_batch(
                Format::MessagePack,
                &bytes,
                &ids,
                &rules(),
                chrono::Utc::now(),
            )
        });
        let _ = within_bound(&bytes, || Envelope::<Command>::decode(&bytes));
    }
}

#[test]
fn json_write_bodies() {
    run(input(json), |bytes| {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&bytes) else {
            return;
        };
        within_bound(&bytes, || {
            let _ = ingest::routes::packages::create::parse(
                &object,
                uuid::Uuid::nil(),
                shared::domain::TrackingNumber::assigned(&[0; 16]),
            );
            let tn = shared::domain::TrackingNumber::parse("TRKFUZZ001").expect("a valid number");
            let _ = ingest::routes::packages::status::parse(tn.clone(), &object);
            let _ = ingest::routes::locations::parse_point(
                &object,
                Some(&tn),
                0,
                &PointIds::new(&testkit::caller(shared::auth::Role::Courier), None),
                &rules(),
                chrono::Utc::now(),
            );
        });
    });
}

/// A valid envelope of a generated body, as the broker would carry it.
fn envelope_bytes() -> impl Strategy<Value = Vec<u8>> {
    json_value().prop_map(|body| {
        let envelope = Envelope::new(
            uuid::Uuid::now_v7(),
            chrono::Utc::now(),
            Default::default(),
            body,
        );
        envelope.encode().unwrap_or_default()
    })
}

#[test]
fn broker_envelopes() {
    let mutated = (
        envelope_bytes(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    )
        .prop_map(|(mut bytes, flips)| {
            for (at, byte) in flips {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
            }
            bytes
        });
    let strategy = prop_oneof![input(msgpack), mutated];
    run(strategy, |bytes| {
        within_bound(&bytes, || {
            let _ = Envelope::<Command>::decode(&bytes);
            let _ = Envelope::<LocationBatch>::decode(&bytes);
            let _ = Envelope::<Event>::decode(&bytes);
        });
    });
}

#[test]
fn websocket_protocol_messages() {
    let text = prop_oneof![".{0,300}", json_value().prop_map(|v| v.to_string()),];
    run(text, |text| {
        let _ = within_bound(text.as_bytes(), || broadcaster::protocol::parse(&text));
    });
}

#[test]
fn query_strings_and_cursors() {
    run(".{0,200}", |raw| {
        within_bound(raw.as_bytes(), || {
            let _ = ingest::http::request::query_param(Some(&raw), "limit");
            let _ = ingest::reads::Cursor::parse(&raw);
        });
    });
}

#[test]
fn the_allocation_meter_sees_what_a_decoder_holds() {
    let (held, peak) = peak_during(|| vec![0u8; 10 << 20]);
    assert!(peak >= 10 << 20, "{peak}");
    drop(held);
    let (_, after) = peak_during(|| ());
    assert!(after < 1 << 20, "freed memory is not counted: {after}");
}
