//! Accounts as the API shows them (never a password hash), and the reads
//! of `users` ingest makes: the listing, and the account a sign-in names.

use super::Role;
use crate::domain::Email;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// An account as the API shows it (never its password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Whether the account proved it owns its email (a mailed link).
    #[serde(default)]
    pub email_verified: bool,
    /// A disabled account signs in nowhere; its sessions and devices stop.
    #[serde(default)]
    pub disabled: bool,
}

/// The columns of `users` a [`UserView`] is read from.
pub const USER_COLUMNS: &str = "id, email, name, role, created_at, \
     email_verified_at IS NOT NULL AS email_verified, disabled_at IS NOT NULL AS disabled";

/// One page of accounts, newest first: those `after` the last row of the
/// previous page (its `(created_at, id)`), of `role` if given.
pub async fn list(
    db: impl PgExecutor<'_>,
    role: Option<Role>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<UserView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE ($1::text IS NULL OR role = $1) \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(role.map(|r| r.as_str()))
    .bind(after.map(|(created_at, _)| created_at))
    .bind(after.map(|(_, id)| id))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What a sign-in needs of the account an email names.
#[derive(Debug)]
pub struct SignInAccount {
    pub id: Uuid,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
}

/// The account that may sign in with this email: one with a password and a
/// person's role.
pub async fn sign_in_account(
    db: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<SignInAccount>, sqlx::Error> {
    let row: Option<(Uuid, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT id, role, password_hash, disabled_at IS NOT NULL FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(id, role, hash, disabled)| {
        Some(SignInAccount {
            id,
            role: role.parse::<Role>().ok()?,
            password_hash: hash?,
            disabled,
        })
    }))
}
