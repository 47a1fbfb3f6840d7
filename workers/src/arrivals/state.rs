//! What the arrival estimates remember between windows: each courier's
//! leg (locked while a window follows it, so two location workers never
//! follow one courier at once) and what each cell learned.

use shared::arrivals::{CellKey, Learned, Leg};
use sqlx::types::Json;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// The couriers' legs, locked (in id order, created empty when new).
pub async fn lock_legs(
    tx: &mut PgConnection,
    couriers: &[Uuid],
) -> Result<HashMap<Uuid, Leg>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO courier_legs (courier_id, leg) SELECT c, '{}'::jsonb FROM UNNEST($1::uuid[]) AS c \
         ORDER BY c ON CONFLICT (courier_id) DO NOTHING",
    )
    .bind(couriers)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(Uuid, Json<Leg>)> = sqlx::query_as(
        "SELECT courier_id, leg FROM courier_legs WHERE courier_id = ANY($1) \
         ORDER BY courier_id FOR UPDATE",
    )
    .bind(couriers)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|(id, leg)| (id, leg.0)).collect())
}

pub async fn store_legs(
    tx: &mut PgConnection,
    legs: &HashMap<Uuid, Leg>,
) -> Result<(), sqlx::Error> {
    let (ids, legs): (Vec<Uuid>, Vec<Json<&Leg>>) =
        legs.iter().map(|(id, leg)| (*id, Json(leg))).unzip();
    sqlx::query(
        "UPDATE courier_legs c SET leg = v.leg, updated_at = now() \
         FROM UNNEST($1::uuid[], $2::jsonb[]) AS v(id, leg) WHERE c.courier_id = v.id",
    )
    .bind(&ids)
    .bind(&legs)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// What these cells learned (a cell that learned nothing is absent).
pub async fn learned(
    tx: &mut PgConnection,
    cells: &[CellKey],
) -> Result<HashMap<CellKey, Learned>, sqlx::Error> {
    let keys: Vec<&str> = cells.iter().map(|c| c.0.as_str()).collect();
    let rows: Vec<(String, f64, f64, f64, f64)> = sqlx::query_as(
        "SELECT cell, road_sum, road_legs, service_sum, service_stops FROM arrival_cells \
         WHERE cell = ANY($1)",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(cell, road_sum, road_legs, service_sum, service_stops)| {
            let learned = Learned {
                road_sum,
                road_legs,
                service_sum,
                service_stops,
            };
            (CellKey(cell), learned)
        })
        .collect())
}

/// Adds what the window taught to its cells (in key order: two workers
/// adding to the same cells take their rows in the same order).
pub async fn learn(
    tx: &mut PgConnection,
    taught: &HashMap<CellKey, Learned>,
) -> Result<(), sqlx::Error> {
    if taught.is_empty() {
        return Ok(());
    }
    let mut cells: Vec<(&CellKey, &Learned)> = taught.iter().collect();
    cells.sort_by(|a, b| a.0.cmp(b.0));
    let column = |f: fn(&Learned) -> f64| cells.iter().map(|(_, l)| f(l)).collect::<Vec<_>>();
    let keys: Vec<&str> = cells.iter().map(|(c, _)| c.0.as_str()).collect();
    sqlx::query(
        "INSERT INTO arrival_cells AS a (cell, road_sum, road_legs, service_sum, service_stops) \
         SELECT * FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) \
         ON CONFLICT (cell) DO UPDATE SET road_sum = a.road_sum + excluded.road_sum, \
             road_legs = a.road_legs + excluded.road_legs, \
             service_sum = a.service_sum + excluded.service_sum, \
             service_stops = a.service_stops + excluded.service_stops",
    )
    .bind(&keys)
    .bind(column(|l| l.road_sum))
    .bind(column(|l| l.road_legs))
    .bind(column(|l| l.service_sum))
    .bind(column(|l| l.service_stops))
    .execute(&mut *tx)
    .await
    .map(drop)
}
