//! The endpoints the fan-out matches events against, with their owners'
//! rights as they stand: held in memory, reloaded when `webhook_revision`
//! moves (checked once per window) and every 30 s (an owner's role or
//! email may change without an endpoint changing).

use shared::auth::{Caller, Role};
use shared::domain::Email;
use shared::webhooks::payload::Subject;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a loaded list serves without a change of revision.
const MAX_AGE: Duration = Duration::from_secs(30);

/// One active endpoint (not paused or disabled; its owner enabled).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: Uuid,
    /// Its owner, as the policy sees them.
    pub owner: Caller,
    pub kinds: HashSet<String>,
    /// Only these packages (none: all the owner sees).
    pub packages: Option<HashSet<String>>,
}

impl Endpoint {
    /// Whether it asks for this kind of event of this package or courier
    /// (whether its owner may see it is decided apart). Its list of
    /// packages narrows packages' events only.
    pub fn wants(&self, kind: &str, subject: &Subject) -> bool {
        self.kinds.contains(kind)
            && subject
                .tracking_number()
                .is_none_or(|tn| self.packages.as_ref().is_none_or(|only| only.contains(tn)))
    }
}

#[derive(Default)]
struct Loaded {
    revision: Option<i64>,
    at: Option<Instant>,
    list: Arc<Vec<Endpoint>>,
}

/// The pool's endpoints. The lock is never held across an `.await`.
pub struct Endpoints {
    pool: sqlx::PgPool,
    loaded: Mutex<Loaded>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kinds: Vec<String>,
    tracking_numbers: Option<Vec<String>>,
    owner_id: Uuid,
    role: String,
    verified_email: Option<String>,
}

impl Endpoints {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self {
            pool,
            loaded: Mutex::new(Loaded::default()),
        }
    }

    /// Whether recorded delivery `delivery_id` may still be sent: a
    /// courier's event only to an enabled admin's or dispatcher's endpoint
    /// (an owner demoted or disabled since is owed no retry or redelivery
    /// of one). A delivery that is gone: yes (the claim finds nothing).
    pub async fn may_receive(&self, delivery_id: Uuid) -> Result<bool, sqlx::Error> {
        let row: Option<(bool, String, bool)> = sqlx::query_as(
            "SELECT d.courier_id IS NOT NULL, u.role, u.disabled_at IS NULL \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             JOIN users u ON u.id = w.owner_id WHERE d.id = $1",
        )
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None | Some((false, _, _)) => true,
            Some((true, role, enabled)) => {
                enabled
                    && role
                        .parse::<Role>()
                        .is_ok_and(shared::auth::policy::sees_all)
            }
        })
    }

    /// The active endpoints now.
    pub async fn current(&self) -> Result<Arc<Vec<Endpoint>>, sqlx::Error> {
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM webhook_revision")
            .fetch_one(&self.pool)
            .await?;
        {
            let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = loaded.at.is_some_and(|at| at.elapsed() < MAX_AGE);
            if loaded.revision == Some(revision) && fresh {
                return Ok(Arc::clone(&loaded.list));
            }
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT w.id, w.kinds, w.tracking_numbers, u.id AS owner_id, u.role, \
                    CASE WHEN u.email_verified_at IS NOT NULL THEN u.email END AS verified_email \
             FROM webhooks w JOIN users u ON u.id = w.owner_id \
             WHERE NOT w.paused AND w.disabled_at IS NULL AND u.disabled_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let list: Vec<Endpoint> = rows
            .into_iter()
            .filter_map(|row| {
                let role: Role = row.role.parse().ok()?;
                // An owner whose role may no longer have endpoints (a
                // customer made a courier) gets nothing.
                if !shared::auth::policy::role_may(
                    role,
                    shared::auth::policy::Action::ManageWebhooks,
                ) {
                    return None;
                }
                Some(Endpoint {
                    id: row.id,
                    owner: Caller {
                        user_id: row.owner_id,
                        role,
                        email: row.verified_email.and_then(|e| Email::parse(&e).ok()),
                        device_id: None,
                        session_id: None,
                    },
                    kinds: row.kinds.into_iter().collect(),
                    packages: row.tracking_numbers.map(|list| list.into_iter().collect()),
                })
            })
            .collect();
        let list = Arc::new(list);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        *loaded = Loaded {
            revision: Some(revision),
            at: Some(Instant::now()),
            list: Arc::clone(&list),
        };
        Ok(list)
    }
}
