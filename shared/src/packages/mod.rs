//! The packages flow's data, in one place: the package as the API shows it
//! ([`view`]), what its watchers and requesters are told ([`events`]), every
//! read of its tables outside the workers that write them ([`reads`],
//! [`history`], [`feed`]), and what WebSocket clients see of it
//! ([`render`]: status updates, live and read back alike, as the
//! `package_update` frame of [`crate::frames`]); [`aboard`]: a package
//! riding with a courier reads with the courier's latest fix; [`notices`]:
//! zone and arrival events the workers raise on their own; [`bulk`]:
//! packages written straight and many at once, for `dt-bench scale`.
//!
//! The tables: `packages` (one row per package: its state, its latest
//! position and its event counter `event_seq`), `status_events` (each
//! creation and status change) and `package_events` (each numbered event:
//! status changes and location points, by `seq`). The package workers write
//! them (`workers/src/packages/store.rs`); the location workers number
//! points and move latest positions (`workers/src/locations/`). Everything
//! else reads them through this folder (`scripts/check-shape.py` checks it).

pub mod aboard;
pub mod bulk;
pub mod events;
pub mod feed;
pub mod history;
pub mod notices;
pub mod reads;
pub mod render;
mod view;

pub use events::{PackageCreated, PackageEvent, PlanChanged, StatusChanged};
pub use history::StatusEventRow;
pub use view::{CourierAboard, PackageView, Place};
