//! The broadcaster: live updates in order, and recovery from lost events and connections.

mod live;
mod recovery;
