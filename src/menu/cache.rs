//! Parsed current catalogs, shared by everything that maps orders. Parsing a large stored
//! catalog takes milliseconds; asking the store for the current version id takes microseconds,
//! and still sees a new version stored by another process (`menu sync` from the command line).
use std::{collections::HashMap, sync::Arc};

use super::Catalog;
use crate::store::{Store, StoreError};

/// Each branch's parsed catalog with the version id it was parsed from.
type Parsed = HashMap<String, (i64, Arc<Catalog>)>;

#[derive(Clone)]
pub struct CatalogCache {
    store: Store,
    parsed: Arc<std::sync::Mutex<Parsed>>,
    /// One parse at a time, so a burst of orders after a sync parses the new version once.
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl CatalogCache {
    pub fn new(store: Store) -> CatalogCache {
        CatalogCache {
            store,
            parsed: Arc::default(),
            loading: Arc::default(),
        }
    }

    /// The branch's current catalog; `None` before its first sync.
    pub async fn current(&self, branch: &str) -> Result<Option<Arc<Catalog>>, StoreError> {
        let Some(id) = self.store.current_catalog_id(branch).await? else {
            return Ok(None);
        };
        if let Some(catalog) = self.cached(branch, id) {
            return Ok(Some(catalog));
        }
        let _loading = self.loading.lock().await;
        if let Some(catalog) = self.cached(branch, id) {
            return Ok(Some(catalog));
        }
        let Some((id, json)) = self.store.current_catalog_document(branch).await? else {
            return Ok(None);
        };
        let catalog = tokio::task::spawn_blocking(move || serde_json::from_str::<Catalog>(&json))
            .await
            .expect("parsing a catalog does not panic")
            .map_err(|e| StoreError::Corrupt(format!("catalog of {branch}: {e}")))?;
        let catalog = Arc::new(catalog);
        self.parsed
            .lock()
            .expect("the cache lock is never poisoned")
            .insert(branch.to_owned(), (id, catalog.clone()));
        Ok(Some(catalog))
    }

    fn cached(&self, branch: &str, id: i64) -> Option<Arc<Catalog>> {
        let parsed = self
            .parsed
            .lock()
            .expect("the cache lock is never poisoned");
        parsed
            .get(branch)
            .filter(|(cached_id, _)| *cached_id == id)
            .map(|(_, catalog)| catalog.clone())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::NewCatalogVersion;

    async fn save(store: &Store, catalog: &Catalog) {
        store
            .save_catalog(NewCatalogVersion {
                branch: "lenina",
                revision: None,
                synced_at: Utc::now(),
                etag: "e",
                catalog_json: &serde_json::to_string(catalog).unwrap(),
                public_json: "{}",
                report_json: "{}",
                updated_event: None,
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_catalog_is_parsed_once_per_version_and_a_new_version_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/b.db", dir.path().display()))
            .await
            .unwrap();
        let cache = CatalogCache::new(store.clone());
        assert!(cache.current("lenina").await.unwrap().is_none());

        let mut catalog = crate::menu::sample::catalog();
        save(&store, &catalog).await;
        let first = cache.current("lenina").await.unwrap().unwrap();
        let again = cache.current("lenina").await.unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "an unchanged version is not parsed again"
        );

        catalog.products.pop();
        save(&store, &catalog).await;
        let newer = cache.current("lenina").await.unwrap().unwrap();
        assert_eq!(newer.products.len(), first.products.len() - 1);
    }
}
