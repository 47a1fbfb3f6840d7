//! The locations flow's data, in one place: what a point is on the wire
//! ([`point`]; a courier's own report: [`report`]), how a posted one is read ([`parse`], and [`decode`] for
//! batches in every format), how it is stored in MongoDB ([`stored`]: the
//! documents, collection names and queries), and what clients see of it
//! ([`render`]: reads and WebSocket updates).
//!
//! The services only move these values: ingest parses and publishes, the
//! location pool stores, ingest reads back, the broadcaster renders. A new
//! measurement is one field of [`Measurements`].

pub mod decode;
pub mod parse;
pub mod point;
pub mod render;
pub mod report;
pub mod stored;

pub use point::{LocationBatch, LocationPoint, LocationsRecorded, Measurements, RecordedPoint};
pub use report::{Attribute, Attributes, Battery, CourierPoint};
