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

use std::{num::NonZeroU32, time::Duration};

use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

/// How to reach iikoCloud with one credential.
#[derive(Debug, Clone)]
pub struct IikoSettings {
    pub base_url: Url,
    pub credentials: Credentials,
    /// Sent as the `Timeout` header: how long iiko waits for the terminal before answering 408.
    pub timeout: Duration,
    pub requests_per_second: NonZeroU32,
}

/// The two authentication flows iikoCloud offers.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Legacy `/api/1/access_token` with `apiLogin`.
    ApiLogin(SecretString),
    /// `/api/v2/access_token` with `apiKey` + `appId` + `clientSecret`.
    ApiKey {
        api_key: SecretString,
        app_id: Uuid,
        client_secret: SecretString,
    },
}
