//! What a [`crate::hub`] key names: one package (its tracking number), the
//! every-package feed (`*`), or one courier (`courier:<id>`). No tracking
//! number contains `*` or `:`, so the three never collide.

/// The key under which clients watching every package are kept (no
/// tracking number can be `*`); its broker binding `package.*.*` takes every
/// package's events.
pub const EVERY_PACKAGE: &str = "*";

/// The keys of clients watching one courier: `courier:<id>` (no tracking
/// number has a colon).
const COURIER_PREFIX: &str = "courier:";

pub fn courier_key(courier_id: uuid::Uuid) -> String {
    format!("{COURIER_PREFIX}{courier_id}")
}

/// The courier a key names, if it names one.
pub fn courier_of(key: &str) -> Option<uuid::Uuid> {
    key.strip_prefix(COURIER_PREFIX)
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
}

/// Whether the key is one package's: events in seq order, read back from
/// the stores (the feed and couriers have no such stream).
pub fn is_package(key: &str) -> bool {
    key != EVERY_PACKAGE && !key.starts_with(COURIER_PREFIX)
}
