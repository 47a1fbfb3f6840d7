//! Arrival estimates: when each remaining stop of a courier's run will be
//! reached, learned from the runs couriers complete. Pure, so the location
//! workers and the replay harness (`dt-bench eta-replay`) run the same code.
//!
//! - [`estimate`]: a run's remaining stops, in order, into an [`Eta`] each;
//! - [`legs`]: one courier's fixes into what they teach (a leg's road
//!   factor on arriving at a stop, a stop's service time on leaving it)
//!   and their recent speed between stops;
//! - [`cells`]: what was learned, per city-sized cell, blended with priors;
//! - [`follow`]: one courier's new fixes against its run: what they teach
//!   and what to tell each stop's watchers;
//! - [`alerts`]: a fresh estimate against the one announced and the
//!   promise: whether to announce it (`eta_changed`) or warn
//!   (`delivery_at_risk`).
//!
//! [`Eta`]: crate::notices::Eta

pub mod alerts;
pub mod cells;
pub mod estimate;
pub mod follow;
pub mod legs;

pub use alerts::{decide, Announced, Decision};
pub use cells::{CellKey, Learned};
pub use estimate::{estimate, Pace, Stop};
pub use follow::{follow, Followed, RunStop};
pub use legs::{Leg, Sample};
