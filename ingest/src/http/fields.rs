//! The 422 for the problems [`Fields`] collected.

use super::ApiError;
pub use shared::fields::Fields;

/// Answering for a [`Fields`] once every field was read.
pub trait Finish {
    /// `Ok(())` when every field was fine, else a 422 naming each bad one.
    fn finish(self) -> Result<(), ApiError>;
}

impl Finish for Fields<'_> {
    fn finish(self) -> Result<(), ApiError> {
        let errors = self.into_errors();
        if errors.is_empty() {
            return Ok(());
        }
        Err(ApiError::fields(errors))
    }
}
