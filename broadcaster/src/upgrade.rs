//! One admitted socket, from its request line to the end of its WebSocket:
//! only `/ws` and `/ws/public` are served; a public connection's open rate
//! and place are checked, and the credential presented (a token's
//! signature, or a ticket) read, before the upgrade is answered. The
//! session behind the credential is the connection's to check
//! ([`crate::connection`]).

use crate::admission::{OpenRate, Places};
use crate::auth::Credential;
use crate::connection::{serve, Peer, Shared};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

/// How upgrades are let in.
pub struct Admission {
    /// `/ws/public` connections, by the client's network.
    pub public: Arc<Places>,
    pub public_opens: OpenRate,
    pub proxies: shared::net::TrustedProxies,
    pub handshake_timeout: Duration,
    pub ws_config: WebSocketConfig,
}

/// What an accepted upgrade brings: the credential, the client's network,
/// and a public connection's place (held while it lasts).
struct Upgraded {
    credential: Credential,
    network: String,
    _public_place: Option<shared::admission::Admitted>,
}

/// Serves one socket until its connection ends.
pub async fn accept(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    shutdown: CancellationToken,
) {
    // One deadline for the request line and the handshake.
    let deadline = tokio::time::Instant::now() + admission.handshake_timeout;
    match crate::endpoints::wants_websocket(&stream, deadline).await {
        Some(true) => {}
        Some(false) => return not_found(&mut stream).await,
        None => return,
    }
    let mut upgraded = None;
    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        upgraded = Some(check(request, peer, &admission, &shared)?);
        Ok(response)
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(admission.ws_config),
    );
    match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(ws)) => match upgraded {
            Some(Upgraded {
                credential,
                network,
                _public_place,
            }) => {
                serve(
                    ws,
                    shared,
                    shutdown,
                    Peer {
                        credential,
                        network,
                    },
                )
                .await;
                drop(_public_place);
            }
            None => tracing::warn!("upgrade completed without a credential"),
        },
        Ok(Err(error)) => tracing::debug!(%error, "WebSocket handshake failed"),
        Err(_) => tracing::debug!("WebSocket handshake timed out; connection dropped"),
    }
}

/// Whether the upgrade may go ahead, and with what.
#[allow(clippy::result_large_err)]
fn check(
    request: &Request,
    peer: SocketAddr,
    admission: &Admission,
    shared: &Shared,
) -> Result<Upgraded, ErrorResponse> {
    let path = request.uri().path();
    if !matches!(path, "/ws" | crate::auth::PUBLIC_PATH) {
        return Err(refusal(StatusCode::NOT_FOUND, "no such endpoint; use /ws"));
    }
    let client = shared::net::client_address(request.headers(), peer.ip(), &admission.proxies);
    let network = shared::net::network_of(client);
    let public_place = if path == crate::auth::PUBLIC_PATH {
        Some(public_place(admission, &network)?)
    } else {
        None
    };
    let credential = crate::auth::credential(&shared.auth, request)
        .map_err(|(status, message)| refusal(status, &message))?;
    Ok(Upgraded {
        credential,
        network,
        _public_place: public_place,
    })
}

/// A public connection's place: within its network's open rate and share.
#[allow(clippy::result_large_err)]
fn public_place(
    admission: &Admission,
    network: &str,
) -> Result<shared::admission::Admitted, ErrorResponse> {
    if let Err(wait) = admission.public_opens.take(network) {
        return Err(refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many public connections opened from this network; retry in {} s",
                wait.as_secs().max(1)
            ),
        ));
    }
    admission.public.admit(network.to_owned()).ok_or_else(|| {
        refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "too many public connections from this address",
        )
    })
}

/// A refused upgrade: the status and a JSON error body.
fn refusal(status: StatusCode, message: &str) -> ErrorResponse {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut refusal = ErrorResponse::new(Some(body));
    *refusal.status_mut() = status;
    refusal
}

/// A request for anything but a WebSocket: 404, and the connection closes.
async fn not_found(stream: &mut TcpStream) {
    let body = r#"{"error":"no such endpoint; use /ws or /ws/public"}"#;
    let response = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        stream.write_all(response.as_bytes()),
    )
    .await;
}
