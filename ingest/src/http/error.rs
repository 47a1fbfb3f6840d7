//! [`ApiError`]: the error side of every handler. What went wrong is named
//! here once, and mapped once to its status, its `{"error": ...}` body and
//! its headers ([`ApiError::into_reply`]); the OpenAPI document describes
//! the shared ones once too ([`super::documented`]).

use super::Reply;
use hyper::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;

/// Every error: `{"error": "..."}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// A 422 for fields: the summary and each bad field's problem.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvalidFields {
    pub error: String,
    pub fields: BTreeMap<String, String>,
}

/// One refused item of a list (a point of a batch): its index and each bad
/// field's problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvalidPoint {
    pub index: usize,
    pub fields: BTreeMap<String, String>,
}

/// A list with any invalid item is refused whole, every bad item named.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvalidBatch {
    pub error: String,
    pub points: Vec<InvalidPoint>,
}

/// Why a request is not answered with what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON or header, a bad link).
    #[error("{0}")]
    BadRequest(String),
    /// 401, with the challenge that says which scheme to use.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: the caller's role may not.
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing there, or nothing the caller may know of.
    #[error("{0}")]
    NotFound(String),
    /// 405, listing the methods the path has.
    #[error("method not allowed; use {allow}")]
    MethodNotAllowed { allow: String },
    /// 408: the body did not arrive in time; the connection closes.
    #[error("{0}")]
    BodyTimeout(String),
    /// 409: the state forbids it.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 `{"error"}`: a query parameter or a value without fields.
    #[error("{0}")]
    Invalid(String),
    /// 422 `{"error", "fields"}`: each bad field of a body named.
    #[error("{error}")]
    InvalidFields {
        error: String,
        fields: BTreeMap<String, String>,
    },
    /// 422 `{"error", "points"}`: each bad item of a batch named.
    #[error("{error}")]
    InvalidBatch {
        error: String,
        points: Vec<InvalidPoint>,
    },
    /// 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// 503 with `Retry-After: 1`: a dependency is down or busy; the request
    /// changed nothing and may be sent again.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug, logged where it happened.
    #[error("{0}")]
    Internal(&'static str),
}

impl ApiError {
    /// 503 for a dependency that cannot answer now.
    pub fn unavailable(what: &str) -> Self {
        Self::Unavailable(format!("{what} unavailable, retry later"))
    }

    /// A 422 in the fields shape naming no field (a body that is not an
    /// object, a number out of range).
    pub fn invalid_fields(message: impl Into<String>) -> Self {
        Self::InvalidFields {
            error: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// A 422 naming each bad field.
    pub fn fields(fields: BTreeMap<String, String>) -> Self {
        let error = fields
            .iter()
            .map(|(field, problem)| format!("{field} {problem}"))
            .collect::<Vec<_>>()
            .join("; ");
        Self::InvalidFields { error, fields }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthenticated(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn package_not_found(tracking_number: &str) -> Self {
        Self::NotFound(format!("package {tracking_number} not found"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) | Self::InvalidFields { .. } | Self::InvalidBatch { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer: status, body and headers, decided here alone.
    pub fn into_reply(self) -> Reply {
        let status = self.status();
        match self {
            Self::InvalidFields { error, fields } => {
                Reply::json(status, &InvalidFields { error, fields })
            }
            Self::InvalidBatch { error, points } => {
                Reply::json(status, &InvalidBatch { error, points })
            }
            Self::Unauthenticated(error) => {
                body(status, error).header("www-authenticate", "Bearer")
            }
            Self::MethodNotAllowed { ref allow } => {
                let allow = allow.clone();
                body(status, self.to_string()).header("allow", &allow)
            }
            Self::BodyTimeout(error) => body(status, error).header("connection", "close"),
            Self::TooManyRequests {
                message,
                retry_after,
            } => body(status, message).header("retry-after", &retry_after.to_string()),
            Self::Unavailable(error) => body(status, error).header("retry-after", "1"),
            other => body(status, other.to_string()),
        }
    }
}

fn body(status: StatusCode, error: String) -> Reply {
    Reply::json(status, &ErrorBody { error })
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        error.into_reply()
    }
}

/// Database failures on the read path: logged, answered 503.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "database query failed");
        Self::unavailable("database")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn answered(error: ApiError) -> (u16, Vec<(String, String)>, serde_json::Value) {
        let response = error.into_reply().into_response();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "content-type")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn each_error_has_its_status_body_and_headers() {
        let header = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
        let cases = [
            (
                ApiError::unauthenticated("who?"),
                401,
                header("www-authenticate", "Bearer"),
            ),
            (
                ApiError::MethodNotAllowed {
                    allow: "GET, POST".into(),
                },
                405,
                header("allow", "GET, POST"),
            ),
            (
                ApiError::BodyTimeout("slow".into()),
                408,
                header("connection", "close"),
            ),
            (
                ApiError::TooManyRequests {
                    message: "wait".into(),
                    retry_after: 7,
                },
                429,
                header("retry-after", "7"),
            ),
            (
                ApiError::unavailable("database"),
                503,
                header("retry-after", "1"),
            ),
            (ApiError::package_not_found("TRK1"), 404, vec![]),
            (ApiError::Internal("internal error"), 500, vec![]),
        ];
        for (error, status, headers) in cases {
            let message = error.to_string();
            let (got, got_headers, body) = answered(error).await;
            assert_eq!((got, got_headers), (status, headers), "{message}");
            assert_eq!(body, serde_json::json!({ "error": message }));
        }
    }

    #[tokio::test]
    async fn field_errors_name_each_field() {
        let fields = BTreeMap::from([
            ("a".to_owned(), "is required".to_owned()),
            ("b".to_owned(), "must be a number".to_owned()),
        ]);
        let (status, _, body) = answered(ApiError::fields(fields)).await;
        assert_eq!(status, 422);
        assert_eq!(
            body,
            serde_json::json!({
                "error": "a is required; b must be a number",
                "fields": {"a": "is required", "b": "must be a number"}
            })
        );
    }
}
