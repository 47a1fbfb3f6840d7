//! One-time WebSocket tickets. A browser cannot set headers on a WebSocket,
//! and a token in the URL ends up in proxies' logs; so a signed-in page asks
//! ingest for a ticket (`POST /api/v1/ws-ticket`) and opens
//! `/ws?ticket=...`. A ticket is random, works once (the broadcaster takes
//! it out of Redis as it reads it), for [`TTL`], and names the session it
//! was made for, which the broadcaster checks like a token's. What Redis
//! holds for a ticket is sealed with a key derived from
//! `MESSAGE_SIGNING_KEY`: whoever can write to Redis cannot make one.

use crate::cache::ViewCache;
use crate::seal::SigningKeys;
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

const LABEL: &str = "websocket tickets v1";

fn seal(keys: &SigningKeys, json: &str) -> String {
    super::api_key::hex(&keys.tag(LABEL, json.as_bytes()))
}

/// A new ticket for `ticket`'s session; only its hash is kept.
pub async fn issue(
    cache: &ViewCache,
    keys: &SigningKeys,
    ticket: &Ticket,
) -> redis::RedisResult<String> {
    let text = format!("{PREFIX}{}", super::api_key::random_hex(24));
    let json = serde_json::to_string(ticket).unwrap_or_default();
    let value = format!("{}.{json}", seal(keys, &json));
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
/// unknown, used or expired one, or one whose seal does not verify.
pub async fn redeem(
    cache: &ViewCache,
    keys: &SigningKeys,
    ticket: &str,
) -> redis::RedisResult<Option<Ticket>> {
    if !ticket.starts_with(PREFIX) || ticket.len() > 128 {
        return Ok(None);
    }
    let value: Option<String> = redis::cmd("GETDEL")
        .arg(key(cache, ticket))
        .query_async(&mut cache.connection())
        .await?;
    Ok(value.and_then(|value| {
        let (mac, json) = value.split_once('.')?;
        // A MAC stored beside its text is no secret: a plain compare will do.
        (mac == seal(keys, json)).then(|| serde_json::from_str(json).ok())?
    }))
}
