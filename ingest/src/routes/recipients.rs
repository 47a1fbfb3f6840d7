//! `/api/v1/recipients/unsubscribe?token=`: the link in every recipient
//! mail. `GET` (a person who clicked, or a mail scanner following links)
//! only shows a page with a button; `POST` (that button, or a mail
//! client's RFC 8058 one-click) stops every recipient mail to the address
//! the token was made for, through the package pool. The token is random
//! and looked up (`shared::recipients::unsubscribe`): a malformed one is
//! refused before the database is asked.

use crate::http::{ApiError, Query, Reply};
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::Map;
use shared::recipients::unsubscribe;
use shared::wire::{Command, UnsubscribeRecipient};

const PAGE_TYPE: &str = "text/html; charset=utf-8";

/// The address a valid token was made for, or 404.
async fn address(state: &AppState, query: &Query<'_>) -> Result<shared::domain::Email, ApiError> {
    let refused = || ApiError::not_found("this unsubscribe link is not valid");
    let token = query.text("token").ok_or_else(refused)?;
    if !unsubscribe::well_formed(&token) {
        return Err(refused());
    }
    // The primary: the token was written moments before the mail went.
    let address: Option<String> =
        sqlx::query_scalar("SELECT email FROM recipient_unsubscribe_tokens WHERE token = $1")
            .bind(&token)
            .fetch_optional(&state.pool)
            .await?;
    shared::domain::Email::parse(&address.ok_or_else(refused)?).map_err(|_| refused())
}

fn page(title: &str, text: &str, form: bool) -> Reply {
    let button = if form {
        "<form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · DeliverTrack</title></head>\
         <body><main><h1>{title}</h1><p>{text}</p>{button}</main></body></html>"
    );
    Reply::bytes(StatusCode::OK, PAGE_TYPE, Bytes::from(html))
}

#[utoipa::path(get, path = "/api/v1/recipients/unsubscribe", tag = "tracking",
    params(("token" = String, Query, description = "The token of the mailed link")),
    responses(
        (status = 200, description = "A page asking to confirm (nothing changes on a GET)", content_type = "text/html"),
        (status = 404, description = "Not a valid link", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, query: Query<'_>) -> Result<Reply, ApiError> {
    address(state, &query).await?;
    Ok(page(
        "Stop parcel mails",
        "You will get no more mails from DeliverTrack about parcels sent to this address.",
        true,
    ))
}

#[utoipa::path(post, path = "/api/v1/recipients/unsubscribe", tag = "tracking",
    params(("token" = String, Query, description = "The token of the mailed link")),
    responses(
        crate::routes::write::Queued,
        (status = 200, description = "Unsubscribed: no more recipient mail to the address", content_type = "text/html"),
        (status = 404, description = "Not a valid link", body = crate::http::error::ErrorBody)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let query = Query::new(request.uri().query());
    let email = address(state, &query).await?;
    let options = WriteOptions::from_request(&request, None)?;
    let command = Command::UnsubscribeRecipient(UnsubscribeRecipient { email });
    let envelope = options.envelope(options.event_id(), command, &Map::new());
    submit(state, envelope, &options, |_| {
        Ok(page(
            "Unsubscribed",
            "Done: no more parcel mails from DeliverTrack will reach this address.",
            false,
        ))
    })
    .await
}
