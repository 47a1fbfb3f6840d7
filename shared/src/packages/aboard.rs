//! A package aboard a courier moves with them: its read shows the
//! courier's latest fix when that is newer than the package's own and was
//! taken while the package was aboard. Nothing is copied per package: a
//! courier's point costs the same however many packages ride along.

use super::{CourierAboard, PackageView};
use crate::couriers::PresenceRules;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The package's open stretch and its courier's latest position.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Carrier {
    pub courier_id: Uuid,
    /// Since when the package is aboard.
    pub since_at: DateTime<Utc>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub heard_at: Option<DateTime<Utc>>,
    pub battery_pct: Option<f64>,
}

/// The courier the package rides with now, if any (one indexed query).
pub async fn carrier(
    db: impl PgExecutor<'_>,
    tracking_number: &str,
) -> Result<Option<Carrier>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.courier_id, k.since_at, c.latitude, c.longitude, c.recorded_at, c.heard_at, \
             c.battery_pct \
         FROM packages p JOIN package_carriage k ON k.package_id = p.id AND k.until_at IS NULL \
         LEFT JOIN courier_positions c ON c.courier_id = k.courier_id \
         WHERE p.tracking_number = $1 LIMIT 1",
    )
    .bind(tracking_number)
    .fetch_optional(db)
    .await
}

/// What a reader learns of the courier a package rides with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Dispatch, or the carrying courier themselves: the courier named,
    /// their presence and battery, the package at their fix, the trail
    /// aboard.
    Full,
    /// Anyone else who sees the package (its customer, the public page,
    /// another courier), once it is out for delivery: the parcel's position
    /// (the courier's fix), nothing else.
    Position,
    /// The same before that: the courier's whereabouts are theirs.
    Nothing,
}

/// Who reads a package that rides with a courier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Admins and dispatchers: every courier, in full.
    Dispatch,
    /// A courier: the packages they carry themselves, in full; a package
    /// another courier carries (one left on their run as attempted, say),
    /// as an outsider: another courier's whereabouts are not theirs.
    Courier(Uuid),
    /// A customer, or the public page (`None`).
    Outsider,
}

impl Reader {
    pub fn of(caller: Option<&crate::auth::Caller>) -> Self {
        use crate::auth::Role;
        match caller {
            Some(c) if matches!(c.role, Role::Admin | Role::Dispatcher) => Self::Dispatch,
            Some(c) if c.role == Role::Courier => Self::Courier(c.user_id),
            _ => Self::Outsider,
        }
    }

    /// Whether this reader may learn anything of a package's courier,
    /// before it is known who carries it (a courier reader may be the one).
    pub fn may_learn(self, status: crate::domain::PackageStatus) -> bool {
        self != Self::Outsider || outsiders_see_courier(status)
    }
}

/// The rule, in one place: what `reader` learns of `courier_id`, who
/// carries a package in `status`.
pub fn exposure(
    reader: Reader,
    status: crate::domain::PackageStatus,
    courier_id: Uuid,
) -> Exposure {
    exposure_when(reader, outsiders_see_courier(status), courier_id)
}

/// Whether the reader sees the trail a package travelled with this courier
/// (a full exposure: outsiders never see a courier's trail).
pub fn sees_trail(reader: Reader, courier_id: Uuid) -> bool {
    exposure_when(reader, false, courier_id) == Exposure::Full
}

/// [`exposure`], with whether the package's outsiders see it move already
/// decided (a live event carries that, not the status).
pub fn exposure_when(reader: Reader, outsiders_see: bool, courier_id: Uuid) -> Exposure {
    match reader {
        Reader::Dispatch => Exposure::Full,
        Reader::Courier(id) if id == courier_id => Exposure::Full,
        _ if outsiders_see => Exposure::Position,
        _ => Exposure::Nothing,
    }
}

/// Whether a package's outsiders (its customer, the public page) see it
/// move with its courier: only once it is out for delivery.
pub fn outsiders_see_courier(status: crate::domain::PackageStatus) -> bool {
    status == crate::domain::PackageStatus::OutForDelivery
}

/// Whether a package in this status can ride with a courier at all (reads
/// of other packages skip the query).
pub fn may_ride(view: &PackageView) -> bool {
    use crate::domain::PackageStatus::{InTransit, OutForDelivery};
    matches!(view.status, InTransit | OutForDelivery)
}

