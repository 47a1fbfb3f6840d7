//! Messages on the wire: envelopes round-trip, and every decoder of outside bytes fuzzed.

mod fuzz;
mod roundtrip;
