//! A window's fixes by subject: each package with points of its own, each
//! courier with fixes and the packages riding with them, and what their
//! transitions tell whom.

use super::evaluate::{self, Happened, PointFix, Standing};
use super::notify::{notice_of, CourierDraft, Draft};
use shared::couriers::{CourierMoved, CourierNotice};
use shared::geofences::{Fix, Side, Subject, Transition, ZoneIndex};
use shared::wire::LocationsRecorded;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// The least accuracy a fix is taken to have, in metres.
const MIN_ACCURACY_M: f64 = 5.0;

struct PackageSubject<'w> {
    id: Uuid,
    tracking_number: &'w str,
    fixes: Vec<PointFix>,
}

struct CourierSubject<'w> {
    id: Uuid,
    fixes: Vec<PointFix>,
    aboard: Vec<Aboard<'w>>,
}

struct Aboard<'w> {
    id: Uuid,
    tracking_number: &'w str,
    /// Whether its watchers may see the courier's position.
    public: bool,
    since_at: chrono::DateTime<chrono::Utc>,
}

pub struct Subjects<'w> {
    packages: Vec<PackageSubject<'w>>,
    couriers: Vec<CourierSubject<'w>>,
}

/// The notices a window decided, before they are numbered.
#[derive(Default)]
pub struct Decided {
    pub packages: Vec<Draft>,
    pub couriers: Vec<CourierDraft>,
}

