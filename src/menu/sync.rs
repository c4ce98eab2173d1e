//! A branch's menu sync: fetch from iiko, build, apply the stop list, diff against the stored
//! catalog, store and export atomically, and tell the operators about article problems.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{
    Catalog, CatalogDiff, Fetched, IntegrityReport, MenuError, apply_stop_list, diff,
    fetch_catalog, fetch_stop_list,
};
use crate::{
    config::BranchConfig,
    iiko::IikoClient,
    notify::{OperatorChats, html},
    store::{NewCatalogVersion, Store, StoreError, StoredCatalog},
};

/// What a sync refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// The whole menu: groups, products, names, sizes, modifiers, prices, availability.
    Full,
    /// Prices and availability of what the stored catalog already has (the fast path).
    Prices,
    /// Availability from the stop list only.
    StopList,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    /// Show what would change; write nothing, alert nobody.
    pub dry_run: bool,
    /// With article problems, keep the previous catalog instead of storing the new one.
    pub strict: bool,
}

/// How a sync ended for one branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResult {
    /// A new catalog version is stored and exported.
    Stored,
    /// Nothing changed; the stored catalog stays.
    Unchanged,
    /// `--dry-run`: nothing was written.
    DryRun,
    /// `--strict` and article problems: the previous catalog stays.
    KeptPrevious,
    /// A prices or stop-list sync needs a stored catalog, and there is none yet.
    NoCatalog,
}

