//! The event kinds an endpoint may subscribe to: the `kind` of the
//! `package_update` frames watchers get (see `docs/API-CONTRACT.md`).

/// Every kind, in the order the API lists them. `location` is opt-in: a
/// courier's phone can post one every few seconds.
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
];

/// The kind as the API spells it, if it is one.
pub fn parse(raw: &str) -> Option<&'static str> {
    ALL.iter().copied().find(|kind| *kind == raw)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kinds_are_the_package_events_and_every_notice() {
        // The topology binds the same kinds (all but location) by name.
        let mut expected = vec!["created", "status_changed", "location"];
        expected.extend(crate::notices::KINDS);
        assert_eq!(super::ALL, expected.as_slice());
    }

    #[test]
    fn every_kind_parses_and_nothing_else_does() {
        for kind in super::ALL {
            assert_eq!(super::parse(kind), Some(*kind));
        }
        assert_eq!(super::parse("Created"), None);
        assert_eq!(super::parse("rejected"), None);
    }
}
