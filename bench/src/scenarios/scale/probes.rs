//! What one size costs: each read and periodic job the system serves,
//! measured from outside (HTTP, one connection, closed loop) except the
//! feed's checkpoint, which is the broadcaster's statement run as it runs
//! it.

use super::fill;
use crate::load::{LoadResult, Request};
use crate::scenarios::Run;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// How long each read is loaded at each size, at most.
const EACH: Duration = Duration::from_secs(3);

/// One path's latency at one size.
pub struct Probe {
    pub path: &'static str,
    pub result: LoadResult,
}

/// The reads at this size: `/stats`, a page of a status, a package read once
/// (not in Redis: PostgreSQL by key), its events (PostgreSQL) and points
/// (MongoDB), near and within (MongoDB's latest positions).
/// Package reads spread over the first `packages` of the fill, history
/// reads over the first `with_history`.
pub async fn reads(run: &Run<'_>, packages: u64, with_history: u64) -> Vec<Probe> {
    let system = run.system;
    let mut probes = Vec::new();
    for (path, url) in [
        ("GET /stats", system.path("/stats")),
        (
            "GET /packages?status=in_transit&limit=100",
            system.path("/packages?status=in_transit&limit=100"),
        ),
        (
            "GET /locations/near (2 km)",
            system.path("/locations/near?lat=40.7&lon=-74.0&radius_m=2000&limit=100"),
        ),
        (
            "GET /locations/within (2 × 2 km)",
            system.path("/locations/within?bbox=-74.01,40.69,-73.99,40.71"),
        ),
    ] {
        let result = load(run, path)
            .run(move |_, _| Request::get(url.clone()))
            .await;
        probes.push(Probe { path, result });
    }
    // Spread over the whole fill, each once: cache misses, cold pages.
    let read = system.path("/packages/");
    let result = load(run, "GET /packages/{tn} (not cached)")
        .run(move |_, i| {
            Request::get(format!(
                "{read}{}",
                fill::tracking_number(spread(i, packages))
            ))
        })
        .await;
    probes.push(Probe {
        path: "GET /packages/{tn} (not cached)",
        result,
    });
    for (path, rest, over) in [
        ("GET /packages/{tn}/events", "/events", packages),
        ("GET /packages/{tn}/locations", "/locations", with_history),
    ] {
        let base = system.path("/packages/");
        let result = load(run, path)
            .run(move |_, i| {
                Request::get(format!(
                    "{base}{}{rest}",
                    fill::tracking_number(spread(i, over))
                ))
            })
            .await;
        probes.push(Probe { path, result });
    }
    probes
}

/// The `i`th request's package among the first `over` of the fill, spread
/// (multiplicative hashing) so that reads in a row touch cold pages.
fn spread(i: u64, over: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761) % over.max(1)) + 1
}

fn load(run: &Run<'_>, label: &str) -> crate::load::Load {
    run.system
        .load(format!("scale: {label}"))
        .lasting(EACH.min(run.sizes.duration))
}

/// The broadcaster's checkpoint statement (what changed since `cursor`, in
/// one snapshot), run `times` times: its latency, and how many packages it
/// found.
pub async fn feed_checkpoint(
    run: &Run<'_>,
    cursor: i64,
    times: u32,
) -> anyhow::Result<(Histogram<u64>, usize)> {
    let mut latency = crate::load::histogram();
    let mut found = 0;
    for _ in 0..times {
        let began = Instant::now();
        let mut tx = run.system.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let changed = shared::packages::feed::changed_heads(&mut tx, cursor, 200_001).await?;
        tx.commit().await?;
        latency.record(began.elapsed().as_micros() as u64)?;
        found = changed.map_or(0, |c| c.len());
    }
    Ok((latency, found))
}

/// The feed's current horizon (what a checkpoint hands out as a cursor).
pub async fn horizon(run: &Run<'_>) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&run.system.pool)
            .await?,
    )
}
