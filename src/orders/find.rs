//! Which stored order an operator means (`orders show|retry|resolve ID`, the bot's `/order ID`):
//! the site's id, told apart by branch when two branches have it, or `#N`, the bridge's own id
//! (what operators see in lists, unique whatever the branches).
use crate::store::{Store, StoreError, StoredOrder};

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("no order {0:?}")]
    NotFound(String),
    /// The branches holding that site id, to pick one from.
    #[error("order {id:?} exists in several branches ({}); give the branch", branches.join(", "))]
    InSeveralBranches { id: String, branches: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one order `id` names, in `branch` when given.
pub async fn find_order(
    store: &Store,
    id: &str,
    branch: Option<&str>,
) -> Result<StoredOrder, FindError> {
    if let Some(own) = id.strip_prefix('#').and_then(|n| n.parse::<i64>().ok()) {
        return store
            .order(own)
            .await?
            .filter(|order| branch.is_none_or(|b| order.branch == b))
            .ok_or_else(|| FindError::NotFound(id.to_owned()));
    }
    let mut found = store.orders_by_site_id(id, branch).await?;
    match found.len() {
        0 => Err(FindError::NotFound(id.to_owned())),
        1 => Ok(found.remove(0)),
        _ => Err(FindError::InSeveralBranches {
            id: id.to_owned(),
            branches: found.into_iter().map(|o| o.branch).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Inserted, NewOrder, OrderState};

    async fn insert(store: &Store, branch: &str, site_id: &str) -> StoredOrder {
        let new = NewOrder {
            branch: branch.into(),
            ..NewOrder::sample(site_id, OrderState::Fallback)
        };
        match store.insert_order(new, None).await.unwrap() {
            Inserted::New(order) => order,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_order_is_found_by_site_id_told_apart_by_branch_or_by_the_bridge_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/b.db", dir.path().display()))
            .await
            .unwrap();
        let lenina = insert(&store, "lenina", "A1").await;
        insert(&store, "mira", "A1").await;
        let only = insert(&store, "mira", "B2").await;

        assert_eq!(find_order(&store, "B2", None).await.unwrap().id, only.id);
        let error = find_order(&store, "A1", None).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"order "A1" exists in several branches (lenina, mira); give the branch"#
        );
        let found = find_order(&store, "A1", Some("lenina")).await.unwrap();
        assert_eq!(found.id, lenina.id);
        let own = format!("#{}", lenina.id);
        assert_eq!(find_order(&store, &own, None).await.unwrap().id, lenina.id);
        assert!(matches!(
            find_order(&store, &own, Some("mira")).await,
            Err(FindError::NotFound(_))
        ));
        assert!(matches!(
            find_order(&store, "Z9", None).await,
            Err(FindError::NotFound(_))
        ));
    }
}
