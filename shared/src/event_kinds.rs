//! The event kinds a webhook endpoint may subscribe to
//! (`crate::webhooks::kinds`): the `kind` of the `package_update` frames
//! watchers get (see `docs/API-CONTRACT.md`), and `courier_` and the `kind`
//! of the `courier_update` frames dispatchers get. A leaf module: the
//! topology binds the webhook pool's queue to them.

/// What a courier's events are called for endpoints: only an admin's or a
/// dispatcher's endpoint may ask for them (couriers are staff's to watch).
pub const COURIER_PREFIX: &str = "courier_";

/// Every kind, in the order the API lists them: the package kinds
/// (`location` is opt-in: a courier's phone can post one every few
/// seconds), then the couriers'.
pub const ALL: &[&str] = &[
    "created",
    "status_changed",
    "location",
    "geofence_entered",
    "geofence_exited",
    "geofence_dwelled",
    "geofence_crossed",
    "eta_changed",
    "delivery_at_risk",
    "delivery_late",
    "courier_presence",
    "courier_geofence_entered",
    "courier_geofence_exited",
    "courier_geofence_dwelled",
    "courier_geofence_crossed",
    "courier_moved",
];

/// The busiest kinds, bound to the webhook pool's queue only while an
/// endpoint wants them (a package's points, a courier's moves).
pub const OPT_IN: &[&str] = &["location", "courier_moved"];

/// The kind as the API spells it, if it is one.
pub fn parse(raw: &str) -> Option<&'static str> {
    ALL.iter().copied().find(|kind| *kind == raw)
}

/// Whether `kind` is a courier's (for staff's endpoints only).
pub fn is_courier(kind: &str) -> bool {
    kind.starts_with(COURIER_PREFIX)
}

/// The endpoint kind of a courier event (its routing key's last word).
pub fn of_courier(word: &str) -> Option<&'static str> {
    ALL.iter()
        .copied()
        .find(|kind| kind.strip_prefix(COURIER_PREFIX) == Some(word))
}

/// The events exchange's routing-key pattern that carries `kind`.
pub fn binding(kind: &str) -> String {
    match kind.strip_prefix(COURIER_PREFIX) {
        Some(word) => format!("courier.*.{word}"),
        None => format!("package.*.{kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinds_are_the_package_events_every_notice_and_the_couriers() {
        let mut expected = vec!["created", "status_changed", "location"];
        expected.extend(crate::notices::KINDS);
        expected.extend(
            ["presence", "geofence_entered", "geofence_exited"]
                .iter()
                .chain(&["geofence_dwelled", "geofence_crossed", "moved"])
                .map(|word| of_courier(word).expect("a courier kind")),
        );
        assert_eq!(ALL, expected.as_slice());
        assert!(OPT_IN.iter().all(|kind| parse(kind).is_some()));
    }

    #[test]
    fn every_kind_parses_and_nothing_else_does() {
        for kind in ALL {
            assert_eq!(parse(kind), Some(*kind));
        }
        assert_eq!(parse("Created"), None);
        assert_eq!(parse("rejected"), None);
        assert_eq!(parse("courier_"), None);
    }

    #[test]
    fn courier_kinds_are_the_courier_routing_words_and_bind_to_them() {
        assert_eq!(of_courier("presence"), Some("courier_presence"));
        assert_eq!(
            of_courier("geofence_dwelled"),
            Some("courier_geofence_dwelled")
        );
        assert_eq!(of_courier("eta_changed"), None);
        assert_eq!(binding("courier_moved"), "courier.*.moved");
        assert_eq!(binding("created"), "package.*.created");
        assert!(is_courier("courier_presence") && !is_courier("created"));
    }
}
