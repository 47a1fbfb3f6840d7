//! The WebSocket protocol: what a client may send, parsed at the edge, and the
//! control messages the server sends back (updates are in [`crate::update`]).
//!
//! ```text
//! → {"type":"subscribe","tracking_number":"...","since_seq"?:N}
//! → {"type":"unsubscribe","tracking_number":"..."}
//! ← {"type":"subscribed"|"unsubscribed","tracking_number":"..."}
//! ← {"type":"error","error":"..."}
//! ← {"type":"unsubscribed","tracking_number":"...","reason":"access revoked"}
//!   when the caller's rights to a watched package end (and
//!   {"type":"unsubscribed_all","reason":"access revoked"} for the feed);
//!   the connection closes with 1008 "session ended" when its session does
//! ← {"type":"gap","tracking_number":"...","from":N,"to":M}
//! → {"type":"subscribe_all","since_seq"?:C} / {"type":"unsubscribe_all"}
//!   (admins, dispatchers)
//! ← {"type":"package_states","packages":[{"tracking_number","seq","data"}]}
//!   for the packages changed since cursor C, a few hundred per frame
//! ← {"type":"subscribed_all","cursor":C,"complete"?:false} / {"type":"unsubscribed_all"}
//! ← package_states the live stream missed, then {"type":"checkpoint","cursor":C},
//!   every checkpoint period; {"type":"resync"} when the feed may have missed
//!   events: subscribe_all again with the cursor
//! ```

use serde::Deserialize;
use serde_json::json;
use shared::domain::TrackingNumber;
use uuid::Uuid;

/// A valid client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Subscribe {
        tracking_number: TrackingNumber,
        /// Replay the events after this seq first.
        since_seq: Option<i64>,
    },
    Unsubscribe {
        tracking_number: TrackingNumber,
    },
    /// Every package's live updates (roles that see every package): for
    /// dashboards. No ordering across packages. With a cursor, first the
    /// current state of every package changed since (see [`crate::feed`]).
    SubscribeAll {
        since_seq: Option<i64>,
    },
    UnsubscribeAll,
    /// One courier's moves and presence (see [`crate::couriers`]).
    SubscribeCourier {
        courier_id: Uuid,
    },
    UnsubscribeCourier {
        courier_id: Uuid,
    },
}

#[derive(Deserialize)]
struct Raw {
    r#type: String,
    tracking_number: Option<String>,
    since_seq: Option<i64>,
    courier_id: Option<String>,
}

/// Parses one text frame; the error is the message to send back.
pub fn parse(text: &str) -> Result<Request, String> {
    let Ok(raw) = serde_json::from_str::<Raw>(text) else {
        return Err(
            "expected {\"type\": \"subscribe\"|\"unsubscribe\", \"tracking_number\": \"...\", \"since_seq\"?: N} or {\"type\": \"subscribe_all\"|\"unsubscribe_all\"}"
                .into(),
        );
    };
    match raw.r#type.as_str() {
        "subscribe_all" => {
            return since_seq(raw.since_seq).map(|since_seq| Request::SubscribeAll { since_seq })
        }
        "unsubscribe_all" => return Ok(Request::UnsubscribeAll),
        "subscribe_courier" => {
            return courier_id(raw.courier_id)
                .map(|courier_id| Request::SubscribeCourier { courier_id })
        }
        "unsubscribe_courier" => {
            return courier_id(raw.courier_id)
                .map(|courier_id| Request::UnsubscribeCourier { courier_id })
        }
        _ => {}
    }
    let Some(tracking_number) = raw.tracking_number else {
        return Err("tracking_number is required".into());
    };
    let tracking_number = TrackingNumber::parse(&tracking_number).map_err(|e| e.to_string())?;
    match raw.r#type.as_str() {
        "subscribe" => since_seq(raw.since_seq).map(|since_seq| Request::Subscribe {
            tracking_number,
            since_seq,
        }),
        "unsubscribe" => Ok(Request::Unsubscribe { tracking_number }),
        other => Err(format!(
            "unknown message type {other:?}; expected subscribe, unsubscribe, subscribe_all, unsubscribe_all, subscribe_courier or unsubscribe_courier"
        )),
    }
}

fn courier_id(raw: Option<String>) -> Result<Uuid, String> {
    let Some(raw) = raw else {
        return Err("courier_id is required".into());
    };
    Uuid::parse_str(&raw).map_err(|_| "courier_id must be a courier's id (a UUID)".into())
}

fn since_seq(since: Option<i64>) -> Result<Option<i64>, String> {
    match since {
        Some(n) if n < 0 => Err("since_seq must be 0 or more".into()),
        since => Ok(since),
    }
}

/// To a client watching every package: events may have been missed (the
/// broker link was down); subscribe again with your cursor.
pub fn resync() -> String {
    json!({ "type": "resync" }).to_string()
}

/// The feed is bound: `cursor` is where to resume from; `complete` is false
/// when more changed than one resume sends (read the list again).
pub fn subscribed_all(cursor: i64, complete: bool) -> String {
    if complete {
        json!({ "type": "subscribed_all", "cursor": cursor }).to_string()
    } else {
        json!({ "type": "subscribed_all", "cursor": cursor, "complete": false }).to_string()
    }
}