impl<'w> Subjects<'w> {
    pub async fn of(
        pool: &PgPool,
        recorded: &[&'w LocationsRecorded],
        moved: &[&'w CourierMoved],
    ) -> Result<Self, sqlx::Error> {
        let packages = recorded
            .iter()
            .map(|r| PackageSubject {
                id: r.package_id,
                tracking_number: r.tracking_number.as_str(),
                fixes: r
                    .points
                    .iter()
                    .map(|p| {
                        fix(
                            p.point_id,
                            p.coordinates,
                            p.recorded_at,
                            p.measurements.accuracy_m,
                        )
                    })
                    .collect(),
            })
            .collect();
        let riding: Vec<&str> = moved
            .iter()
            .flat_map(|m| m.packages.iter().map(|r| r.tracking_number.as_str()))
            .collect();
        let ids: HashMap<String, Uuid> = if riding.is_empty() {
            HashMap::new()
        } else {
            shared::packages::reads::ids(pool, &riding)
                .await?
                .into_iter()
                .collect()
        };
        let couriers = moved.iter().map(|m| courier(m, &ids)).collect();
        Ok(Self { packages, couriers })
    }

    /// Every subject whose standing the window may move.
    pub fn ids(&self) -> Vec<Uuid> {
        let packages = self.packages.iter().map(|p| p.id);
        let couriers = self.couriers.iter().map(|c| c.id);
        let aboard = self
            .couriers
            .iter()
            .flat_map(|c| c.aboard.iter().map(|a| a.id));
        packages.chain(couriers).chain(aboard).collect()
    }

    pub fn point_ids(&self) -> Vec<Uuid> {
        let packages = self.packages.iter().flat_map(|p| &p.fixes);
        let couriers = self.couriers.iter().flat_map(|c| &c.fixes);
        packages.chain(couriers).map(|p| p.point_id).collect()
    }

    /// Steps every subject and says whom to tell what.
    pub fn evaluate(&self, zones: &ZoneIndex, standings: &mut HashMap<Uuid, Standing>) -> Decided {
        let mut decided = Decided::default();
        for package in &self.packages {
            let standing = standings.entry(package.id).or_default();
            let subject = Subject::Package(package.tracking_number);
            for happened in
                evaluate::evaluate(zones, |z| z.watches(subject), standing, &package.fixes)
            {
                decided.packages.push(draft(package.id, &happened, true));
            }
        }
        for courier in &self.couriers {
            let aboard: Vec<&str> = courier.aboard.iter().map(|a| a.tracking_number).collect();
            let standing = standings.entry(courier.id).or_default();
            let watches = |z: &shared::geofences::Zone| {
                evaluate::watches_courier_or_aboard(z, courier.id, &aboard)
            };
            for happened in evaluate::evaluate(zones, watches, standing, &courier.fixes) {
                if happened.zone.watches(Subject::Courier(courier.id)) {
                    decided.couriers.push(courier_draft(courier.id, &happened));
                }
                tell_aboard(courier, &happened, standings, &mut decided);
            }
        }
        decided
    }
}

/// A courier's transition is also the transition of each package riding
/// with them since before the fix that the zone watches, and whose
/// outsiders may see the courier's position (out for delivery): a
/// package's watchers learn nothing of where a courier is that its
/// exposure would hide, so packages merely in transit get none, and no
/// notice of theirs carries the courier's coordinates (no trail either).
/// Their standing follows the courier's.
fn tell_aboard(
    courier: &CourierSubject<'_>,
    happened: &Happened,
    standings: &mut HashMap<Uuid, Standing>,
    decided: &mut Decided,
) {
    let at = happened.point.fix.recorded_at;
    for package in &courier.aboard {
        if !package.public
            || package.since_at > at
            || !happened
                .zone
                .watches(Subject::Package(package.tracking_number))
        {
            continue;
        }
        decided.packages.push(draft(package.id, happened, false));
        let sides = &mut standings.entry(package.id).or_default().sides;
        match happened.transition {
            Transition::Entered { at } => {
                sides.insert(
                    happened.zone.id,
                    Side {
                        inside: true,
                        pending_since: None,
                        entered_at: Some(at),
                        dwelled: false,
                    },
                );
            }
            Transition::Exited { .. } => {
                sides.remove(&happened.zone.id);
            }
            Transition::Dwelled { .. } => {
                if let Some(side) = sides.get_mut(&happened.zone.id) {
                    side.dwelled = true;
                }
            }
            Transition::Crossed { .. } => {}
        }
    }
}

fn draft(package_id: Uuid, happened: &Happened, located: bool) -> Draft {
    let (event_id, occurred_at, notice) = notice_of(package_id, happened, located);
    Draft {
        package_id,
        event_id,
        point_id: happened.point.point_id,
        occurred_at,
        notice,
    }
}

fn courier_draft(courier_id: Uuid, happened: &Happened) -> CourierDraft {
    let (event_id, occurred_at, notice) = notice_of(courier_id, happened, true);
    CourierDraft {
        point_id: happened.point.point_id,
        notice: CourierNotice {
            courier_id,
            event_id,
            occurred_at,
            notice,
        },
    }
}

fn courier<'w>(moved: &'w CourierMoved, ids: &HashMap<String, Uuid>) -> CourierSubject<'w> {
    CourierSubject {
        id: moved.courier_id,
        fixes: moved
            .points
            .iter()
            .map(|p| {
                fix(
                    p.point_id,
                    p.coordinates,
                    p.recorded_at,
                    p.measurements.accuracy_m,
                )
            })
            .collect(),
        aboard: moved
            .packages
            .iter()
            .filter_map(|r| {
                Some(Aboard {
                    id: *ids.get(&r.tracking_number)?,
                    tracking_number: r.tracking_number.as_str(),
                    public: r.public,
                    since_at: r.since_at,
                })
            })
            .collect(),
    }
}

fn fix(
    point_id: Uuid,
    at: shared::domain::Coordinates,
    recorded_at: chrono::DateTime<chrono::Utc>,
    accuracy_m: Option<f64>,
) -> PointFix {
    PointFix {
        point_id,
        fix: Fix {
            at,
            recorded_at,
            // No fix is better than a few metres, whatever a device says:
            // a border is crossed "clearly" only past that.
            accuracy_m: accuracy_m
                .filter(|a| a.is_finite())
                .unwrap_or(0.0)
                .max(MIN_ACCURACY_M),
        },
    }
}
