//! One method per iikoCloud operation the bridge uses.
use super::{
    IikoClient, IikoError,
    types::dictionaries::{
        CancelCausesResponse, DiscountsResponse, OrderTypesResponse, OrganizationIdsRequest,
        OrganizationsRequest, OrganizationsResponse, PaymentTypesResponse,
        TerminalGroupsIsAliveRequest, TerminalGroupsIsAliveResponse, TerminalGroupsRequest,
        TerminalGroupsResponse,
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
}
