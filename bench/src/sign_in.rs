//! The admin's access token every request carries: given (`--token`,
//! `DT_BENCH_TOKEN`) or got by signing in as the bootstrap admin, and then
//! renewed by runs that outlast it.

use crate::load;
use anyhow::{bail, Context};

/// Whether the run signed in itself (no token was given): only then can it
/// sign in again.
static SIGNED_IN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Signs in again as the bootstrap admin when the run signed in itself: a
/// run longer than an access token's life (`scale`) renews its token
/// between steps. A token given (`--token`, `DT_BENCH_TOKEN`) is kept.
pub(crate) async fn renew(api: &str) -> anyhow::Result<()> {
    if !SIGNED_IN.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    if let Some(token) = sign_in(api).await? {
        load::authenticate_as(&token)?;
    }
    Ok(())
}

/// The token to send, set for every request from now on: the one given,
/// else one signed in for; `None` when authentication is off.
pub(crate) async fn token(given: Option<String>, api: &str) -> anyhow::Result<Option<String>> {
    let given = given.or_else(|| {
        std::env::var("DT_BENCH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    });
    let token = match given {
        Some(token) => Some(token),
        None => {
            SIGNED_IN.store(true, std::sync::atomic::Ordering::Relaxed);
            sign_in(api).await?
        }
    };
    if let Some(token) = &token {
        load::authenticate_as(token)?;
    }
    Ok(token)
}

/// A token for the bootstrap admin, or `None` when the system runs with
/// authentication disabled.
async fn sign_in(api: &str) -> anyhow::Result<Option<String>> {
    let (Ok(email), Ok(password)) = (
        std::env::var("BOOTSTRAP_ADMIN_EMAIL"),
        std::env::var("BOOTSTRAP_ADMIN_PASSWORD"),
    ) else {
        bail!("dt-bench needs an admin's token: pass --token, or set DT_BENCH_TOKEN, or BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD (scripts/up.sh prints them)");
    };
    let (addr, host, prefix) = load::address_of(api)?;
    let request = load::Request::json(
        hyper::Method::POST,
        format!("{prefix}/auth/login"),
        &serde_json::json!({ "email": email, "password": password }),
    );
    let (status, body) = load::once(addr, &host, request)
        .await
        .context("signing in")?;
    match status.as_u16() {
        200 => {
            let body: serde_json::Value = serde_json::from_slice(&body)?;
            let token = body["access_token"]
                .as_str()
                .context("no access_token in the answer")?;
            Ok(Some(token.to_owned()))
        }
        // Authentication is disabled: no token needed.
        409 => Ok(None),
        other => bail!(
            "signing in as {email} failed: {other} {}",
            String::from_utf8_lossy(&body)
        ),
    }
}