#[derive(Debug, Serialize)]
pub struct SyncOutcome {
    pub branch: String,
    pub kind: SyncKind,
    pub result: SyncResult,
    pub products: usize,
    pub diff: CatalogDiff,
    pub report: IntegrityReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exported: Option<PathBuf>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Menu(#[from] MenuError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored catalog of branch {branch} is unreadable: {source}")]
    CorruptCatalog {
        branch: String,
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Export {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The stages a sync goes through, for progress display.
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    /// The menu (unless only the stop list is refreshed) and the stop list, side by side.
    Fetching,
    Comparing,
    Storing,
}

/// Runs syncs, one at a time per branch (a scheduled sync and a webhook-triggered one for the
/// same branch would otherwise race to store versions built from different answers).
#[derive(Clone)]
pub struct MenuSyncer {
    client: IikoClient,
    store: Store,
    export_dir: PathBuf,
    alerts: OperatorChats,
    locks: Arc<std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl MenuSyncer {
    pub fn new(
        client: IikoClient,
        store: Store,
        export_dir: PathBuf,
        alerts: OperatorChats,
    ) -> Self {
        Self {
            client,
            store,
            export_dir,
            alerts,
            locks: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn sync(
        &self,
        branch: &BranchConfig,
        kind: SyncKind,
        options: SyncOptions,
        on_stage: &(dyn Fn(Stage) + Send + Sync),
    ) -> Result<SyncOutcome, SyncError> {
        let lock = self.branch_lock(&branch.key);
        let _one_at_a_time = lock.lock().await;
        // Other processes share the store, not this mutex. A dry run writes nothing.
        let held = match options.dry_run {
            true => None,
            false => Some(HeldSyncLock::take(&self.store, &branch.key).await?),
        };
        // Under the lock the stored version is read afresh: a sync that waited finds what the
        // one before it stored, and with nothing new stores and sends nothing.
        let result = self.sync_held(branch, kind, options, on_stage).await;
        if let Some(held) = held {
            held.release().await;
        }
        result
    }

    async fn sync_held(
        &self,
        branch: &BranchConfig,
        kind: SyncKind,
        options: SyncOptions,
        on_stage: &(dyn Fn(Stage) + Send + Sync),
    ) -> Result<SyncOutcome, SyncError> {
        let started = Instant::now();
        let outcome = |result, products, diff, report| SyncOutcome {
            branch: branch.key.clone(),
            kind,
            result,
            products,
            diff,
            report,
            exported: None,
            seconds: started.elapsed().as_secs_f64(),
        };
        // Reading the stored version and asking iiko overlap: each takes about as long as the
        // other on a large menu.
        let revision = self.store.current_iiko_revision(&branch.key).await?;
        let loading = tokio::spawn(load_previous(self.store.clone(), branch.key.clone()));
        on_stage(Stage::Fetching);
        let (fetched, stop_list) = tokio::join!(
            async {
                match kind {
                    SyncKind::StopList => Ok(None),
                    _ => fetch_catalog(&self.client, branch, revision)
                        .await
                        .map(Some),
                }
            },
            fetch_stop_list(&self.client, branch),
        );
        let previous = loading.await.expect("loading a catalog does not panic")?;
        let (fetched, stop_list) = (fetched?, stop_list?);
        let (fresh, report) = match (fetched, previous.as_ref()) {
            (_, None) if kind != SyncKind::Full => {
                return Ok(outcome(
                    SyncResult::NoCatalog,
                    0,
                    CatalogDiff::default(),
                    IntegrityReport::default(),
                ));
            }
            (None, Some(previous)) => (previous.catalog.clone(), previous.report.clone()),
            (Some(Fetched::Built(built)), previous) => match (kind, previous) {
                (SyncKind::Prices, Some(previous)) => (
                    with_prices_of(&previous.catalog, &built.catalog),
                    built.report,
                ),
                _ => (built.catalog, built.report),
            },
            // The nomenclature did not change since the stored catalog was built.
            (Some(Fetched::Unchanged { .. }), Some(previous)) => {
                (previous.catalog.clone(), previous.report.clone())
            }
            (Some(Fetched::Unchanged { .. }) | None, None) => {
                return Err(MenuError::Malformed {
                    path: "/api/1/nomenclature".into(),
                    problem: "unchanged revision without a stored catalog".into(),
                }
                .into());
            }
        };
        let mut catalog = apply_stop_list(fresh, &stop_list);
        on_stage(Stage::Comparing);
        let changes = match previous.as_ref() {
            Some(previous) => diff(&previous.catalog, &catalog),
            None => diff(&empty_like(&catalog), &catalog),
        };
        let products = catalog.products.len();
        if options.dry_run {
            return Ok(outcome(SyncResult::DryRun, products, changes, report));
        }
        if options.strict && report.has_problems() {
            return Ok(outcome(SyncResult::KeptPrevious, products, changes, report));
        }
        self.alert_if_new_problems(&report, previous.as_ref().map(|p| &p.report))
            .await;
        if previous.is_some() && changes.is_empty() {
            return Ok(outcome(SyncResult::Unchanged, products, changes, report));
        }
        on_stage(Stage::Storing);
        catalog.synced_at = Utc::now();
        let stored = self.store_catalog(&catalog, &report, &changes).await?;
        let exported = self.export(&stored).await?;
        Ok(SyncOutcome {
            exported: Some(exported),
            ..outcome(SyncResult::Stored, products, changes, report)
        })
    }

    /// Makes the previous catalog current again and re-exports it.
    pub async fn rollback(&self, branch: &str) -> Result<Option<StoredCatalog>, SyncError> {
        let lock = self.branch_lock(branch);
        let _one_at_a_time = lock.lock().await;
        let held = HeldSyncLock::take(&self.store, branch).await?;
        let result = self.rollback_held(branch).await;
        held.release().await;
        result
    }

    async fn rollback_held(&self, branch: &str) -> Result<Option<StoredCatalog>, SyncError> {
        let Some(restored) = self.store.rollback_catalog(branch).await? else {
            return Ok(None);
        };
        self.export(&restored).await?;
        Ok(Some(restored))
    }

    fn branch_lock(&self, branch: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(branch.to_owned()).or_default().clone()
    }

    async fn store_catalog(
        &self,
        catalog: &Catalog,
        report: &IntegrityReport,
        changes: &CatalogDiff,
    ) -> Result<StoredCatalog, SyncError> {
        let revision = catalog.synced_at.timestamp_millis();
        let public_json = serde_json::to_string(&catalog.public_view(revision))
            .expect("a catalog always serializes");
        let catalog_json = serde_json::to_string(catalog).expect("a catalog always serializes");
        let report_json = serde_json::to_string(report).expect("a report always serializes");
        let etag = etag_of(&public_json);
        let id = self
            .store
            .save_catalog(NewCatalogVersion {
                branch: &catalog.branch,
                revision: catalog.iiko_revision,
                synced_at: catalog.synced_at,
                etag: &etag,
                catalog_json: &catalog_json,
                public_json: &public_json,
                report_json: &report_json,
                // Every stored version changed something (or is the first): the site hears of it.
                updated_event: Some(
                    serde_json::to_value(changes.counts()).expect("counts always serialize"),
                ),
            })
            .await?;
        Ok(StoredCatalog {
            id,
            branch: catalog.branch.clone(),
            revision: catalog.iiko_revision,
            synced_at: catalog.synced_at,
            etag,
            catalog_json,
            public_json,
            report_json,
        })
    }

    /// Writes `catalog-<branch>.json` so that readers never see a half-written file.
    async fn export(&self, stored: &StoredCatalog) -> Result<PathBuf, SyncError> {
        let path = self
            .export_dir
            .join(format!("catalog-{}.json", stored.branch));
        write_atomically(&path, stored.public_json.as_bytes())
            .await
            .map_err(|source| SyncError::Export {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    /// One Telegram message per new set of problems: a sync every few minutes must not repeat
    /// the same alert until somebody fixes the articles in iiko.
    async fn alert_if_new_problems(
        &self,
        report: &IntegrityReport,
        known: Option<&IntegrityReport>,
    ) {
        if !report.has_problems() {
            return;
        }
        let problems: Vec<String> = report.problems().map(ToString::to_string).collect();
        let known_problems: Option<Vec<String>> =
            known.map(|k| k.problems().map(ToString::to_string).collect());
        if known_problems.as_ref() == Some(&problems) {
            return;
        }
        self.alerts.send(&alert_text(report, &problems)).await;
    }
}

/// How long a branch's sync lock holds unless renewed: a process killed mid-sync keeps the
/// branch's syncs waiting at most this long.
const SYNC_LOCK_HOLD: Duration = Duration::from_secs(60);
/// How often a sync waiting for another one's lock asks again.
const SYNC_LOCK_POLL: Duration = Duration::from_millis(100);

/// A branch's sync lock in the store, renewed while the sync runs.
struct HeldSyncLock {
    store: Store,
    branch: String,
    owner: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl HeldSyncLock {
    /// Waits until no other sync of the branch (in any process) holds the lock, then takes it.
    async fn take(store: &Store, branch: &str) -> Result<HeldSyncLock, StoreError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let hold_ms = SYNC_LOCK_HOLD.as_millis() as i64;
        loop {
            let now = Utc::now().timestamp_millis();
            if store
                .try_lock_sync(branch, &owner, now, now + hold_ms)
                .await?
            {
                break;
            }
            tokio::time::sleep(SYNC_LOCK_POLL).await;
        }
        let renewal = tokio::spawn({
            let (store, branch, owner) = (store.clone(), branch.to_owned(), owner.clone());
            async move {
                loop {
                    tokio::time::sleep(SYNC_LOCK_HOLD / 3).await;
                    let now = Utc::now().timestamp_millis();
                    if let Err(error) = store
                        .try_lock_sync(&branch, &owner, now, now + hold_ms)
                        .await
                    {
                        tracing::warn!(branch, %error, "renewing the menu sync lock failed");
                    }
                }
            }
        });
        Ok(HeldSyncLock {
            store: store.clone(),
            branch: branch.to_owned(),
            owner,
            renewal,
        })
    }

    async fn release(self) {
        self.renewal.abort();
        if let Err(error) = self.store.unlock_sync(&self.branch, &self.owner).await {
            // The hold runs out by itself; the next sync waits until then.
            tracing::warn!(branch = %self.branch, %error, "releasing the menu sync lock failed");
        }
    }
}

impl Drop for HeldSyncLock {
    /// A sync dropped midway (its task cancelled) stops renewing; the hold then runs out.
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// The stored version a sync compares with.
struct Previous {
    catalog: Catalog,
    report: IntegrityReport,
}

/// Reads and parses the current version off the async threads: a large catalog takes a while.
async fn load_previous(store: Store, branch: String) -> Result<Option<Previous>, SyncError> {
    let Some(source) = store.current_catalog_source(&branch).await? else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || {
        let catalog = serde_json::from_str(&source.catalog_json)
            .map_err(|source| SyncError::CorruptCatalog { branch, source })?;
        // An unreadable old report only means its problems may be alerted once more.
        let report = serde_json::from_str(&source.report_json).unwrap_or_default();
        Ok(Some(Previous { catalog, report }))
    })
    .await
    .expect("parsing a catalog does not panic")
}

/// A catalog with nothing in it, to diff a branch's first sync against.
fn empty_like(catalog: &Catalog) -> Catalog {
    Catalog {
        branch: catalog.branch.clone(),
        format: catalog.format,
        iiko_revision: catalog.iiko_revision,
        synced_at: catalog.synced_at,
        groups: Vec::new(),
        products: Vec::new(),
    }
}

/// The stored catalog with prices and availability taken from a fresh build, and nothing else:
/// products that left iiko's menu become unavailable until a full sync removes them.
pub fn with_prices_of(stored: &Catalog, fresh: &Catalog) -> Catalog {
    let fresh_products: HashMap<&str, &super::Product> = fresh
        .products
        .iter()
        .map(|p| (p.article.as_str(), p))
        .collect();
    let mut updated = stored.clone();
    updated.iiko_revision = fresh.iiko_revision;
    for product in &mut updated.products {
        let Some(new) = fresh_products.get(product.article.as_str()) else {
            product.available = false;
            product.sizes.iter_mut().for_each(|s| s.available = false);
            continue;
        };
        for size in &mut product.sizes {
            match new.sizes.iter().find(|s| s.iiko_id == size.iiko_id) {
                Some(new_size) => {
                    size.price = new_size.price;
                    size.available = new_size.available;
                }
                None => size.available = false,
            }
        }
        for group in &mut product.modifier_groups {
            for item in &mut group.items {
                if let Some((_, new_item)) = new.modifier(&item.article) {
                    item.price = new_item.price;
                }
            }
        }
        product.available = product.sizes.iter().any(|s| s.available);
    }
    updated
}

/// A strong ETag from the served bytes.
pub fn etag_of(public_json: &str) -> String {
    let digest = Sha256::digest(public_json.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn alert_text(report: &IntegrityReport, problems: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = format!(
        "⚠️ <b>Меню {}: проблемы с артикулами ({})</b>\nЭти позиции не попали на сайт, пока их не исправят в iiko:\n",
        html::escape(&report.branch),
        problems.len()
    );
    for problem in problems.iter().take(SHOWN) {
        text.push_str(&format!("• {}\n", html::escape(problem)));
    }
    if problems.len() > SHOWN {
        text.push_str(&format!("… и ещё {}\n", problems.len() - SHOWN));
    }
    text
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{file_name}.tmp"));
    let mut file = tokio::fs::File::create(&temporary).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
    // Without the fsync a crash right after the rename could leave an empty file in its place.
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&temporary, path).await
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn the_etag_changes_with_the_content_and_is_quoted() {
        let a = etag_of("{\"a\":1}");
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
        assert_eq!(a, etag_of("{\"a\":1}"));
        assert_ne!(a, etag_of("{\"a\":2}"));
    }

    #[tokio::test]
    async fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/catalog-x.json");
        write_atomically(&path, b"one").await.unwrap();
        write_atomically(&path, b"two").await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_prices_sync_takes_prices_and_availability_but_not_names() {
        let stored = crate::menu::sample::catalog();
        let mut fresh = stored.clone();
        fresh.products[0].name = "Renamed in iiko".into();
        fresh.products[0].sizes[0].price = dec!(999.00);
        let gone = fresh.products.remove(1);
        let updated = with_prices_of(&stored, &fresh);
        assert_eq!(updated.products[0].name, stored.products[0].name);
        assert_eq!(updated.products[0].sizes[0].price, dec!(999.00));
        let kept = updated.product(&gone.article).unwrap();
        assert!(
            !kept.available,
            "a product iiko no longer sends cannot be ordered"
        );
    }
}
