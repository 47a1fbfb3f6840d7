//! JSON responses. Every error is `{"error": "..."}` with a fitting status.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub type ApiResponse = Response<Full<Bytes>>;

/// Every error: `{"error": "..."}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// A 422 for fields: the summary and each bad field's problem.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvalidFields {
    pub error: String,
    pub fields: std::collections::BTreeMap<String, String>,
}

/// A response under construction; handlers return `Result<Reply, Reply>` so
/// `?` works for errors too.
pub struct Reply(pub ApiResponse);

impl Reply {
    pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => Self::raw_json(status, Bytes::from(bytes)),
            Err(error) => {
                tracing::error!(%error, "response serialization failed");
                Self::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    /// A body that is already JSON (e.g. a cached view).
    pub fn raw_json(status: StatusCode, bytes: Bytes) -> Self {
        let mut response = Response::new(Full::new(bytes));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Self(response)
    }

    /// A text body of the given content type (the metrics exposition).
    pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Self {
        Self::bytes(status, content_type, Bytes::from(body))
    }

    /// A body of the given content type (pages and their assets).
    pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        Self(response)
    }

    /// A response with no body (204).
    pub fn empty(status: StatusCode) -> Self {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        Self(response)
    }

    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self::json(
            status,
            &ErrorBody {
                error: message.into(),
            },
        )
    }

    /// A 422 in the fields shape, for a body that has no fields to name
    /// (not an object, a number out of range).
    pub fn invalid_fields(message: impl Into<String>) -> Self {
        Self::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InvalidFields {
                error: message.into(),
                fields: Default::default(),
            },
        )
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.0.headers_mut().insert(name, value);
        }
        self
    }

    /// 503 for a dependency that is down, with a hint when to come back.
    pub fn unavailable(what: &str) -> Self {
        Self::error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{what} unavailable, retry later"),
        )
        .header("retry-after", "1")
    }

    pub fn into_response(self) -> ApiResponse {
        self.0
    }
}

/// Database failures on the read path: logged, answered 503.
impl From<sqlx::Error> for Reply {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "database query failed");
        Self::unavailable("database")
    }
}

pub fn package_not_found(tracking_number: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        format!("package {tracking_number} not found"),
    )
}
