//! Geofences in the workers: zone commands written to MongoDB by the
//! package pool ([`writes`]), and each location window's fixes evaluated
//! against the zones near them by the location pool ([`Geofencing`]).
//!
//! - [`zones`]: the zones in memory, reloaded when they change;
//! - [`evaluate`]: the pure core, one subject's fixes into transitions;
//! - [`standing`]: where packages and couriers stand, in PostgreSQL;
//! - [`notify`]: transitions into numbered package notices and courier
//!   notices (arrival notices are numbered here too, [`crate::arrivals`]);
//! - [`subjects`]: a window's fixes, by package and courier;
//! - [`order`]: windows evaluated in the order they began.
//!
//! A window is evaluated in one transaction after its points are stored:
//! a crash in between redelivers the window, whose fixes are then newer
//! than the subjects' last and evaluated; a window evaluated already is
//! not again (its fixes are not newer), but its notices are announced again.

pub mod evaluate;
pub(crate) mod notify;
pub mod order;
mod standing;
mod subjects;
pub mod writes;
pub mod zones;

use shared::couriers::{CourierMoved, CourierNotice};
use shared::packages::notices::PackageNotice;
use shared::wire::LocationsRecorded;
use sqlx::PgPool;
use subjects::Subjects;
pub use writes::ZoneWriter;
pub use zones::{ZoneCache, ZoneCacheError};

/// What a window's fixes came to with the zones.
#[derive(Default)]
pub struct ZoneNotices {
    pub packages: Vec<PackageNotice>,
    pub couriers: Vec<CourierNotice>,
    /// Packages whose view changed (new seq, zones), with their version.
    pub changed: Vec<(String, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum GeofenceError {
    #[error(transparent)]
    Zones(#[from] ZoneCacheError),
    #[error("zone standing unavailable: {0}")]
    Postgres(#[from] sqlx::Error),
}

impl GeofenceError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Zones(_) => true,
            Self::Postgres(error) => shared::db::is_transient(error),
        }
    }
}

/// The notice kinds zones decide (arrivals decide the others).
const ZONE_KINDS: [&str; 4] = [
    "geofence_entered",
    "geofence_exited",
    "geofence_dwelled",
    "geofence_crossed",
];

pub struct Geofencing {
    pub pool: PgPool,
    pub zones: ZoneCache,
    /// Turns taken by windows as they begin.
    pub order: order::WindowOrder,
}

impl Geofencing {
    /// Evaluates a stored window's package points and courier fixes.
    pub async fn apply(
        &self,
        recorded: &[&LocationsRecorded],
        moved: &[&CourierMoved],
    ) -> Result<ZoneNotices, GeofenceError> {
        let zones = self.zones.current(&self.pool).await?;
        if zones.is_empty() || (recorded.is_empty() && moved.is_empty()) {
            return Ok(ZoneNotices::default());
        }
        let subjects = Subjects::of(&self.pool, recorded, moved).await?;
        let mut tx = self.pool.begin().await?;
        let mut standings = standing::lock(&mut tx, &subjects.ids()).await?;
        let decided = subjects.evaluate(&zones, &mut standings);
        let names = zones_named(&zones, &standings);
        standing::store(&mut tx, &standings, &names).await?;
        let changed = notify::record_packages(&mut tx, &decided.packages).await?;
        notify::record_couriers(&mut tx, &decided.couriers).await?;
        tx.commit().await?;
        let (packages, couriers) =
            notify::decided_by(&self.pool, &subjects.point_ids(), &ZONE_KINDS).await?;
        Ok(ZoneNotices {
            packages,
            couriers,
            changed,
        })
    }
}

/// The names of the zones the subjects stand in, kept beside their sides.
fn zones_named(
    zones: &shared::geofences::ZoneIndex,
    standings: &std::collections::HashMap<uuid::Uuid, evaluate::Standing>,
) -> std::collections::HashMap<uuid::Uuid, String> {
    standings
        .values()
        .flat_map(|s| s.sides.keys())
        .filter_map(|id| Some((*id, zones.get(id)?.name.clone())))
        .collect()
}
