//! The typed iikoCloud client: authentication, errors, rate limits and endpoints.
mod client;
mod endpoints;
mod error;
mod token;
pub mod types;

pub use client::IikoClient;
pub use error::IikoError;
pub use token::AccessToken;
pub use types::common::{CorrelationIdResponse, ExternalData, IikoDateTime, PerOrganization};
