//! Locations: posting points, the location pool, the measurements points carry.

mod announce;
mod measurements;
mod posting;
mod worker;
