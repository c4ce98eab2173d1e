//! iikoCard loyalty (iikoNet contracts): guests, wallets, basket calculation, programs.
//! These contracts mix PascalCase keys and integer enums, and mark almost nothing required.
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    common::{IikoDateTime, null_as_empty, open_int_enum},
    deliveries::DeliveryOrder,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfoRequest {
    pub organization_id: Uuid,
    #[serde(flatten)]
    pub lookup: CustomerLookup,
}

/// How to find the guest; serialized as `type` plus the matching field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CustomerLookup {
    #[serde(rename = "phone")]
    Phone { phone: String },
    #[serde(rename = "cardTrack", rename_all = "camelCase")]
    CardTrack { card_track: String },
    #[serde(rename = "cardNumber", rename_all = "camelCase")]
    CardNumber { card_number: String },
    #[serde(rename = "email")]
    Email { email: String },
    #[serde(rename = "id")]
    Id { id: String },
}

open_int_enum! {
    pub enum Sex { NotSet = 0, Male = 1, Female = 2 }
}

open_int_enum! {
    pub enum ConsentStatus { Undetermined = 0, Given = 1, Revoked = 2 }
}

open_int_enum! {
    /// The kind of a wallet or program ("ProgramType").
    pub enum WalletType {
        DepositOrCorporateNutrition = 0,
        Bonus = 1,
        Products = 2,
        Discount = 3,
        Certificate = 4,
    }
}

