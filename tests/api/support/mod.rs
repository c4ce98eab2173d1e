//! What the test modules share: [`Spawn`] (each module's `spawn_app`) and its [`app::TestApp`], the configuration file
//! for tests that run the binary, each test's store, and the official iikoCloud schema check.
pub mod app;
pub mod config_file;
pub mod iiko_schema;
pub mod postgres;
pub mod store;

pub use app::{Spawn, TestApp, iiko, sync};
pub use config_file::ConfigFile;

/// The site token the tests use in place of the example's placeholder, which loading refuses.
pub const SITE_TOKEN: &str = "site-token-for-the-tests-0123";
