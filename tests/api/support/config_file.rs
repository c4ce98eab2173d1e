//! The configuration FILE, for tests that run the `iiko-bridge` binary: the shipped example
//! edited key by key. Every edit is checked, so a renamed or mistyped key fails the test instead
//! of silently leaving the example as it was.
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use iiko_bridge::sim::SimHandle;

use super::store;

const EXAMPLE: &str = include_str!("../../../config/bridge.example.toml");

pub struct ConfigFile(Table);

impl ConfigFile {
    /// `config/bridge.example.toml` as shipped.
    pub fn example() -> Self {
        Self(EXAMPLE.parse().expect("the example configuration is TOML"))
    }

    /// The example pointed at `sim`, with its store and export folder in `dir`, listening on
    /// a free port, a real site token, following a creation for 3 s instead of 75, and no
    /// daily reconciliation.
    pub fn for_sim(sim: &SimHandle, dir: &Path) -> Self {
        let mut file = Self::example();
        file.set("iiko.base_url", sim.base_url.as_str().trim_end_matches('/'));
        file.set("store.url", store::url(dir));
        file.set("menu.export_dir", dir.join("export").display().to_string());
        file.set("server.listen", "127.0.0.1:0");
        file.set("site.token", super::SITE_TOKEN);
        file.set("delivery.creation_wait_seconds", 3);
        // The daily reconciliation would call iiko from every `serve` past 06:00 branch time,
        // taking simulator faults meant for other calls; its tests step `DailyRun` themselves.
        file.set("reconcile.daily_at", "off");
        file
    }

    /// Replaces the value of `key` (dotted; a number indexes an array: `branches.0.key`),
    /// which the example must have.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let (table, last) = self.parent(key);
        let slot = table
            .get_mut(last)
            .unwrap_or_else(|| panic!("the example configuration has no `{key}`"));
        *slot = value.into();
        self
    }

    /// Gives a value to `key`, which the example leaves out (or comments out) in a section it has.
    pub fn add(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let (table, last) = self.parent(key);
        let previous = table.insert(last.to_owned(), value.into());
        assert!(
            previous.is_none(),
            "the example already sets `{key}`: use set"
        );
        self
    }

    /// Removes `key`, which the example must have.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        let (table, last) = self.parent(key);
        table
            .remove(last)
            .unwrap_or_else(|| panic!("the example configuration has no `{key}`"));
        self
    }

    /// Writes the file as `dir/name` and answers its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, toml::to_string(&self.0).unwrap()).unwrap();
        path
    }

    /// The table holding `key`'s last part, and that part.
    fn parent<'a>(&mut self, key: &'a str) -> (&mut Table, &'a str) {
        let (path, last) = key.rsplit_once('.').unwrap_or(("", key));
        let mut table = &mut self.0;
        let mut parts = path.split('.').filter(|part| !part.is_empty());
        while let Some(part) = parts.next() {
            let mut value = table
                .get_mut(part)
                .unwrap_or_else(|| panic!("the example configuration has no `{part}` in `{key}`"));
            if let Value::Array(items) = value {
                let index: usize = parts
                    .next()
                    .and_then(|index| index.parse().ok())
                    .unwrap_or_else(|| panic!("`{key}`: `{part}` is an array, give an index"));
                value = items
                    .get_mut(index)
                    .unwrap_or_else(|| panic!("the example configuration has no `{part}.{index}`"));
            }
            table = value
                .as_table_mut()
                .unwrap_or_else(|| panic!("`{part}` in `{key}` is not a table"));
        }
        (table, last)
    }
}
