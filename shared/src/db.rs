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

/// Whether a database error may go away by itself or never will.
///
/// Only errors that the command itself causes are permanent: data exceptions
/// (class 22), constraint violations (class 23) and values that cannot be
/// decoded. Everything else (connection refused or lost, a database not
/// accepting connections, a server restarting, serialization conflicts, a pool
/// timeout) is retried, because dead-lettering a valid command during an outage
/// would lose an accepted write.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            !(code.starts_with("22") || code.starts_with("23"))
        }
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::RowNotFound
        | sqlx::Error::Encode(_) => false,
        _ => true,
    }
}
