//! One method per iikoCloud operation the bridge uses.
use super::{
    CorrelationIdResponse, IikoClient, IikoError,
    types::deliveries::{
        CancelDeliveryRequest, CommandStatus, CommandStatusRequest, CreateDeliveryRequest,
        CreateDeliveryResponse, DeliveriesByDateAndFilterRequest, DeliveriesByDateAndPhoneRequest,
        DeliveriesByDateAndStatusRequest, DeliveriesByIdRequest, DeliveriesByRevisionRequest,
        DeliveriesResponse, DeliveriesWithRevisionResponse,
    },
    types::dictionaries::{
        CancelCausesResponse, DiscountsResponse, OrderTypesResponse, OrganizationIdsRequest,
        OrganizationsRequest, OrganizationsResponse, PaymentTypesResponse,
        TerminalGroupsIsAliveRequest, TerminalGroupsIsAliveResponse, TerminalGroupsRequest,
        TerminalGroupsResponse,
    },
    types::loyalty::{
        CalculateCheckinRequest, CalculateCheckinResponse, CustomerInfo, CustomerInfoRequest,
        LoyaltyProgramsRequest, LoyaltyProgramsResponse,
    },
    types::menu::{
        ExternalMenu, ExternalMenuRequest, ExternalMenusResponse, MenuV3, MenuV3Request,
        NomenclatureRequest, NomenclatureResponse,
    },
    types::stop_lists::{
        CheckStopListRequest, CheckStopListResponse, StopListsRequest, StopListsResponse,
    },
    types::webhooks::{
        UpdateWebhookSettingsRequest, WebhookSettingsRequest, WebhookSettingsResponse,
    },
};

impl IikoClient {
    pub async fn organizations(
        &self,
        request: &OrganizationsRequest,
    ) -> Result<OrganizationsResponse, IikoError> {
        self.post("/api/1/organizations", request).await
    }

    pub async fn terminal_groups(
        &self,
        request: &TerminalGroupsRequest,
    ) -> Result<TerminalGroupsResponse, IikoError> {
        self.post("/api/1/terminal_groups", request).await
    }

    pub async fn terminal_groups_is_alive(
        &self,
        request: &TerminalGroupsIsAliveRequest,
    ) -> Result<TerminalGroupsIsAliveResponse, IikoError> {
        self.post("/api/1/terminal_groups/is_alive", request).await
    }

    pub async fn payment_types(
        &self,
        request: &OrganizationIdsRequest,
    ) -> Result<PaymentTypesResponse, IikoError> {
        self.post("/api/1/payment_types", request).await
    }

    pub async fn order_types(
        &self,
        request: &OrganizationIdsRequest,
    ) -> Result<OrderTypesResponse, IikoError> {
        self.post("/api/1/deliveries/order_types", request).await
    }

    pub async fn discounts(
        &self,
        request: &OrganizationIdsRequest,
    ) -> Result<DiscountsResponse, IikoError> {
        self.post("/api/1/discounts", request).await
    }

    pub async fn cancel_causes(
        &self,
        request: &OrganizationIdsRequest,
    ) -> Result<CancelCausesResponse, IikoError> {
        self.post("/api/1/cancel_causes", request).await
    }

    /// The whole RMS catalogue; heavy, so fetch it rarely and pass the last `revision`.
    pub async fn nomenclature(
        &self,
        request: &NomenclatureRequest,
    ) -> Result<NomenclatureResponse, IikoError> {
        self.post("/api/1/nomenclature", request).await
    }

    /// The external menus and price categories; iiko takes no request body here.
    pub async fn external_menus(&self) -> Result<ExternalMenusResponse, IikoError> {
        self.post("/api/2/menu", &serde_json::json!({})).await
    }

    pub async fn external_menu_by_id(
        &self,
        request: &ExternalMenuRequest,
    ) -> Result<ExternalMenu, IikoError> {
        self.post("/api/2/menu/by_id", request).await
    }