open_int_enum! {
    pub enum DiscountOperationCode {
        OrderFixedDiscount = 0,
        PositionFixedDiscount = 1,
        FreeProduct = 2,
        Other = 3,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfo {
    pub id: Option<Uuid>,
    pub referrer_id: Option<Uuid>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub middle_name: Option<String>,
    pub comment: Option<String>,
    pub phone: Option<String>,
    pub culture_name: Option<String>,
    pub birthday: Option<IikoDateTime>,
    pub email: Option<String>,
    pub sex: Option<Sex>,
    pub consent_status: Option<ConsentStatus>,
    pub anonymized: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cards: Vec<GuestCard>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub categories: Vec<GuestCategory>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub wallet_balances: Vec<WalletBalance>,
    pub user_data: Option<String>,
    pub should_receive_promo_actions_info: Option<bool>,
    pub should_receive_loyalty_info: Option<bool>,
    pub should_receive_order_status_info: Option<bool>,
    pub is_deleted: Option<bool>,
    pub when_registered: Option<IikoDateTime>,
    pub last_processed_order_date: Option<IikoDateTime>,
    pub first_order_date: Option<IikoDateTime>,
    pub last_visited_organization_id: Option<Uuid>,
    pub registration_organization_id: Option<Uuid>,
}

impl CustomerInfo {
    /// The balance of the bonus-program wallets, the points a guest can spend.
    pub fn bonus_balance(&self) -> Decimal {
        self.wallet_balances
            .iter()
            .filter(|wallet| wallet.wallet_type == Some(WalletType::Bonus))
            .filter_map(|wallet| wallet.balance)
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestCard {
    pub id: Option<Uuid>,
    pub track: Option<String>,
    pub number: Option<String>,
    pub valid_to_date: Option<IikoDateTime>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestCategory {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub is_default_for_new_guests: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WalletBalance {
    /// The wallet id.
    pub id: Option<Uuid>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub wallet_type: Option<WalletType>,
    pub balance: Option<Decimal>,
}

/// "Checkin": the discounts and bonus-payment limits the loyalty programs give a basket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalculateCheckinRequest {
    pub organization_id: Uuid,
    /// Give every line a `position_id` so discounts can point at it; leave `menu_id` unset.
    pub order: DeliveryOrder,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_group_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer_id: Option<Uuid>,
    /// Campaigns whose loyalty payment the order intends to use; empty without a bonus payment.
    #[serde(default)]
    pub available_payment_marketing_campaign_ids: Vec<Uuid>,
    #[serde(default)]
    pub is_loyalty_trace_enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalculateCheckinResponse {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub loyalty_program_results: Vec<LoyaltyProgramResult>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub available_payments: Vec<AvailablePayment>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub validation_warnings: Vec<String>,
    #[serde(rename = "Warnings", default, deserialize_with = "null_as_empty")]
    pub warnings: Vec<LoyaltyWarning>,
    pub loyalty_trace: Option<String>,
}

impl CalculateCheckinResponse {
    /// The total discount all programs give the basket.
    pub fn total_discount(&self) -> Decimal {
        self.loyalty_program_results
            .iter()
            .flat_map(|result| &result.discounts)
            .map(|discount| discount.discount_sum)
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyProgramResult {
    pub marketing_campaign_id: Option<Uuid>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub discounts: Vec<DiscountOperation>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub upsales: Vec<serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub free_products: Vec<serde_json::Value>,
    pub need_to_activate_certificate: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscountOperation {
    pub code: Option<DiscountOperationCode>,
    /// `None` means the discount applies to the whole order.
    pub position_id: Option<Uuid>,
    pub discount_sum: Decimal,
    pub amount: Option<Decimal>,
    pub comment: Option<String>,
}

/// The most the guest may pay with this campaign's loyalty payment; the program rules are already applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailablePayment {
    /// The marketing campaign id.
    pub id: Option<Uuid>,
    pub max_sum: Decimal,
    /// Fill several campaigns in ascending order.
    pub order: Option<i32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub wallet_infos: Vec<WalletPaymentLimit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletPaymentLimit {
    /// The wallet id.
    pub id: Option<Uuid>,
    pub max_sum: Decimal,
    pub can_hold_money: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoyaltyWarning {
    pub code: Option<String>,
    pub error_code: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyProgramsRequest {
    pub organization_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_marketing_campaigns: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoyaltyProgramsResponse {
    #[serde(rename = "Programs", default, deserialize_with = "null_as_empty")]
    pub programs: Vec<LoyaltyProgram>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyProgram {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub service_from: Option<IikoDateTime>,
    pub service_to: Option<IikoDateTime>,
    pub notify_about_balance_changes: Option<bool>,
    pub program_type: Option<WalletType>,
    pub is_active: Option<bool>,
    pub wallet_id: Option<Uuid>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub marketing_campaigns: Vec<MarketingCampaign>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub applied_organizations: Vec<String>,
    pub template_type: Option<i64>,
    pub is_exchange_rate_enabled: Option<bool>,
    pub refill_type: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketingCampaign {
    pub id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    pub period_from: Option<IikoDateTime>,
    pub period_to: Option<IikoDateTime>,
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::*;

    #[test]
    fn customer_lookup_serializes_type_and_matching_field() {
        let by_phone = CustomerInfoRequest {
            organization_id: Uuid::from_u128(1),
            lookup: CustomerLookup::Phone {
                phone: "+79990001122".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&by_phone).unwrap(),
            json!({"organizationId": Uuid::from_u128(1), "type": "phone", "phone": "+79990001122"})
        );
        let by_track = CustomerLookup::CardTrack {
            card_track: "123456".into(),
        };
        assert_eq!(
            serde_json::to_value(&by_track).unwrap(),
            json!({"type": "cardTrack", "cardTrack": "123456"})
        );
    }

    #[test]
    fn customer_info_reads_wallets_and_integer_enums() {
        let json = r#"{"id":"00000000-0000-0000-0000-00000000000a","referrerId":null,"name":"Ivan","surname":null,
            "middleName":null,"comment":null,"phone":"+79990001122","cultureName":"ru-RU","birthday":null,
            "email":null,"sex":1,"consentStatus":7,"anonymized":false,
            "cards":[{"id":"00000000-0000-0000-0000-00000000000b","track":"123","number":"123","validToDate":null}],
            "categories":null,
            "walletBalances":[{"id":"00000000-0000-0000-0000-00000000000c","name":"Bonuses","type":1,"balance":350.5},
                              {"id":"00000000-0000-0000-0000-00000000000d","name":"Deposit","type":0,"balance":1000}],
            "userData":null,"isDeleted":false,"whenRegistered":"2023-01-10 12:00:00.000"}"#;
        let info: CustomerInfo = serde_json::from_str(json).unwrap();
        assert_eq!(info.sex, Some(Sex::Male));
        assert_eq!(info.consent_status, Some(ConsentStatus::Unknown(7)));
        assert!(info.categories.is_empty());
        assert_eq!(info.bonus_balance(), dec!(350.5));
    }

    #[test]
    fn calculate_response_reads_discounts_limits_and_pascal_case_warnings() {
        let json = r#"{"loyaltyProgramResults":[{"marketingCampaignId":"00000000-0000-0000-0000-000000000021",
            "name":"Happy hours","discounts":[{"code":1,"orderItemId":null,
            "positionId":"00000000-0000-0000-0000-000000000005","discountSum":45.5,"amount":1,"comment":"-10%"},
            {"code":0,"positionId":null,"discountSum":20,"amount":null,"comment":""}],
            "upsales":[],"freeProducts":[],"availableComboSpecifications":[],"availableCombos":[],
            "needToActivateCertificate":false}],
            "availablePayments":[{"id":"00000000-0000-0000-0000-000000000022","maxSum":270,"order":0,
            "walletInfos":[{"id":"00000000-0000-0000-0000-00000000000c","maxSum":270,"canHoldMoney":true}]}],
            "validationWarnings":["Coupon expired"],
            "Warnings":[{"Code":"1","ErrorCode":"CouponExpired","Message":"Coupon expired"}],"loyaltyTrace":null}"#;
        let response: CalculateCheckinResponse = serde_json::from_str(json).unwrap();
        assert_eq!(response.total_discount(), dec!(65.5));
        assert_eq!(
            response.loyalty_program_results[0].discounts[0].code,
            Some(DiscountOperationCode::PositionFixedDiscount)
        );
        assert_eq!(
            response.available_payments[0].wallet_infos[0].max_sum,
            dec!(270)
        );
        assert_eq!(
            response.warnings[0].error_code.as_deref(),
            Some("CouponExpired")
        );
    }

    #[test]
    fn programs_response_reads_the_capitalised_programs_key() {
        let json = r#"{"Programs":[{"id":"00000000-0000-0000-0000-000000000031","name":"Bonus club",
            "description":"","serviceFrom":"2023-01-01 00:00:00.000","serviceTo":null,
            "notifyAboutBalanceChanges":true,"programType":1,"isActive":true,
            "walletId":"00000000-0000-0000-0000-00000000000c","marketingCampaigns":[],"appliedOrganizations":[],
            "templateType":3,"isExchangeRateEnabled":false,"refillType":0}]}"#;
        let response: LoyaltyProgramsResponse = serde_json::from_str(json).unwrap();
        assert_eq!(response.programs[0].program_type, Some(WalletType::Bonus));
    }
}
