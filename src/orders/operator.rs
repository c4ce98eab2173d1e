//! What an operator does to an order (`orders retry`, `orders resolve`, and the operator bot),
//! each decided by the life cycle on the order as it is under the store's lock, and recorded
//! with who did it (`Actor`).
use super::lifecycle::{self, ActionError};
use crate::store::{Actor, RenewedIds, Store, StoredOrder};

/// Sends a `fallback` or `retrying` order to iiko again now, with a fresh attempt budget and
/// the same iiko ids (so iiko still cannot get it twice).
pub async fn requeue_order(
    store: &Store,
    id: i64,
    now_ms: i64,
) -> Result<StoredOrder, ActionError> {
    requeue_renewed(store, id, None, &Actor::Cli, now_ms).await
}

/// [`requeue_order`], under `renewed` iiko ids and request when given (iiko closed the old
/// id, or the order was mapped anew): only while the order still has the iiko id `renewed`
/// was made from. The new id was never sent, so the first attempt sends at once.
pub async fn requeue_renewed(
    store: &Store,
    id: i64,
    renewed: Option<(&str, &RenewedIds<'_>)>,
    actor: &Actor,
    now_ms: i64,
) -> Result<StoredOrder, ActionError> {
    let from = renewed.map(|(old, _)| old);
    let decide = |order: Option<&StoredOrder>| lifecycle::requeue(id, order, from);
    store
        .change_by_operator(id, now_ms, actor, decide, renewed.map(|(_, r)| r))
        .await
}

/// An operator entered a `fallback` order by hand: nothing more is done with it.
pub async fn resolve_order(
    store: &Store,
    id: i64,
    now_ms: i64,
) -> Result<StoredOrder, ActionError> {
    resolve_order_by(store, id, &Actor::Cli, now_ms).await
}

/// [`resolve_order`], by `actor`.
pub async fn resolve_order_by(
    store: &Store,
    id: i64,
    actor: &Actor,
    now_ms: i64,
) -> Result<StoredOrder, ActionError> {
    let decide = |order: Option<&StoredOrder>| lifecycle::resolve(id, order);
    store
        .change_by_operator(id, now_ms, actor, decide, None)
        .await
}

/// Reconciliation found the iiko order staff typed in for a `fallback` order: it is resolved,
/// and its history names that order.
pub async fn resolve_matched(
    store: &Store,
    id: i64,
    iiko_order_id: &str,
    now_ms: i64,
) -> Result<StoredOrder, ActionError> {
    let note =
        format!("matched by reconciliation to iiko order {iiko_order_id} entered at the POS");
    let decide = |order: Option<&StoredOrder>| lifecycle::resolve_noted(id, order, note.into());
    store
        .change_by_operator(id, now_ms, &Actor::Reconciliation, decide, None)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Inserted, NewOrder, OrderState};

    async fn insert(store: &Store, site_id: &str, state: OrderState) -> StoredOrder {
        let new = NewOrder::sample(site_id, state);
        match store.insert_order(new, None).await.unwrap() {
            Inserted::New(order) => order,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn operators_retry_and_resolve_only_what_is_theirs_to_touch() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let unmapped = insert(&store, "U", OrderState::Fallback).await;
        assert!(matches!(
            requeue_order(&store, unmapped.id, 2_000).await,
            Err(ActionError::Refused(OrderState::Fallback, _))
        ));
        let resolved = resolve_order(&store, unmapped.id, 2_000).await.unwrap();
        assert_eq!(resolved.state, OrderState::Resolved);
        let history = store.order_history(unmapped.id).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!(last.state.as_deref(), Some("resolved"));
        assert_eq!(last.note.as_deref(), Some("entered by hand by an operator"));
        assert!(resolve_order(&store, unmapped.id, 2_000).await.is_err());
        let queued = insert(&store, "Q", OrderState::Queued).await;
        assert!(resolve_order(&store, queued.id, 2_000).await.is_err());
        assert!(requeue_order(&store, queued.id, 2_000).await.is_err());
        assert!(matches!(
            requeue_order(&store, 999, 2_000).await,
            Err(ActionError::NotFound(999))
        ));
    }
}