    /// The successor of `external_menu_by_id`, one organization per call.
    pub async fn menu_v3_by_id(&self, request: &MenuV3Request) -> Result<MenuV3, IikoError> {
        self.post("/api/menu/v3/by_id", request).await
    }

    /// Accepts the order for asynchronous creation: follow up with `command_status`, `deliveries_by_id`
    /// or the webhook until `creation_status` leaves `InProgress`.
    pub async fn create_delivery(
        &self,
        request: &CreateDeliveryRequest,
    ) -> Result<CreateDeliveryResponse, IikoError> {
        self.post("/api/1/deliveries/create", request).await
    }

    /// The state of a command; `IikoError::CommandExpired` when iiko no longer tracks it (HTTP 410).
    pub async fn command_status(
        &self,
        request: &CommandStatusRequest,
    ) -> Result<CommandStatus, IikoError> {
        match self.post("/api/1/commands/status", request).await {
            Err(error) if error.http_status() == Some(410) => Err(IikoError::CommandExpired {
                correlation_id: request.correlation_id,
            }),
            other => other,
        }
    }

    pub async fn deliveries_by_id(
        &self,
        request: &DeliveriesByIdRequest,
    ) -> Result<DeliveriesResponse, IikoError> {
        self.post("/api/1/deliveries/by_id", request).await
    }

    pub async fn deliveries_by_revision(
        &self,
        request: &DeliveriesByRevisionRequest,
    ) -> Result<DeliveriesWithRevisionResponse, IikoError> {
        self.post("/api/1/deliveries/by_revision", request).await
    }

    pub async fn deliveries_by_delivery_date_and_status(
        &self,
        request: &DeliveriesByDateAndStatusRequest,
    ) -> Result<DeliveriesWithRevisionResponse, IikoError> {
        self.post("/api/1/deliveries/by_delivery_date_and_status", request)
            .await
    }

    /// One page: the caller pages (`rows_count`, sorted by `CompleteBefore`).
    pub async fn deliveries_by_delivery_date_and_source_key_and_filter(
        &self,
        request: &DeliveriesByDateAndFilterRequest,
    ) -> Result<DeliveriesWithRevisionResponse, IikoError> {
        self.post(
            "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
            request,
        )
        .await
    }

    pub async fn deliveries_by_delivery_date_and_phone(
        &self,
        request: &DeliveriesByDateAndPhoneRequest,
    ) -> Result<DeliveriesWithRevisionResponse, IikoError> {
        self.post("/api/1/deliveries/by_delivery_date_and_phone", request)
            .await
    }

    /// A command: the answer only means "accepted".
    pub async fn cancel_delivery(
        &self,
        request: &CancelDeliveryRequest,
    ) -> Result<CorrelationIdResponse, IikoError> {
        self.post("/api/1/deliveries/cancel", request).await
    }

    pub async fn stop_lists(
        &self,
        request: &StopListsRequest,
    ) -> Result<StopListsResponse, IikoError> {
        self.post("/api/1/stop_lists", request).await
    }

    pub async fn stop_lists_check(
        &self,
        request: &CheckStopListRequest,
    ) -> Result<CheckStopListResponse, IikoError> {
        self.post("/api/1/stop_lists/check", request).await
    }

    /// An unknown guest is an HTTP 400 from iiko, not an empty answer.
    pub async fn loyalty_customer_info(
        &self,
        request: &CustomerInfoRequest,
    ) -> Result<CustomerInfo, IikoError> {
        self.post("/api/1/loyalty/iiko/customer/info", request)
            .await
    }

    pub async fn loyalty_calculate(
        &self,
        request: &CalculateCheckinRequest,
    ) -> Result<CalculateCheckinResponse, IikoError> {
        self.post("/api/1/loyalty/iiko/calculate", request).await
    }

