//! What a route is: who may call it ([`Access`]) and the [`Handler`] that
//! answers, given the request as the router matched it ([`Call`]).

use crate::http::{ApiError, Query, Reply};
use crate::state::AppState;
use hyper::body::Incoming;
use hyper::{Method, Request};
use shared::auth::Caller;
use shared::domain::TrackingNumber;
use std::future::Future;
use std::pin::Pin;

/// Who may call a route, and what it is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, uncounted: health probes, the OpenAPI document.
    Open,
    /// Anyone, counted per address and by the sign-in limit.
    SignIn,
    /// Anyone, counted per address and by the public lookup limit.
    Track,
    /// An authenticated account (401 without one), never a device key.
    Caller,
    /// An authenticated account, or a device's API key: location posts.
    CallerOrDevice,
}

impl Access {
    /// Whether no credentials are asked for.
    pub fn is_public(self) -> bool {
        matches!(self, Self::Open | Self::SignIn | Self::Track)
    }
}

/// A handler's answer: the response, or what went wrong.
pub type Answer<'a> = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send + 'a>>;

/// A handler: the shared state and the request as the router matched it.
pub type Handler = for<'a> fn(&'a AppState, Call<'a>) -> Answer<'a>;

pub struct Route {
    pub method: Method,
    /// The path template, `{name}` for a parameter (as the OpenAPI document).
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

/// What a handler is given.
pub struct Call<'a> {
    /// `Some` for the routes that require one.
    pub caller: Option<&'a Caller>,
    /// The path's parameters, in order.
    pub params: Vec<&'a str>,
    pub query: Option<String>,
    pub request: Request<Incoming>,
}

impl<'a> Call<'a> {
    pub fn caller(&self) -> Result<&'a Caller, ApiError> {
        self.caller
            .ok_or_else(|| ApiError::unauthenticated("authentication required"))
    }

    pub fn query(&self) -> Query<'_> {
        Query::new(self.query.as_deref())
    }

    pub fn param(&self, index: usize) -> &'a str {
        self.params.get(index).copied().unwrap_or_default()
    }

    /// The first parameter as a tracking number: one that cannot be valid
    /// names no package (404).
    pub fn package(&self) -> Result<TrackingNumber, ApiError> {
        let raw = self.param(0);
        TrackingNumber::parse(raw).map_err(|_| ApiError::package_not_found(raw))
    }
}
