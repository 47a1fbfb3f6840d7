//! The facts [`super::policy`] needs about packages, read from PostgreSQL.

use super::PackageAccess;
use crate::domain::Email;
use sqlx::PgPool;
use uuid::Uuid;

/// Deliveries that still give their courier rights over their packages.
pub const ACTIVE_DELIVERY: &str = "d.status IN ('assigned', 'attempted')";

/// The couriers with an active delivery stopping at package `p` (SQL).
pub fn couriers_of_package(p: &str) -> String {
    format!(
        "ARRAY(SELECT d.courier_id FROM delivery_stops s JOIN deliveries d ON d.id = s.delivery_id \
         WHERE s.package_id = {p}.id AND d.courier_id IS NOT NULL AND {ACTIVE_DELIVERY})"
    )
}

/// A package's access facts; `None` when there is no such package.
pub async fn load(
    pool: &PgPool,
    tracking_number: &str,
) -> Result<Option<PackageAccess>, sqlx::Error> {
    let row: Option<(Option<Uuid>, Option<String>, Vec<Uuid>)> = sqlx::query_as(&format!(
        "SELECT p.owner_id, p.recipient_email, {} FROM packages p WHERE p.tracking_number = $1",
        couriers_of_package("p")
    ))
    .bind(tracking_number)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(owner_id, recipient_email, courier_ids)| PackageAccess {
            owner_id,
            recipient_email: recipient_email.and_then(|e| Email::parse(&e).ok()),
            courier_ids,
        }),
    )
}

/// The access facts of each of `tracking_numbers` that exists.
pub async fn load_many(
    pool: &PgPool,
    tracking_numbers: &[&str],
) -> Result<std::collections::HashMap<String, PackageAccess>, sqlx::Error> {
    type Row = (String, Option<Uuid>, Option<String>, Vec<Uuid>);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT p.tracking_number, p.owner_id, p.recipient_email, {} \
         FROM packages p WHERE p.tracking_number = ANY($1)",
        couriers_of_package("p")
    ))
    .bind(tracking_numbers)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(tracking_number, owner_id, recipient_email, courier_ids)| {
                let access = PackageAccess {
                    owner_id,
                    recipient_email: recipient_email.and_then(|e| Email::parse(&e).ok()),
                    courier_ids,
                };
                (tracking_number, access)
            },
        )
        .collect())
}

/// Of `tracking_numbers`, those the courier has an active delivery for.
pub async fn carried_by(
    pool: &PgPool,
    courier_id: Uuid,
    tracking_numbers: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT p.tracking_number FROM packages p \
         JOIN delivery_stops s ON s.package_id = p.id JOIN deliveries d ON d.id = s.delivery_id \
         WHERE d.courier_id = $1 AND {ACTIVE_DELIVERY} AND p.tracking_number = ANY($2)"
    ))
    .bind(courier_id)
    .bind(tracking_numbers)
    .fetch_all(pool)
    .await
}

/// The SQL condition (over `packages` aliased as `p`) that limits a listing
/// to what a caller sees, binding the caller's id as `$id` and email as
/// `$email`; `None` when the caller sees every package.
pub fn visible_filter(role: super::Role, id: &str, email: &str) -> Option<String> {
    match role {
        super::Role::Admin | super::Role::Dispatcher => None,
        super::Role::Courier => Some(format!(
            "EXISTS (SELECT 1 FROM delivery_stops s JOIN deliveries d ON d.id = s.delivery_id \
             WHERE s.package_id = p.id AND d.courier_id = {id} AND {ACTIVE_DELIVERY})"
        )),
        super::Role::Customer => Some(format!(
            "(p.owner_id = {id} OR p.recipient_email = {email})"
        )),
    }
}

/// Of `watched`, the packages the caller may see, in one query: the
/// policy's rule for its role, read as a set (a courier: the packages of
/// their active deliveries; a customer: what they own or what is addressed
/// to their verified email).
pub async fn visible_among(
    pool: &PgPool,
    caller: &super::Caller,
    watched: &[String],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let Some(filter) = visible_filter(caller.role, "$2", "$3") else {
        return Ok(watched.iter().cloned().collect());
    };
    if !super::policy::role_may(caller.role, super::Action::ReadPackage) {
        return Ok(Default::default());
    }
    let visible: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT p.tracking_number FROM packages p WHERE p.tracking_number = ANY($1) AND {filter}"
    ))
    .bind(watched)
    .bind(caller.user_id)
    .bind(caller.email.as_ref().map(|e| e.as_str()))
    .fetch_all(pool)
    .await?;
    Ok(visible.into_iter().collect())
}