    pub async fn loyalty_program(
        &self,
        request: &LoyaltyProgramsRequest,
    ) -> Result<LoyaltyProgramsResponse, IikoError> {
        self.post("/api/1/loyalty/iiko/program", request).await
    }

    pub async fn webhook_settings(
        &self,
        request: &WebhookSettingsRequest,
    ) -> Result<WebhookSettingsResponse, IikoError> {
        self.post("/api/1/webhooks/settings", request).await
    }

    pub async fn update_webhook_settings(
        &self,
        request: &UpdateWebhookSettingsRequest,
    ) -> Result<CorrelationIdResponse, IikoError> {
        self.post("/api/1/webhooks/update_settings", request).await
    }
}

#[cfg(test)]
mod tests {
    use std::{num::NonZeroU32, time::Duration};

    use mockito::{Matcher, Server, ServerGuard};
    use secrecy::SecretString;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::config::{Credentials, IikoSettings};
    use crate::iiko::token::tests::jwt_expiring_in;

    async fn client_with_token(server: &mut ServerGuard) -> IikoClient {
        server
            .mock("POST", "/api/1/access_token")
            .with_body(format!(
                r#"{{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","token":"{}"}}"#,
                jwt_expiring_in(3600)
            ))
            .create_async()
            .await;
        IikoClient::new(IikoSettings {
            base_url: server.url().parse().unwrap(),
            credentials: Credentials::ApiLogin(SecretString::from("login")),
            timeout: Duration::from_secs(15),
            requests_per_second: NonZeroU32::new(1000).unwrap(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn expired_command_is_reported_as_command_expired() {
        let mut server = Server::new_async().await;
        let client = client_with_token(&mut server).await;
        server
            .mock("POST", "/api/1/commands/status")
            .with_status(410)
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","errorDescription":"Gone"}"#)
            .create_async()
            .await;
        let request = CommandStatusRequest {
            organization_id: Uuid::from_u128(1),
            correlation_id: Uuid::from_u128(42),
        };

        let error = client.command_status(&request).await.unwrap_err();

        assert!(
            matches!(error, IikoError::CommandExpired { correlation_id } if correlation_id == Uuid::from_u128(42)),
            "{error:?}"
        );
        assert!(!error.is_transient());
    }

    #[tokio::test]
    async fn command_status_sends_both_ids_and_reads_the_state() {
        let mut server = Server::new_async().await;
        let client = client_with_token(&mut server).await;
        let status = server
            .mock("POST", "/api/1/commands/status")
            .match_body(Matcher::Json(json!({
                "organizationId": Uuid::from_u128(1), "correlationId": Uuid::from_u128(42)
            })))
            .with_body(r#"{"state":"Success"}"#)
            .create_async()
            .await;
        let request = CommandStatusRequest {
            organization_id: Uuid::from_u128(1),
            correlation_id: Uuid::from_u128(42),
        };

        assert_eq!(
            client.command_status(&request).await.unwrap(),
            CommandStatus::Success
        );
        status.assert_async().await;
    }

    #[tokio::test]
    async fn deliveries_by_revision_returns_the_next_cursor() {
        let mut server = Server::new_async().await;
        let client = client_with_token(&mut server).await;
        server
            .mock("POST", "/api/1/deliveries/by_revision")
            .match_body(Matcher::Json(json!({
                "startRevision": 100, "organizationIds": [Uuid::from_u128(1)]
            })))
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","maxRevision":250,
                "ordersByOrganizations":[{"organizationId":"00000000-0000-0000-0000-000000000001","orders":[]}]}"#)
            .create_async()
            .await;
        let request = DeliveriesByRevisionRequest {
            start_revision: 100,
            organization_ids: vec![Uuid::from_u128(1)],
            source_keys: None,
        };

        let response = client.deliveries_by_revision(&request).await.unwrap();

        assert_eq!(response.max_revision, 250);
        assert!(response.orders_by_organizations[0].orders.is_empty());
    }
}
