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

    /// A number the server assigns: `DT`, 20 characters of Crockford's
    /// base 32 (100 bits, the first 100 of `digest`: a keyed MAC of the
    /// command's event id, so nobody can guess one from what they see, and a
    /// retried create proposes the same one), and a check character, so a
    /// mistyped number is told apart from a stranger's.
    pub fn assigned(digest: &[u8]) -> Self {
        let mut bits: u128 = 0;
        for byte in digest.iter().take(13) {
            bits = (bits << 8) | u128::from(*byte);
        }
        // 104 bits read; the top 100 are used.
        bits >>= 4;
        let mut body = String::with_capacity(ASSIGNED_LEN);
        for i in (0..20).rev() {
            body.push(char::from(CROCKFORD[((bits >> (i * 5)) & 31) as usize]));
        }
        let check = char::from(CROCKFORD[check_value(&body)]);
        Self(format!("{ASSIGNED_PREFIX}{body}{check}"))
    }

    /// Whether this has the form of a number the server assigned, with a
    /// check character that matches.
    pub fn is_assigned(&self) -> bool {
        let Some(rest) = self.0.strip_prefix(ASSIGNED_PREFIX) else {
            return false;
        };
        if rest.len() != 21 || !rest.bytes().all(|b| CROCKFORD.contains(&b)) {
            return false;
        }
        let (body, check) = rest.split_at(20);
        CROCKFORD[check_value(body)] == check.as_bytes()[0]
    }
}

const ASSIGNED_PREFIX: &str = "DT";
const ASSIGNED_LEN: usize = 20;
/// Crockford's base 32: no I, L, O or U, which are misread.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Luhn mod 32 over the characters' values: catches every single-character
/// error and every swap of neighbours.
fn check_value(body: &str) -> usize {
    let mut sum = 0;
    for (i, byte) in body.bytes().rev().enumerate() {
        let value = CROCKFORD.iter().position(|c| *c == byte).unwrap_or(0);
        let weighted = if i % 2 == 0 { value * 2 } else { value };
        sum += weighted / 32 + weighted % 32;
    }
    (32 - sum % 32) % 32
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
    fn assigned_numbers_are_well_formed_distinct_and_checked() {
        let a = TrackingNumber::assigned(&[7u8; 32]);
        let b = TrackingNumber::assigned(&[8u8; 32]);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 23);
        assert!(TrackingNumber::parse(a.as_str()).is_ok(), "{a}");
        assert!(a.is_assigned() && b.is_assigned());
        // One character changed, or two neighbours swapped: caught.
        let text = a.as_str().to_owned();
        for at in 2..22 {
            let mut bytes = text.clone().into_bytes();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            let changed = TrackingNumber(String::from_utf8(bytes).unwrap());
            assert!(!changed.is_assigned(), "a change at {at} goes unseen");
        }
        let mut swapped = text.into_bytes();
        let at = (2..21).find(|&i| swapped[i] != swapped[i + 1]).unwrap();
        swapped.swap(at, at + 1);
        assert!(!TrackingNumber(String::from_utf8(swapped).unwrap()).is_assigned());
        assert!(!TrackingNumber::parse("TRK123456789").unwrap().is_assigned());
    }

    #[test]
    fn deserialization_validates() {
        let bad: Result<TrackingNumber, _> = serde_json::from_str("\"a.b.c.d\"");
        assert!(bad.is_err());
    }
}
