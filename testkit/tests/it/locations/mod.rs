//! Locations: posting points, the location pool, the measurements points carry.

mod measurements;
mod posting;
mod worker;
