//! What a batch of order submissions does, decided the same way by every backend: which
//! submissions insert a new order, which find one already stored (or earlier in the batch),
//! and which reuse a webhook id another order took.
use std::collections::{HashMap, HashSet};

use super::{Inserted, NewOrder, StoredOrder, WebhookId};

/// An order's unique key: (branch, site id).
pub type Key = (String, String);

/// What one submission does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Insert,
    Existing,
    Replayed,
}

/// Decides each submission of a batch in arrival order, given the orders already stored
/// under the batch's keys (`stored`: key -> row id) and the webhook ids already used (`seen`:
/// webhook id -> row id); a repeat within the batch finds the first.
pub fn plan(
    items: &[(NewOrder, Option<WebhookId>)],
    stored: &HashMap<Key, i64>,
    seen: &HashMap<String, i64>,
) -> Vec<Plan> {
    let mut inserting: HashSet<Key> = HashSet::new();
    // Webhook ids taken earlier in this batch, by the order they came with.
    let mut claimed: HashMap<&str, Key> = HashMap::new();
    items
        .iter()
        .map(|(new, webhook)| {
            let key = key(new);
            let known = stored.get(&key).copied();
            // The site retries a message with the same id (Standard Webhooks), so only an id
            // reused for another order is a replay.
            let replayed = webhook.as_ref().is_some_and(|w| {
                let earlier = claimed.get(w.id.as_str()).is_some_and(|k| *k != key);
                earlier || seen.get(&w.id).is_some_and(|order| Some(*order) != known)
            });
            if let (Some(webhook), false) = (webhook, replayed) {
                claimed.entry(webhook.id.as_str()).or_insert(key.clone());
            }
            if replayed {
                Plan::Replayed
            } else if known.is_some() || !inserting.insert(key) {
                Plan::Existing
            } else {
                Plan::Insert
            }
        })
        .collect()
}

pub fn key(new: &NewOrder) -> Key {
    (new.branch.clone(), new.site_id.clone())
}

/// The answers to a batch's submissions, once `stored` holds every order of its keys.
pub fn answers(
    items: &[(NewOrder, Option<WebhookId>)],
    plans: Vec<Plan>,
    stored: &HashMap<Key, StoredOrder>,
) -> Vec<Inserted> {
    plans
        .into_iter()
        .zip(items)
        .map(|(plan, (new, _))| match plan {
            Plan::Replayed => Inserted::ReplayedWebhook,
            Plan::Insert => Inserted::New(stored[&key(new)].clone()),
            Plan::Existing => Inserted::Existing(stored[&key(new)].clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OrderState;

    fn new(site_id: &str) -> NewOrder {
        NewOrder::sample(site_id, OrderState::Queued)
    }

    fn webhook(id: &str) -> Option<WebhookId> {
        Some(WebhookId {
            id: id.into(),
            expires_at_ms: 10_000,
        })
    }

    #[test]
    fn a_batch_tells_new_orders_repeats_stored_ones_and_replayed_webhook_ids_apart() {
        let items = vec![
            (new("B"), webhook("wh-b")),
            (new("B"), None),
            (new("A"), None),
            (new("C"), webhook("wh-a")),
            (new("A"), webhook("wh-a")),
            (new("D"), webhook("wh-b")),
        ];
        let a = key(&items[2].0);
        let stored = HashMap::from([(a, 1)]);
        let seen = HashMap::from([("wh-a".to_owned(), 1)]);
        use Plan::*;
        assert_eq!(
            plan(&items, &stored, &seen),
            // B new, B again, A stored, wh-a is A's, A's own retry, wh-b taken by B.
            [Insert, Existing, Existing, Replayed, Existing, Replayed]
        );
    }
}
