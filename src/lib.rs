//! iiko-bridge: connects a restaurant's website and apps to iikoCloud.
pub mod bot;
pub mod cli;
pub mod config;
pub mod duties;
pub mod fallback;
pub mod http;
pub mod iiko;
pub mod loyalty;
pub mod menu;
pub mod notify;
pub mod orders;
pub mod retention;
pub mod retry;
pub mod signing;
pub mod sim;
pub mod startup;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod worker;

#[cfg(test)]
mod architecture_tests;
