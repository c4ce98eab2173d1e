//! `webhooks/update_settings`: tells iiko where to send each branch organization's events.
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::Config;
use crate::iiko::{
    IikoClient, IikoError,
    types::deliveries::DeliveryStatus,
    types::webhooks::{
        DeliveryOrderWebhookFilter, UpdateWebhookSettingsRequest, UpdatesFilter, WebhooksFilter,
    },
};

/// The events the bridge uses, named explicitly (iiko does not document a missing filter):
/// every delivery status change and creation error, stop-list and nomenclature updates.
pub fn webhook_filter() -> WebhooksFilter {
    use DeliveryStatus::*;
    WebhooksFilter {
        delivery_order_filter: Some(DeliveryOrderWebhookFilter {
            order_statuses: Some(vec![
                Unconfirmed,
                WaitCooking,
                ReadyForCooking,
                CookingStarted,
                CookingCompleted,
                Waiting,
                OnWay,
                Delivered,
                Closed,
                Cancelled,
            ]),
            errors: true,
            ..Default::default()
        }),
        stop_list_update_filter: Some(UpdatesFilter { updates: true }),
        nomenclature_update_filter: Some(UpdatesFilter { updates: true }),
        ..Default::default()
    }
}

/// Registers `iiko_webhook.url` with its token for every organization of the configured
/// branches (once each); returns the organizations registered.
pub async fn register_webhooks(
    iiko: &IikoClient,
    config: &Config,
) -> Result<Vec<Uuid>, RegisterError> {
    let url = config
        .iiko_webhook
        .url
        .as_ref()
        .ok_or(RegisterError::Missing("iiko_webhook.url"))?;
    let token = config
        .iiko_webhook
        .auth_token
        .as_ref()
        .ok_or(RegisterError::Missing("iiko_webhook.auth_token"))?;
    let mut organizations: Vec<Uuid> = config.branches.iter().map(|b| b.organization_id).collect();
    organizations.sort();
    organizations.dedup();
    for organization_id in &organizations {
        let request = UpdateWebhookSettingsRequest {
            organization_id: *organization_id,
            web_hooks_uri: url.to_string(),
            auth_token: Some(token.expose_secret().to_owned()),
            web_hooks_filter: Some(webhook_filter()),
        };
        iiko.update_webhook_settings(&request)
            .await
            .map_err(|e| RegisterError::Iiko(*organization_id, e))?;
    }
    Ok(organizations)
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}: required to register webhooks")]
    Missing(&'static str),
    #[error("registering webhooks for organization {0}: {1}")]
    Iiko(Uuid, #[source] IikoError),
}
