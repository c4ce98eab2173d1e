//! Discounts and bonus points: the guest's iikoCard balance, what iiko's loyalty programs give a
//! cart, and the money rules that keep iiko's bill equal to what the site took.
//!
//! The site's discount goes to iiko as the branch's universal discount (a manual free-sum RMS
//! type with the sum, set by the order mapping); bonus points as a `LoyaltyCard` payment.
//! This module asks iiko the questions the site needs answered before payment; the answers the
//! site gets, which need the order's parsing and mapping, are built in `orders/loyalty.rs`.
//!
//! Decisions where the contract and iiko are silent:
//! - `bonus_max` = min(wallet balance, iiko's `availablePayments` limit, `bonus.limit_percent`
//!   of the items less the discount), rounded down to kopecks; 0 when the branch takes no bonus.
//!   iiko's limit is the largest `maxSum` it offers; an empty `availablePayments` means iiko set
//!   no limit of its own (the balance and the percent rule still apply).
//! - "Customer not found" (any 400 from `customer/info` other than `Common_OrganizationNotFound`)
//!   is an answer: balance 0. `Common_OrganizationNotFound` means loyalty is not set up for the
//!   organization: 422 naming the field that needs it.
//! - Every loyalty call made for a site request waits at most `site.loyalty_wait_ms`. Without an
//!   answer (timeout, network, 5xx): the balance endpoint answers 503; calculate and
//!   `/orders/check` answer `bonus_max` from the percent rule alone with an `iiko_unavailable`
//!   warning; order intake accepts the order within the percent rule (iiko checks the wallet when
//!   it creates the order, and a short wallet sends the order to the operators). An accepted
//!   order is never lost to a slow loyalty system.
//! - Intake asks iiko only for a new order that spends points or sends a promo code; a repeat of
//!   a stored order is answered from the store without asking (the first order may have spent
//!   the very points a second look would miss).
//! - A promo code sent as a coupon (`promo.send_codes`) makes iiko's loyalty apply the coupon's
//!   discount itself, so the universal discount carries only the rest: universal = the site's
//!   discount - iiko's discount for the cart with the code ([`settle_coupon`]). A code iiko does
//!   not know is not sent (it stays in the comment for staff), or refused with 422 when the
//!   branch uses iiko's codes (`promo.use_iiko_codes`); without iiko's answer it is not sent
//!   either: an unregistered coupon is better than a discount counted twice.
mod limit;
mod sample;

use std::{future::Future, time::Duration};

use rust_decimal::Decimal;
use uuid::Uuid;

pub use limit::{BonusLimit, CouponOverDiscount, drop_coupon, settle_coupon};
pub use sample::sample_order;

use crate::config::BranchConfig;
use crate::iiko::types::deliveries::{CreateDeliveryRequest, LoyaltyInfo};
use crate::iiko::types::loyalty::{
    CalculateCheckinRequest, CustomerInfoRequest, CustomerLookup, WalletType,
};
use crate::iiko::{IikoClient, IikoError};

/// iiko's answer when the organization has no loyalty program (REFERENCE §10).
const NOT_SET_UP: &str = "Common_OrganizationNotFound";

#[derive(Debug, thiserror::Error)]
pub enum LoyaltyError {
    #[error("iiko has no loyalty program for organization {organization_id}: {description}")]
    NotSetUp {
        organization_id: Uuid,
        description: String,
    },
    #[error("iiko's loyalty system did not answer within site.loyalty_wait_ms")]
    TimedOut,
    #[error(transparent)]
    Iiko(IikoError),
}

impl LoyaltyError {
    fn from_iiko(error: IikoError, organization_id: Uuid) -> Self {
        match error {
            IikoError::Api {
                code: Some(code),
                description,
                ..
            } if code == NOT_SET_UP => Self::NotSetUp {
                organization_id,
                description,
            },
            other => Self::Iiko(other),
        }
    }
}

