//! `dt-sim`: a fleet of couriers driving runs through a street grid around
//! a city centre (no map, no network beyond DeliverTrack), posting fixes as
//! their phones would and delivering their parcels on the way.
//!
//! - [`grid`]: the streets, and a drive between two corners (pure);
//! - [`driver`]: one run in simulated time: stops, service, back to the
//!   depot (pure);
//! - [`api`]: setting up couriers, devices, parcels and runs; posting fixes
//!   over OsmAnd or the JSON API;
//! - [`fleet`]: one task per courier, tying them together.
//!
//! `dt-bench couriers` uses [`fleet::enlist`] and [`fleet::load_van`] to set
//! up its couriers.

pub mod api;
pub mod driver;
pub mod fleet;
pub mod grid;
