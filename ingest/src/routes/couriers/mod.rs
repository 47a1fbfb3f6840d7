//! Couriers' own positions: what a courier's phone or tracker reports
//! ([`report`]: the JSON API; [`osmand`]: the OsmAnd protocol, for Traccar
//! Client and hardware trackers), and what dispatchers read ([`read`]:
//! each courier's latest fix and presence, a courier's trail).

pub mod osmand;
pub mod read;
pub mod report;
