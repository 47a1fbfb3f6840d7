use serde::{Deserialize, Serialize};
use std::fmt;

/// A package's public identifier: 4 to 64 characters of `A-Z a-z 0-9 - _`.
///
/// The character set keeps it safe in URL paths, Redis keys and AMQP routing keys
/// (where `.` separates words and would break `package.<tn>.*` bindings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingNumberError {
    #[error("tracking_number must be 4 to 64 characters long")]
    Length,
    #[error("tracking_number may contain only letters, digits, '-' and '_'")]
    Characters,
}

impl TrackingNumber {
    pub const MIN_LEN: usize = 4;
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, TrackingNumberError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&raw.len()) {
            return Err(TrackingNumberError::Length);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TrackingNumberError::Characters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TrackingNumber {
    type Error = TrackingNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TrackingNumber> for String {
    fn from(value: TrackingNumber) -> Self {
        value.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_original_format() {
        assert_eq!(
            TrackingNumber::parse("TRK123456789").unwrap().as_str(),
            "TRK123456789"
        );
        assert!(TrackingNumber::parse("ab-_09").is_ok());
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        assert_eq!(
            TrackingNumber::parse("TRK"),
            Err(TrackingNumberError::Length)
        );
        assert_eq!(
            TrackingNumber::parse(&"A".repeat(65)),
            Err(TrackingNumberError::Length)
        );
        assert_eq!(
            TrackingNumber::parse("TRK.1234"),
            Err(TrackingNumberError::Characters)
        );
        assert_eq!(
            TrackingNumber::parse("TRK 1234"),
            Err(TrackingNumberError::Characters)
        );
        assert_eq!(
            TrackingNumber::parse("TRK/1234"),
            Err(TrackingNumberError::Characters)
        );
        assert_eq!(
            TrackingNumber::parse("TRKé1234"),
            Err(TrackingNumberError::Characters)
        );
    }

    #[test]
    fn deserialization_validates() {
        let bad: Result<TrackingNumber, _> = serde_json::from_str("\"a.b.c.d\"");
        assert!(bad.is_err());
    }
}
