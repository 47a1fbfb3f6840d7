//! JSON responses. Errors are [`super::ApiError`]s, which make their own.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub type ApiResponse = Response<Full<Bytes>>;

/// A response under construction: what a handler answers when it succeeds
/// (its errors are [`super::ApiError`]s).
pub struct Reply(pub ApiResponse);

impl Reply {
    pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => Self::raw_json(status, Bytes::from(bytes)),
            Err(error) => {
                tracing::error!(%error, "response serialization failed");
                super::ApiError::Internal("internal error").into_reply()
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

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.0.headers_mut().insert(name, value);
        }
        self
    }

    pub fn into_response(self) -> ApiResponse {
        self.0
    }
}
