//! Reading a query string's parameters: each present, non-empty one parsed
//! or refused with a 422 that names it. An empty value is the same as none.

use super::error::ApiError;
use chrono::{DateTime, Utc};
use std::str::FromStr;

/// A request's query string (`None`: it has none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a>(pub Option<&'a str>);

impl<'a> Query<'a> {
    pub fn new(raw: Option<&'a str>) -> Self {
        Self(raw)
    }

    /// The parameter percent-decoded; `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        query_param(self.0, name).filter(|value| !value.is_empty())
    }

    /// The parameter as a `T`; a value that does not parse is a 422 saying
    /// `problem`.
    pub fn parsed<T: FromStr>(&self, name: &str, problem: &str) -> Result<Option<T>, ApiError> {
        self.text(name)
            .map(|raw| raw.parse::<T>().map_err(|_| ApiError::invalid(problem)))
            .transpose()
    }

    /// The parameter as a `T` whose own parse error says what is wrong.
    pub fn value<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.text(name)
            .map(|raw| {
                raw.parse::<T>()
                    .map_err(|e| ApiError::invalid(e.to_string()))
            })
            .transpose()
    }

    /// An RFC 3339 timestamp.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name)
            .map(|raw| {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| ApiError::invalid(format!("{name} must be an RFC 3339 timestamp")))
            })
            .transpose()
    }

    /// `?limit=`: a whole number from 1 (larger asks than `max` get `max`),
    /// `default` when absent.
    pub fn limit(&self, default: i64, max: i64) -> Result<i64, ApiError> {
        match self.text("limit") {
            None => Ok(default),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(n.min(max)),
                _ => Err(ApiError::invalid(format!(
                    "limit must be a whole number from 1 to {max}"
                ))),
            },
        }
    }
}

/// The value of one query-string parameter, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found_and_decoded() {
        let q = Some("status=in_transit&limit=5&cursor=a%3Ab&x");
        assert_eq!(query_param(q, "status").as_deref(), Some("in_transit"));
        assert_eq!(query_param(q, "limit").as_deref(), Some("5"));
        assert_eq!(query_param(q, "cursor").as_deref(), Some("a:b"));
        assert_eq!(query_param(q, "x").as_deref(), Some(""));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(Some("a=%"), "a").as_deref(), Some("%"));
        assert_eq!(query_param(Some("a=%4"), "a").as_deref(), Some("%4"));
    }

    #[test]
    fn values_parse_or_name_their_problem() {
        let q = Query::new(Some("limit=5000&day=&since=yesterday&n=x"));
        assert_eq!(q.limit(100, 1000).ok(), Some(1000));
        assert_eq!(Query::new(None).limit(100, 1000).ok(), Some(100));
        assert!(Query::new(Some("limit=0")).limit(100, 1000).is_err());
        assert!(matches!(q.parsed::<i32>("day", "bad day"), Ok(None)));
        assert_eq!(
            q.time("since").err().map(|e| e.to_string()).as_deref(),
            Some("since must be an RFC 3339 timestamp")
        );
        assert_eq!(
            q.parsed::<i32>("n", "n must be a number")
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("n must be a number")
        );
    }
}