/// Runs an iiko call for a site request, giving up after `wait`.
pub async fn within<T>(
    wait: Duration,
    call: impl Future<Output = Result<T, LoyaltyError>>,
) -> Result<T, LoyaltyError> {
    tokio::time::timeout(wait, call)
        .await
        .unwrap_or(Err(LoyaltyError::TimedOut))
}

/// A guest's bonus wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    pub found: bool,
    /// The points on the bonus-program wallets; 0 for a guest iiko does not know.
    pub balance: Decimal,
    /// The bonus wallet's name.
    pub wallet: Option<String>,
}

/// The guest's bonus balance from `customer/info` by phone.
pub async fn balance(
    iiko: &IikoClient,
    branch: &BranchConfig,
    phone: &str,
) -> Result<Balance, LoyaltyError> {
    let request = CustomerInfoRequest {
        organization_id: branch.organization_id,
        lookup: CustomerLookup::Phone {
            phone: phone.to_owned(),
        },
    };
    match iiko.loyalty_customer_info(&request).await {
        Ok(info) => Ok(Balance {
            found: true,
            balance: info.bonus_balance(),
            wallet: info
                .wallet_balances
                .iter()
                .find(|w| w.wallet_type == Some(WalletType::Bonus))
                .and_then(|w| w.name.clone()),
        }),
        Err(IikoError::Api {
            status: 400, code, ..
        }) if code.as_deref() != Some(NOT_SET_UP) => Ok(Balance {
            found: false,
            balance: Decimal::ZERO,
            wallet: None,
        }),
        Err(error) => Err(LoyaltyError::from_iiko(error, branch.organization_id)),
    }
}

/// What iiko says about a cart: the guest's balance, its loyalty discount and bonus limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub balance: Balance,
    /// The discount iiko's loyalty programs give the cart (with the coupon, when asked).
    pub discount: Decimal,
    /// iiko's `availablePayments` limit; `None` when it offered none.
    pub limit: Option<Decimal>,
    /// Whether iiko took the coupon; `None` when no coupon was asked about.
    pub coupon_valid: Option<bool>,
    /// iiko's warnings, as it wrote them.
    pub warnings: Vec<String>,
}

/// Asks iiko about the cart of `request` (a mapped `deliveries/create`), with `coupon` if given:
/// `customer/info` and `calculate`, side by side.
pub async fn quote(
    iiko: &IikoClient,
    branch: &BranchConfig,
    request: &CreateDeliveryRequest,
    coupon: Option<&str>,
) -> Result<Quote, LoyaltyError> {
    let checkin = calculate_request(request, coupon);
    let calculate = async {
        iiko.loyalty_calculate(&checkin)
            .await
            .map_err(|e| LoyaltyError::from_iiko(e, branch.organization_id))
    };
    let (balance, answer) =
        tokio::try_join!(balance(iiko, branch, &request.order.phone), calculate)?;
    let mut warnings: Vec<String> = answer.validation_warnings.clone();
    warnings.extend(answer.warnings.iter().filter_map(|w| w.message.clone()));
    warnings.dedup();
    Ok(Quote {
        balance,
        discount: answer.total_discount(),
        limit: answer.available_payments.iter().map(|p| p.max_sum).max(),
        coupon_valid: coupon
            .map(|_| answer.warnings.is_empty() && answer.validation_warnings.is_empty()),
        warnings,
    })
}

/// The `calculate` body for a mapped order: the same basket, customer and service, without the
/// order id, payments and the universal discount (the question is what iiko itself gives).
fn calculate_request(
    request: &CreateDeliveryRequest,
    coupon: Option<&str>,
) -> CalculateCheckinRequest {
    let mut order = request.order.clone();
    order.id = None;
    order.payments.clear();
    order.discounts_info = None;
    order.loyalty_info = coupon.map(|coupon| LoyaltyInfo {
        coupon: Some(coupon.to_owned()),
        ..Default::default()
    });
    CalculateCheckinRequest {
        organization_id: request.organization_id,
        order,
        terminal_group_id: request.terminal_group_id,
        referrer_id: None,
        available_payment_marketing_campaign_ids: Vec::new(),
        is_loyalty_trace_enabled: false,
    }
}
