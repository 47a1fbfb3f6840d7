//! Geofences: zones that packages and couriers enter, leave, dwell in or
//! pass through, and the events that say so.
//!
//! - [`geometry`]: a zone's shape (circle or GeoJSON polygon) and the
//!   containment, border-distance and segment questions asked of it;
//! - [`sides`]: the pure core: one subject's side of one zone moved one fix
//!   at a time, with hysteresis, dwell and crossing;
//! - [`zone`]: a zone as stored, carried and shown; [`parse`]: its fields
//!   read from a request;
//! - [`index`]: the zones near a path, from memory;
//! - [`stored`]: the MongoDB collection and its documents;
//! - [`presence`]: the zones a package or courier is in now; [`revision`]:
//!   the counter zone writers move so location workers reload.
//!
//! The location pool evaluates zones (`workers/src/geofences/`); the
//! events are package notices ([`crate::packages::notices`]) and courier
//! events ([`crate::couriers::CourierEvent::Geofence`]).

pub mod geometry;
pub mod index;
pub mod parse;
pub mod presence;
pub mod revision;
pub mod sides;
pub mod stored;
pub mod zone;

pub use geometry::Shape;
pub use index::ZoneIndex;
pub use sides::{Fix, Rules, Side, Transition};
pub use zone::{Subject, Zone, ZoneIn};
