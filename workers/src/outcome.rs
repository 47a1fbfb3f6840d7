//! What one command of a package window came to, whichever flow applied it
//! (a package's [`crate::packages`], an account's [`crate::accounts`]).

use shared::wire::Event;

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// For the requester; what of it a package's watchers see is published.
    pub event: Event,
    /// The package's version after a change, for invalidating its cached view;
    /// `None` when nothing changed (rejections, replays, account outcomes).
    pub changed_version: Option<i64>,
    /// Packages that left a courier in this window and took the courier's
    /// last fix as their position (their tracking number, new version):
    /// their cached views go too. On one outcome of the window.
    pub carried_off: Vec<(String, i64)>,
}

impl Outcome {
    /// Whether the command took effect (now or before): what the audit
    /// trail records. Rejections do not.
    pub fn applied(&self) -> bool {
        self.event.rejection().is_none()
    }

    /// An outcome that changed no package.
    pub fn unchanged(event: impl Into<Event>) -> Self {
        Self {
            event: event.into(),
            changed_version: None,
            carried_off: Vec::new(),
        }
    }
}
