//! Keyset pagination: a listing's next page starts after the last row of
//! the one before, named by a cursor the API hands out in a `Link` header.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A position in a newest-first listing: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.simple()
        )
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let (micros, id) = raw.split_once('_')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    /// The row it names, as the stores' reads take it.
    pub fn key(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }

    /// Where the next page starts, when this one is full (`None`: it is the
    /// last). `key`: a row's `(created_at, id)`.
    pub fn after_full_page<T>(
        rows: &[T],
        limit: i64,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Option<Self> {
        let last = rows.last().filter(|_| rows.len() as i64 == limit)?;
        let (created_at, id) = key(last);
        Some(Self { created_at, id })
    }

    /// The `Link` header to the next page: the listing's path and query
    /// before the cursor, and what follows it.
    pub fn link(&self, before: &str, after: &str) -> String {
        format!("<{before}&cursor={}{after}>; rel=\"next\"", self.encode())
    }
}

impl std::str::FromStr for Cursor {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        Self::parse(raw).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_roundtrip_and_reject_garbage() {
        let cursor = Cursor {
            created_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: uuid::Uuid::new_v4(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::parse("nope"), None);
        assert_eq!(Cursor::parse("12_notauuid"), None);
    }
}
