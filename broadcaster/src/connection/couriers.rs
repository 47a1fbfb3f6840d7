//! A client watching couriers: `subscribe_courier` for one courier's moves
//! and presence (see [`crate::couriers`]), checked against the policy when
//! asked and again when the caller's rights change.

use super::handler::Handler;
use crate::hub::courier_key;
use crate::protocol;
use crate::subscriptions::Bound;
use shared::auth::policy::{decide_courier, Decision};
use uuid::Uuid;

impl Handler {
    /// Starts one courier's `courier_update`s: admins and dispatchers any
    /// courier, a courier themselves; another courier reads as unknown.
    pub(super) async fn watch_courier(&mut self, courier_id: Uuid) -> bool {
        let key = courier_key(courier_id);
        // Held already: checked then, and again whenever the role changes.
        if !self.subscriptions.contains(&key) {
            if let Err(problem) = self.may_watch_courier(courier_id).await {
                return self.reply(protocol::error(&problem));
            }
            if let Err(problem) = self.room_for(&key) {
                return self.reply(protocol::error(&problem));
            }
            match self.subscriptions.bind(&key).await {
                Bound::Yes => self.subscriptions.confirm(&key),
                Bound::Failed(problem) => return self.reply(protocol::error(&problem)),
                Bound::Gone => return false,
            }
        }
        self.reply(protocol::subscribed_courier(courier_id))
    }

    pub(super) async fn unwatch_courier(&mut self, courier_id: Uuid) -> bool {
        self.unwatch(&courier_key(courier_id)).await;
        self.reply(protocol::unsubscribed_courier(courier_id))
    }

    async fn may_watch_courier(&self, courier_id: Uuid) -> Result<(), String> {
        let unknown = || format!("courier {courier_id} not found");
        let Some(caller) = self.caller.as_ref() else {
            return Err("sign in to watch couriers".into());
        };
        match decide_courier(caller, courier_id) {
            Decision::Allow => {}
            Decision::Forbidden => {
                return Err("only admins, dispatchers and couriers may watch couriers".into())
            }
            Decision::Hidden => return Err(unknown()),
        }
        match shared::couriers::reads::exists(&self.shared.pool, courier_id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(unknown()),
            Err(error) => {
                tracing::warn!(%error, "courier lookup failed");
                Err("courier lookup unavailable, retry later".into())
            }
        }
    }

    /// Ends the courier subscriptions the caller may no longer hold (their
    /// role changed); false if the client's outbox is gone or full.
    pub(super) async fn recheck_couriers(&mut self) -> bool {
        let Some(caller) = self.caller.clone() else {
            return true;
        };
        for courier_id in self.subscriptions.couriers() {
            if decide_courier(&caller, courier_id) == Decision::Allow {
                continue;
            }
            self.unwatch(&courier_key(courier_id)).await;
            if !self.reply(protocol::revoked_courier(courier_id)) {
                return false;
            }
        }
        true
    }
}
