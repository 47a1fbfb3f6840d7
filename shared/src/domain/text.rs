use serde::{Deserialize, Serialize};

/// Free text a person typed (names, addresses, descriptions): trimmed, not empty,
/// at most `MAX` characters, no control characters other than newline and tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BoundedText(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    Control,
}

impl BoundedText {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, TextError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TextError::Empty);
        }
        if trimmed.chars().count() > max_chars {
            return Err(TextError::TooLong(max_chars));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(TextError::Control);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(BoundedText::parse("  Ann  ", 10).unwrap().as_str(), "Ann");
        assert_eq!(BoundedText::parse("   ", 10), Err(TextError::Empty));
        assert_eq!(BoundedText::parse("ééééé", 4), Err(TextError::TooLong(4)));
        assert_eq!(BoundedText::parse("a\u{0}b", 10), Err(TextError::Control));
        assert!(BoundedText::parse("line1\nline2", 20).is_ok());
    }
}
