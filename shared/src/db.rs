//! The PostgreSQL pool and the schema migrations embedded from `migrations/`.

use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// A lazily connecting pool: a service starts even while PostgreSQL is down and
/// reports it in its health check instead of refusing to boot.
pub fn lazy_pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(url)
}

/// Applies pending migrations. sqlx takes a PostgreSQL advisory lock around
/// them, so several instances starting at once apply each migration once.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations").run(pool).await
}
