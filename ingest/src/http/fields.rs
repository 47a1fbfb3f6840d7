//! The 422 for the problems [`Fields`] collected.

use super::Reply;
use hyper::StatusCode;
pub use shared::fields::Fields;
use std::collections::BTreeMap;

/// Answering for a [`Fields`] once every field was read.
pub trait Finish {
    /// `Ok(())` when every field was fine, else a 422 naming each bad one.
    fn finish(self) -> Result<(), Reply>;
}

impl Finish for Fields<'_> {
    fn finish(self) -> Result<(), Reply> {
        let errors = self.into_errors();
        if errors.is_empty() {
            return Ok(());
        }
        Err(invalid_fields(errors))
    }
}

/// A 422 naming each bad field.
pub fn invalid_fields(fields: BTreeMap<String, String>) -> Reply {
    let error = fields
        .iter()
        .map(|(field, problem)| format!("{field} {problem}"))
        .collect::<Vec<_>>()
        .join("; ");
    Reply::json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &super::response::InvalidFields { error, fields },
    )
}
