//! The first admin account, from configuration, created once.

use crate::config::BootstrapAdmin;
use sqlx::PgPool;
use uuid::Uuid;

/// Creates the admin unless an account with its email exists (whatever its
/// role or password now: the variables seed an empty deployment, they do not
/// reset an account someone changed since).
pub async fn ensure_admin(pool: &PgPool, admin: &BootstrapAdmin) -> Result<(), sqlx::Error> {
    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(admin.email.as_str())
        .fetch_optional(pool)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let hash = shared::auth::password::hash(admin.password.clone())
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let created = sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, 'Administrator', $3, 'admin') \
         ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::new_v5(&Uuid::NAMESPACE_OID, admin.email.as_str().as_bytes()))
    .bind(admin.email.as_str())
    .bind(hash)
    .execute(pool)
    .await?;
    if created.rows_affected() == 1 {
        tracing::info!(email = %admin.email, "created the bootstrap admin account");
    }
    Ok(())
}
