//! Every decoder of outside bytes, fed random and mutated input at scale: no
//! panic, and no allocation out of proportion to the input (a hostile length
//! prefix must not reserve gigabytes).
//!
//! Bounded by case count: `FUZZ_CASES` (default 20,000 per target); raise it
//! for a deeper run, e.g. `FUZZ_CASES=200000 cargo test -p testkit --test it fuzz`.

use crate::alloc::peak_during;
use ingest::routes::locations::post_batch::{parse_batch, Format};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use shared::locations::parse::{PointIds, PointRules};
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
    "email",
    "password",
    "name",
    "role",
    "courier_id",
    "day",
    "stops",
    "disabled",
    "token",
    "refresh_token",
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
        Just(Value::String("someone@example.com".into())),
        Just(Value::String("2026-11-25".into())),
        Just(Value::String("3f2b8c1e-5a6d-4e7f-9a0b-1c2d3e4f5a6b".into())),
        Just(Value::String("courier".into())),
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
            let _ = shared::locations::parse::parse_point(
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

/// Every account, session, delivery and device body: the same decoders
/// the endpoints run on a request's JSON object.
#[test]
fn account_delivery_and_device_bodies() {
    use ingest::routes::{accounts, auth, deliveries, devices, users};
    run(input(json), |bytes| {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&bytes) else {
            return;
        };
        within_bound(&bytes, || {
            let _ = accounts::parse_account(&body, true);
            let _ = accounts::parse_account(&body, false);
            let _ = users::parse_change(&body);
            let _ = auth::login::parse(&body);
            let _ = auth::refresh::parse(&body);
            let _ = auth::verify_email::parse(&body);
            let _ = auth::password_reset::parse_request(&body);
            let _ = auth::password_reset::parse_confirm(&body);
            let _ = deliveries::parse_new(&body);
            let _ = deliveries::one::parse_change(&body);
            let _ = devices::parse_new(&body);
        });
    });
}

/// Query strings made of the parameters the area and audit reads look for,
/// with plausible, hostile and random values.
fn area_query() -> impl Strategy<Value = String> {
    let name = prop::sample::select(
        &[
            "lat", "lon", "radius_m", "limit", "bbox", "actor", "since", "x",
        ][..],
    );
    let value = prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        (-200.0f64..200.0).prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[-0-9.,eE+%a-zNI ]{0,40}",
        Just("-75,40,-73,41".to_owned()),
        Just("2026-11-25T12:00:00Z".to_owned()),
        Just(",".repeat(2000)),
        ".{0,60}",
    ];
    let value = || value.clone();
    // Each read's own parameters, all present, so generated values reach
    // the checks after the first ones; and any parameters in any order.
    let near = (value(), value(), value(), value())
        .prop_map(|(a, b, c, d)| format!("lat={a}&lon={b}&radius_m={c}&limit={d}"));
    let plausible_near = (-90.0f64..90.0, -180.0f64..180.0, 0.0f64..2e6, value())
        .prop_map(|(a, b, c, d)| format!("lat={a}&lon={b}&radius_m={c}&limit={d}"));
    let audit =
        (value(), value(), value()).prop_map(|(a, b, c)| format!("actor={a}&since={b}&limit={c}"));
    let bbox = (value(), value(), value(), value())
        .prop_map(|(a, b, c, d)| format!("bbox={a},{b},{c},{d}"));
    let pairs = prop::collection::vec((name, value()), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    });
    prop_oneof![near, plausible_near, audit, bbox, pairs]
}

#[test]
fn near_within_and_audit_query_strings() {
    use ingest::http::Query;
    use ingest::routes::{audit, locations};
    run(prop_oneof![area_query(), ".{0,200}"], |raw| {
        within_bound(raw.as_bytes(), || {
            let query = Query::new(Some(&raw));
            if let Ok(near) = locations::near::parse_query(query) {
                assert!(near.radius > 0.0 && near.radius <= 1_000_000.0, "{raw}");
                assert!((1..=1000).contains(&near.limit), "{raw}");
            }
            if let Ok([min_lon, min_lat, max_lon, max_lat]) = locations::within::parse_bbox(query) {
                assert!(min_lon < max_lon && min_lat < max_lat, "{raw}");
            }
            if let Ok(audit) = audit::parse_query(query) {
                assert!(audit.limit >= 1, "{raw}");
            }
        });
    });
}

/// `traceparent` headers: random text, and valid headers with bytes
/// changed. Whatever is accepted reads back as the same header.
#[test]
fn traceparent_headers() {
    let valid = "00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}";
    let mutated = (
        valid,
        prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..4),
    )
        .prop_map(|(header, changes)| {
            let mut chars: Vec<char> = header.chars().collect();
            for (at, c) in changes {
                let i = at.index(chars.len());
                chars[i] = c;
            }
            chars.into_iter().collect::<String>()
        });
    run(prop_oneof![".{0,120}", valid, mutated], |header| {
        let parsed = within_bound(header.as_bytes(), || {
            shared::trace::TraceParent::parse(&header)
        });
        if let Some(parsed) = parsed {
            let again = shared::trace::TraceParent::parse(&parsed.to_string());
            assert_eq!(again.as_ref(), Some(&parsed), "{header}");
        }
    });
}

#[test]
fn query_strings_and_cursors() {
    run(".{0,200}", |raw| {
        within_bound(raw.as_bytes(), || {
            let _ = ingest::http::Query::new(Some(&raw)).limit(100, 1000);
            let _ = ingest::http::Cursor::parse(&raw);
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
