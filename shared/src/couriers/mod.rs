//! The couriers flow's data: a courier's (or their device's) own position
//! reports, how they travel, are stored and read, and what packages aboard
//! make of them.
//!
//! - [`events`]: what a courier's watchers are told (moves, presence);
//! - [`osmand`]: reading a report in the OsmAnd protocol (Traccar Client,
//!   OsmAnd, hardware trackers), a pure decoder;
//! - [`parse`]: reading a report posted to the JSON API;
//! - [`presence`]: online, stale or offline, from when a device was last heard;
//! - [`render`]: what watchers (and webhook endpoints) read of an event;
//! - [`stored`]: the courier history documents in MongoDB;
//! - [`reads`]: the couriers' latest positions and a package's carriage
//!   stretches, read from PostgreSQL.

pub mod events;
pub mod osmand;
pub mod parse;
pub mod presence;
pub mod reads;
pub mod render;
pub mod stored;

/// A report as it travels (ingest → location workers), with the battery
/// and free-form attributes a tracker sends: a location message's part.
pub use crate::locations::report::{limits, Attribute, Attributes, Battery, CourierPoint};
pub use events::{CourierEvent, CourierFix, CourierMoved, CourierNotice, Riding};
pub use presence::{Presence, PresenceRules};
