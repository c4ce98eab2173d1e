//! Where each test keeps its store: the one place a test learns its store's URL.
use std::path::Path;

/// A fresh store of its own for the test whose folder is `dir`. Only SQLite exists today; a
/// second backend (PostgreSQL, chosen once for the whole run) gives its URLs here.
pub fn url(dir: &Path) -> String {
    format!("sqlite://{}/bridge.db", dir.display())
}
