//! One connection's subscriptions, and the only code that changes them.
//!
//! A subscription lives in five places that must agree: the connection's
//! own set, the [`Hub`] (who receives which package's events), the broker
//! binding ([`Events::sync`]), the subscriptions gauge, and the writer
//! (which holds a package's live events from `Watch` until `Start`, and
//! drops them after `Forget`). Each method here moves all five together.

use crate::events::Events;
use crate::hub::{is_package, ClientHandle, ClientId, Hub, Outgoing};
use std::collections::HashSet;
use std::sync::Arc;

pub struct Subscriptions {
    confirmed: HashSet<String>,
    hub: Arc<Hub>,
    events: Events,
    id: ClientId,
    handle: ClientHandle,
}

/// How binding a subscription went.
pub enum Bound {
    /// Receiving and bound; [`Subscriptions::confirm`] it once the client
    /// may be told.
    Yes,
    /// The broker binding failed (undone): tell the client why.
    Failed(String),
    /// The client's outbox is gone.
    Gone,
}

impl Subscriptions {
    pub fn new(hub: Arc<Hub>, events: Events, id: ClientId, handle: ClientHandle) -> Self {
        Self {
            confirmed: HashSet::new(),
            hub,
            events,
            id,
            handle,
        }
    }

    pub fn len(&self) -> usize {
        self.confirmed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.confirmed.is_empty()
    }

    pub fn contains(&self, tracking_number: &str) -> bool {
        self.confirmed.contains(tracking_number)
    }

    /// The watched packages (the every-package feed and couriers left out).
    pub fn packages(&self) -> Vec<String> {
        self.confirmed
            .iter()
            .filter(|key| is_package(key))
            .cloned()
            .collect()
    }

    /// The watched couriers.
    pub fn couriers(&self) -> Vec<uuid::Uuid> {
        self.confirmed
            .iter()
            .filter_map(|key| crate::hub::courier_of(key))
            .collect()
    }

    /// Starts receiving `tracking_number`'s events (the writer holds a
    /// package's until `Start`) and binds them on the broker. The key may
    /// also be the feed's or a courier's ([`crate::hub`]), which have no
    /// stream to hold.
    pub async fn bind(&mut self, tracking_number: &str) -> Bound {
        if is_package(tracking_number)
            && !self
                .enqueue(Outgoing::Watch(tracking_number.to_owned()))
                .await
        {
            return Bound::Gone;
        }
        self.hub
            .subscribe(tracking_number, self.id, self.handle.clone());
        match self.events.sync(tracking_number).await {
            Ok(()) => Bound::Yes,
            Err(error) => match self.unbind(tracking_number).await {
                true => Bound::Failed(error.to_string()),
                false => Bound::Gone,
            },
        }
    }

    /// Undoes a [`Subscriptions::bind`] that was not confirmed; a confirmed
    /// subscription stays. False if the client's outbox is gone.
    pub async fn unbind(&mut self, tracking_number: &str) -> bool {
        if self.confirmed.contains(tracking_number) {
            return true;
        }
        self.hub.unsubscribe(tracking_number, self.id);
        // The binding may have been made before its answer was lost:
        // reconcile again, now that nobody here wants it.
        let _ = self.events.sync(tracking_number).await;
        !is_package(tracking_number)
            || self
                .enqueue(Outgoing::Forget(tracking_number.to_owned()))
                .await
    }

    /// A bound subscription the client is told of: counted from now.
    pub fn confirm(&mut self, tracking_number: &str) {
        if self.confirmed.insert(tracking_number.to_owned()) {
            self.hub.metrics.subscriptions.inc();
        }
    }

    /// Ends one subscription (if there is one) everywhere.
    pub async fn end(&mut self, tracking_number: &str) {
        if self.confirmed.remove(tracking_number) {
            self.hub.metrics.subscriptions.dec();
            self.hub.unsubscribe(tracking_number, self.id);
            let _ = self.events.sync(tracking_number).await;
        }
        if is_package(tracking_number) {
            self.enqueue(Outgoing::Forget(tracking_number.to_owned()))
                .await;
        }
    }

    /// Ends every subscription everywhere, and says which there were.
    pub async fn end_all(&mut self) -> Vec<String> {
        let ended: Vec<String> = self.confirmed.drain().collect();
        self.hub.metrics.subscriptions.sub(ended.len() as i64);
        for tracking_number in &ended {
            self.hub.unsubscribe(tracking_number, self.id);
            let _ = self.events.sync(tracking_number).await;
        }
        ended
    }

    async fn enqueue(&self, outgoing: Outgoing) -> bool {
        self.handle.outbox.send(outgoing).await.is_ok()
    }
}
