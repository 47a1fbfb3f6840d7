//! One-time WebSocket tickets. A browser cannot set headers on a WebSocket,
//! and a token in the URL ends up in proxies' logs; so a signed-in page asks
//! ingest for a ticket (`POST /api/v1/ws-ticket`) and opens
//! `/ws?ticket=...`. A ticket is random, works once (the broadcaster takes
//! it out of Redis as it reads it), for [`TTL`], and names the session it
//! was made for, which the broadcaster checks like a token's.

use crate::cache::ViewCache;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// How long a ticket waits to be used.
pub const TTL: Duration = Duration::from_secs(30);
pub const PREFIX: &str = "dwt_";

/// What a ticket stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// When the connection it opens ends (seconds since the epoch), as a
    /// token's would.
    pub expires_at: u64,
}

fn key(cache: &ViewCache, ticket: &str) -> String {
    cache.key(&format!("wsticket:{}", super::api_key::hash(ticket)))
}

/// A new ticket for `ticket`'s session; only its hash is kept.
pub async fn issue(cache: &ViewCache, ticket: &Ticket) -> redis::RedisResult<String> {
    let text = format!("{PREFIX}{}", super::api_key::random_hex(24));
    let value = serde_json::to_string(ticket).unwrap_or_default();
    redis::cmd("SET")
        .arg(key(cache, &text))
        .arg(value)
        .arg("PX")
        .arg(TTL.as_millis() as u64)
        .query_async::<()>(&mut cache.connection())
        .await?;
    Ok(text)
}

/// What a ticket stands for, once: it is gone after this. `None` for an
/// unknown, used or expired one.
pub async fn redeem(cache: &ViewCache, ticket: &str) -> redis::RedisResult<Option<Ticket>> {
    if !ticket.starts_with(PREFIX) || ticket.len() > 128 {
        return Ok(None);
    }
    let value: Option<String> = redis::cmd("GETDEL")
        .arg(key(cache, ticket))
        .query_async(&mut cache.connection())
        .await?;
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}