/// The view as it reads aboard `carrier` to a reader with `exposure`: the
/// courier named (staff only), and the courier's latest fix as the
/// package's position when it was taken while aboard and is newer than the
/// package's own.
pub fn aboard(
    view: &mut PackageView,
    carrier: &Carrier,
    rules: &PresenceRules,
    now: DateTime<Utc>,
    exposure: Exposure,
) {
    if exposure == Exposure::Nothing {
        return;
    }
    view.courier = (exposure == Exposure::Full).then(|| CourierAboard {
        id: carrier.courier_id,
        presence: carrier.heard_at.map(|heard| rules.at(heard, now)),
        battery_pct: carrier.battery_pct,
        last_fix_at: carrier.recorded_at,
    });
    let (Some(lat), Some(lon), Some(at)) =
        (carrier.latitude, carrier.longitude, carrier.recorded_at)
    else {
        return;
    };
    if at >= carrier.since_at && view.last_seen_at.is_none_or(|own| own < at) {
        view.latitude = Some(lat);
        view.longitude = Some(lon);
        view.last_seen_at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::couriers::Presence;
    use crate::domain::PackageStatus;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap_or_default()
    }

    fn view() -> PackageView {
        PackageView {
            id: Uuid::nil(),
            tracking_number: "TRK1".into(),
            sender_name: String::new(),
            sender_address: String::new(),
            recipient_name: String::new(),
            recipient_address: String::new(),
            status: PackageStatus::OutForDelivery,
            current_location: None,
            weight: None,
            description: None,
            latitude: Some(1.0),
            longitude: Some(1.0),
            last_seen_at: Some(t(100)),
            version: 1,
            created_at: t(0),
            updated_at: t(0),
            owner_id: None,
            recipient_email: None,
            seq: None,
            courier: None,
            zones: None,
            destination: None,
            promised_by: None,
            eta: None,
        }
    }

    fn carrier(recorded: i64, since: i64) -> Carrier {
        Carrier {
            courier_id: Uuid::from_u128(9),
            since_at: t(since),
            latitude: Some(5.0),
            longitude: Some(6.0),
            recorded_at: Some(t(recorded)),
            heard_at: Some(t(recorded)),
            battery_pct: Some(40.0),
        }
    }

    #[test]
    fn a_newer_fix_taken_aboard_is_the_packages_position() {
        let mut moved = view();
        aboard(
            &mut moved,
            &carrier(200, 150),
            &PresenceRules::default(),
            t(210),
            Exposure::Full,
        );
        assert_eq!(
            (moved.latitude, moved.longitude, moved.last_seen_at),
            (Some(5.0), Some(6.0), Some(t(200)))
        );
        let named = moved.courier.expect("the courier is named");
        assert_eq!(
            (named.presence, named.battery_pct),
            (Some(Presence::Online), Some(40.0))
        );
    }

    #[test]
    fn a_fix_from_before_boarding_or_older_than_the_packages_own_is_not() {
        let mut before_boarding = view();
        aboard(
            &mut before_boarding,
            &carrier(200, 250),
            &PresenceRules::default(),
            t(260),
            Exposure::Full,
        );
        assert_eq!(before_boarding.latitude, Some(1.0));
        let mut older = view();
        aboard(
            &mut older,
            &carrier(90, 50),
            &PresenceRules::default(),
            t(100),
            Exposure::Full,
        );
        assert_eq!(older.last_seen_at, Some(t(100)));
        assert!(older.courier.is_some(), "the courier is still named");
    }

    #[test]
    fn outsiders_get_the_position_once_out_for_delivery_and_never_the_courier() {
        let mut in_transit = view();
        in_transit.status = PackageStatus::InTransit;
        let rules = PresenceRules::default();
        let carl = Uuid::from_u128(7);
        let transit = in_transit.status;
        assert_eq!(exposure(Reader::Outsider, transit, carl), Exposure::Nothing);
        assert_eq!(exposure(Reader::Dispatch, transit, carl), Exposure::Full);
        assert_eq!(
            exposure(Reader::Courier(carl), transit, carl),
            Exposure::Full
        );
        // Another courier who sees the package learns no more than its
        // customer would.
        let dora = Reader::Courier(Uuid::from_u128(8));
        assert_eq!(exposure(dora, transit, carl), Exposure::Nothing);
        assert_eq!(
            exposure(dora, PackageStatus::OutForDelivery, carl),
            Exposure::Position
        );
        assert!(dora.may_learn(transit) && !Reader::Outsider.may_learn(transit));
        aboard(
            &mut in_transit,
            &carrier(200, 150),
            &rules,
            t(210),
            Exposure::Nothing,
        );
        assert_eq!(
            (in_transit.latitude, in_transit.courier.is_none()),
            (Some(1.0), true)
        );
        let mut out = view();
        assert_eq!(
            exposure(Reader::Outsider, out.status, carl),
            Exposure::Position
        );
        aboard(
            &mut out,
            &carrier(200, 150),
            &rules,
            t(210),
            Exposure::Position,
        );
        assert_eq!((out.latitude, out.courier.is_none()), (Some(5.0), true));
    }
}