/// A newer cursor for a client watching every package; `complete` false
/// when more was missed than one checkpoint sends (read the list again).
pub fn checkpoint(cursor: i64, complete: bool) -> String {
    if complete {
        json!({ "type": "checkpoint", "cursor": cursor }).to_string()
    } else {
        json!({ "type": "checkpoint", "cursor": cursor, "complete": false }).to_string()
    }
}

/// Packages as they are now: a resumed feed's, or a checkpoint's.
pub fn package_states(states: &[shared::frames::PackageState]) -> Option<String> {
    serde_json::to_string(&json!({ "type": "package_states", "packages": states })).ok()
}

pub fn unsubscribed_all() -> String {
    json!({ "type": "unsubscribed_all" }).to_string()
}

pub fn subscribed(tracking_number: &str) -> String {
    json!({ "type": "subscribed", "tracking_number": tracking_number }).to_string()
}

pub fn unsubscribed(tracking_number: &str) -> String {
    json!({ "type": "unsubscribed", "tracking_number": tracking_number }).to_string()
}

/// The caller may no longer watch the package (their rights changed).
pub fn revoked(tracking_number: &str) -> String {
    json!({ "type": "unsubscribed", "tracking_number": tracking_number, "reason": "access revoked" })
        .to_string()
}

/// The every-package feed ended: the caller no longer sees every package.
pub fn revoked_all() -> String {
    json!({ "type": "unsubscribed_all", "reason": "access revoked" }).to_string()
}

pub fn subscribed_courier(courier_id: Uuid) -> String {
    json!({ "type": "subscribed_courier", "courier_id": courier_id }).to_string()
}

pub fn unsubscribed_courier(courier_id: Uuid) -> String {
    json!({ "type": "unsubscribed_courier", "courier_id": courier_id }).to_string()
}

/// The caller may no longer watch the courier (their role changed).
pub fn revoked_courier(courier_id: Uuid) -> String {
    json!({ "type": "unsubscribed_courier", "courier_id": courier_id, "reason": "access revoked" })
        .to_string()
}

pub fn error(message: &str) -> String {
    json!({ "type": "error", "error": message }).to_string()
}

/// Seqs `from..=to` of the package will never be delivered: the stores do
/// not have them.
pub fn gap(tracking_number: &str, from: i64, to: i64) -> String {
    json!({ "type": "gap", "tracking_number": tracking_number, "from": from, "to": to }).to_string()
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_every_package_messages_need_no_number() {
        assert_eq!(
            parse(r#"{"type":"subscribe_all"}"#),
            Ok(Request::SubscribeAll { since_seq: None })
        );
        assert_eq!(
            parse(r#"{"type":"subscribe_all","since_seq":731}"#),
            Ok(Request::SubscribeAll {
                since_seq: Some(731)
            })
        );
        assert!(parse(r#"{"type":"subscribe_all","since_seq":-1}"#)
            .unwrap_err()
            .contains("0 or more"));
        assert_eq!(
            parse(r#"{"type":"unsubscribe_all"}"#),
            Ok(Request::UnsubscribeAll)
        );
        assert!(parse(r#"{"type":"subscribe_everything"}"#).is_err());
        assert!(parse(r#"{"type":"subscribe","tracking_number":"*"}"#).is_err());
    }

    #[test]
    fn a_courier_is_named_by_id() {
        let id = Uuid::new_v4();
        assert_eq!(
            parse(&format!(
                r#"{{"type":"subscribe_courier","courier_id":"{id}"}}"#
            )),
            Ok(Request::SubscribeCourier { courier_id: id })
        );
        assert_eq!(
            parse(&format!(
                r#"{{"type":"unsubscribe_courier","courier_id":"{id}"}}"#
            )),
            Ok(Request::UnsubscribeCourier { courier_id: id })
        );
        assert!(parse(r#"{"type":"subscribe_courier"}"#)
            .unwrap_err()
            .contains("required"));
        assert!(parse(r#"{"type":"subscribe_courier","courier_id":"*"}"#)
            .unwrap_err()
            .contains("UUID"));
    }

    use super::*;

    #[test]
    fn requests_are_parsed_or_explained() {
        assert_eq!(
            parse(r#"{"type":"subscribe","tracking_number":"TRK1234","since_seq":3}"#),
            Ok(Request::Subscribe {
                tracking_number: TrackingNumber::parse("TRK1234").unwrap(),
                since_seq: Some(3)
            })
        );
        assert!(parse("nope").unwrap_err().starts_with("expected"));
        assert!(parse(r#"{"type":"subscribe"}"#)
            .unwrap_err()
            .contains("required"));
        assert!(parse(r#"{"type":"subscribe","tracking_number":"a.b.c.d"}"#).is_err());
        assert!(
            parse(r#"{"type":"subscribe","tracking_number":"TRK1234","since_seq":-1}"#)
                .unwrap_err()
                .contains("0 or more")
        );
        assert!(parse(r#"{"type":"dance","tracking_number":"TRK1234"}"#)
            .unwrap_err()
            .contains("unknown message type"));
    }
}
