//! W3C trace context (`traceparent`), so one write can be followed from the
//! HTTP request through the worker to the WebSocket send.
//!
//! Ingest takes the client's `traceparent` (or starts a trace), and every
//! envelope and AMQP message it causes carries it; each service logs the
//! trace id in the spans that handle it. Format:
//! `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    parent_id: String,
    flags: String,
}

impl TraceParent {
    /// A valid header, or `None`: an invalid one is replaced by a new trace
    /// (as the W3C spec asks), never an error for the client.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let lower_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let all_zero = |s: &str| s.bytes().all(|b| b == b'0');
        // Version 00 has exactly four fields; a later version may add more.
        let extra_allowed = version != "00" || parts.next().is_none();
        let valid = lower_hex(version, 2)
            && version != "ff"
            && extra_allowed
            && lower_hex(trace_id, 32)
            && !all_zero(trace_id)
            && lower_hex(parent_id, 16)
            && !all_zero(parent_id)
            && lower_hex(flags, 2);
        valid.then(|| Self {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
            flags: flags.to_owned(),
        })
    }

    /// A new trace, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
            parent_id: new_span_id(),
            flags: "01".into(),
        }
    }

    /// The same trace, with this hop as the parent of the next.
    pub fn child(&self) -> Self {
        Self {
            parent_id: new_span_id(),
            ..self.clone()
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

fn new_span_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_header_keeps_its_trace_id_and_a_child_gets_a_new_parent() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(header).expect("valid");
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.to_string(), header);
        let child = parsed.child();
        assert_eq!(child.trace_id(), parsed.trace_id());
        assert_ne!(child.to_string(), header);
        assert!(TraceParent::parse(&child.to_string()).is_some());
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
        let root = TraceParent::new_root();
        assert!(TraceParent::parse(&root.to_string()).is_some());
    }
}
