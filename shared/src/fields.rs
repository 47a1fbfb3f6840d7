//! Typed extraction of JSON object fields, collecting every problem so an
//! answer can name each bad field at once (ingest turns them into a 422).

use crate::domain::BoundedText;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: BTreeMap<String, String>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: BTreeMap::new(),
        }
    }

    /// Records a problem with `field` (the first one per field is kept).
    pub fn invalid(&mut self, field: &str, problem: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_insert_with(|| problem.into());
    }

    /// The field's value; `null` counts as absent.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    pub fn required_str(&mut self, field: &str) -> Option<&'a str> {
        match self.get(field) {
            None => {
                self.invalid(field, "is required");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.invalid(field, "must be a string");
                None
            }
        }
    }

    pub fn optional_str(&mut self, field: &str) -> Option<&'a str> {
        match self.get(field) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.invalid(field, "must be a string");
                None
            }
        }
    }

    /// A required string read by `parse`, whose error is the field's problem.
    pub fn required_with<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let raw = self.required_str(field)?;
        parse(raw)
            .map_err(|e| self.invalid(field, e.to_string()))
            .ok()
    }

    /// An optional string read by `parse`, whose error is the field's problem.
    pub fn optional_with<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let raw = self.optional_str(field)?;
        parse(raw)
            .map_err(|e| self.invalid(field, e.to_string()))
            .ok()
    }

    pub fn required_text(&mut self, field: &str, max_chars: usize) -> Option<BoundedText> {
        let raw = self.required_str(field)?;
        self.text(field, raw, max_chars)
    }

    pub fn optional_text(&mut self, field: &str, max_chars: usize) -> Option<BoundedText> {
        let raw = self.optional_str(field)?;
        self.text(field, raw, max_chars)
    }

    fn text(&mut self, field: &str, raw: &str, max_chars: usize) -> Option<BoundedText> {
        BoundedText::parse(raw, max_chars)
            .map_err(|e| self.invalid(field, e.to_string()))
            .ok()
    }

    pub fn optional_number(&mut self, field: &str) -> Option<f64> {
        match self.get(field) {
            None => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v.is_finite() => Some(v),
                _ => {
                    self.invalid(field, "must be a finite number");
                    None
                }
            },
            Some(_) => {
                self.invalid(field, "must be a number");
                None
            }
        }
    }

    /// An optional number in `(0, max]`, else `problem`.
    pub fn optional_positive(&mut self, field: &str, max: f64, problem: &str) -> Option<f64> {
        let value = self.optional_number(field)?;
        if value > 0.0 && value <= max {
            Some(value)
        } else {
            self.invalid(field, problem);
            None
        }
    }

    /// The problems found so far, by field.
    pub fn into_errors(self) -> BTreeMap<String, String> {
        self.errors
    }
}
