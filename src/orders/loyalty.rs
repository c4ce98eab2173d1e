//! The site-facing loyalty answers over the order domain: balance, cart calculation, the bonus
//! limit of `/orders/check`, and the settlement of bonus points and promo codes at order intake.
//! What iiko's loyalty says and the money rules are in [`crate::loyalty`].
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::service::{RequestError, branch_config};
use super::{FieldProblem, Order, OrderIds, Phone, map_order, parse_cart, percent_limit};
use crate::config::{BranchConfig, Config};
use crate::iiko::IikoClient;
use crate::iiko::types::deliveries::CreateDeliveryRequest;
use crate::loyalty::{
    self, BonusLimit, LoyaltyError, Quote, drop_coupon, quote, settle_coupon, within,
};
use crate::menu::CatalogCache;
use crate::store::Store;

/// Something the site should know about an answer that is still usable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub message: String,
}

impl Warning {
    fn new(code: &'static str, field: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
        }
    }

    fn unavailable(error: &LoyaltyError) -> Self {
        tracing::warn!(%error, "loyalty: going on without iiko's answer");
        Self::new(
            "iiko_unavailable",
            None,
            format!("{error}; bonus_max follows the branch's percent rule only"),
        )
    }
}

fn not_set_up(field: &str, error: &LoyaltyError) -> RequestError {
    RequestError::Invalid(vec![FieldProblem::new(
        field,
        "loyalty_not_set_up",
        error.to_string(),
    )])
}

/// `GET /loyalty/balance`: `{"phone", "found", "balance", "wallet"?}`.
pub async fn balance_answer(
    iiko: &IikoClient,
    config: &Config,
    branch: Option<&str>,
    phone: Option<&str>,
) -> Result<Value, RequestError> {
    let mut problems = Vec::new();
    let found = match branch {
        None => {
            problems.push(FieldProblem::new("branch", "required", "is required"));
            None
        }
        Some(key) => {
            let found = config.branch(key);
            if found.is_none() {
                problems.push(FieldProblem::new(
                    "branch",
                    "unknown_branch",
                    format!("no branch {key:?} is configured"),
                ));
            }
            found
        }
    };
    let phone = match phone.map(Phone::parse) {
        None => {
            problems.push(FieldProblem::new(
                "phone",
                "required",
                "is required: bonus points belong to the guest with this phone",
            ));
            None
        }
        Some(Err(refusal)) => {
            problems.push(FieldProblem::new("phone", refusal.code, refusal.message));
            None
        }
        Some(Ok(phone)) => Some(phone),
    };
    let (Some(branch), Some(phone)) = (found, phone) else {
        return Err(RequestError::Invalid(problems));
    };
    let wait = config.site.loyalty_wait();
    match within(wait, loyalty::balance(iiko, branch, phone.as_str())).await {
        Ok(balance) => {
            let mut answer = json!({
                "phone": phone.as_str(),
                "found": balance.found,
                "balance": balance.balance,
            });
            if let Some(wallet) = balance.wallet {
                answer["wallet"] = json!(wallet);
            }
            Ok(answer)
        }
        Err(error @ LoyaltyError::NotSetUp { .. }) => Err(not_set_up("branch", &error)),
        Err(error) => Err(RequestError::IikoUnavailable(error)),
    }
}

/// What the bridge knows about a cart's discount and bonus limit.
struct Assessment {
    discount: Decimal,
    bonus_max: Decimal,
    coupon_valid: Option<bool>,
    warnings: Vec<Warning>,
    failure: Option<LoyaltyError>,
}

/// Asks iiko about a mapped cart (when the branch takes bonus points or a coupon is given) and
/// applies the money rules to its answer, or to the percent rule alone without one.
async fn assess(
    iiko: &IikoClient,
    config: &Config,
    branch: &BranchConfig,
    order: &Order,
    request: &CreateDeliveryRequest,
    coupon: Option<&str>,
) -> Assessment {
    let enabled = branch.bonus.enabled;
    let mut warnings = Vec::new();
    let (quote, failure) = if enabled || coupon.is_some() {
        match within(
            config.site.loyalty_wait(),
            quote(iiko, branch, request, coupon),
        )
        .await
        {
            Ok(quote) => (Some(quote), None),
            Err(error) => (None, Some(error)),
        }
    } else {
        (None, None)
    };
    if let Some(error) = &failure {
        warnings.push(match error {
            LoyaltyError::NotSetUp { .. } => {
                Warning::new("loyalty_not_set_up", Some("branch"), error.to_string())
            }
            _ => Warning::unavailable(error),
        });
    }
    let site_discount = order
        .discount
        .as_ref()
        .map_or(Decimal::ZERO, |d| d.amount.amount());
    let discount = match (&quote, coupon) {
        (Some(quote), Some(_)) => quote.discount,
        _ => site_discount,
    };
    let limit = BonusLimit {
        percent: percent_limit(order.items_sum() - discount, branch.bonus.limit_percent),
        balance: quote.as_ref().map(|q| q.balance.balance),
        iiko: quote.as_ref().and_then(|q| q.limit),
    };
    let no_points = !enabled || matches!(failure, Some(LoyaltyError::NotSetUp { .. }));
    let bonus_max = if no_points {
        Decimal::ZERO
    } else {
        limit.max()
    };
    if quote.as_ref().is_some_and(|q| enabled && !q.balance.found) {
        warnings.push(Warning::new(
            "customer_not_found",
            Some("customer.phone"),
            format!(
                "{} is not in the loyalty program: no points to spend",
                request.order.phone
            ),
        ));
    }
    if let Some(Quote {
        coupon_valid: Some(false),
        warnings: said,
        ..
    }) = &quote
    {
        warnings.push(Warning::new(
            "promo_code_unknown",
            Some("discount.promo_code"),
            format!("iiko does not take this promo code: {}", said.join("; ")),
        ));
    }
    if order.bonus.amount() > bonus_max {
        warnings.push(Warning::new(
            "over_bonus_max",
            Some("bonus.amount"),
            format!(
                "{} bonus points asked, at most {bonus_max:.2} allowed ({})",
                order.bonus,
                limit.explain(branch.bonus.limit_percent)
            ),
        ));
    }
    Assessment {
        discount,
        bonus_max,
        coupon_valid: quote.as_ref().and_then(|q| q.coupon_valid),
        warnings,
        failure,
    }
}

/// `POST /loyalty/calculate`: `{"discount", "bonus_max", "promo_code_valid"?, "warnings"}`.
/// iiko is asked about the promo code only with `promo.use_iiko_codes`; `discount` is then what
/// iiko gives the cart, else the cart's own discount.
pub async fn calculate_answer(
    iiko: &IikoClient,
    catalogs: &CatalogCache,
    config: &Config,
    raw: &[u8],
) -> Result<Value, RequestError> {
    let order = parse_cart(raw, config)?;
    let branch = branch_config(config, &order);
    let Some(catalog) = catalogs.current(order.branch.as_str()).await? else {
        return Err(RequestError::Invalid(vec![FieldProblem::new(
            "branch",
            "no_catalog",
            "the branch's menu has not been synced yet",
        )]));
    };
    let ids = OrderIds::generate(&order);
    let request =
        map_order(&order, branch, &catalog, &ids, &config.site.source_key).map_err(|problems| {
            RequestError::Invalid(problems.into_iter().map(FieldProblem::from).collect())
        })?;
    let coupon = promo_code(&order).filter(|_| branch.promo.use_iiko_codes);
    let assessment = assess(iiko, config, branch, &order, &request, coupon).await;
    if let Some(error @ LoyaltyError::NotSetUp { .. }) = &assessment.failure {
        return Err(not_set_up("branch", error));
    }
    let mut answer = json!({
        "discount": assessment.discount,
        "bonus_max": assessment.bonus_max,
        "warnings": assessment.warnings,
    });
    if let Some(valid) = assessment.coupon_valid {
        answer["promo_code_valid"] = json!(valid);
    }
    Ok(answer)
}

/// `bonus_max` and warnings for `/orders/check` of a cart that maps cleanly, asking iiko the way
/// intake will (with the coupon when `promo.send_codes`).
pub async fn check_bonus_max(
    iiko: &IikoClient,
    config: &Config,
    order: &Order,
    request: &CreateDeliveryRequest,
) -> (Decimal, Vec<Warning>) {
    let branch = branch_config(config, order);
    let coupon = promo_code(order).filter(|_| branch.promo.send_codes);
    let assessment = assess(iiko, config, branch, order, request, coupon).await;
    (assessment.bonus_max, assessment.warnings)
}

/// Settles a new order's bonus points and promo code with iiko before it is stored: refuses
/// (422) points over `bonus_max` and codes iiko will not take, and sends a coupon only with
/// what iiko gives for it taken off the universal discount. Without iiko's answer the order
/// goes on within the percent rule, without the coupon.
pub async fn settle_at_intake(
    iiko: &IikoClient,
    store: &Store,
    config: &Config,
    order: &Order,
    request: &mut CreateDeliveryRequest,
) -> Result<(), RequestError> {
    let branch = branch_config(config, order);
    let coupon = promo_code(order).filter(|_| branch.promo.send_codes);
    let bonus = !order.bonus.is_zero();
    if !bonus && coupon.is_none() {
        return Ok(());
    }
    // A repeat is answered from the store, whatever the wallet holds now.
    let site_id = order.id.as_ref().map_or("", |id| id.as_str());
    let stored = store
        .orders_by_site_id(site_id, Some(order.branch.as_str()))
        .await?;
    if !stored.is_empty() {
        return Ok(());
    }
    let quote = match within(
        config.site.loyalty_wait(),
        quote(iiko, branch, request, coupon),
    )
    .await
    {
        Ok(quote) => quote,
        Err(error @ LoyaltyError::NotSetUp { .. }) if bonus => {
            return Err(not_set_up("bonus.amount", &error));
        }
        Err(error) => {
            tracing::warn!(%error, order = ?order.id, "loyalty: order accepted without iiko's answer; the coupon is not sent");
            drop_coupon(request);
            return Ok(());
        }
    };
    if bonus {
        let site_discount = order
            .discount
            .as_ref()
            .map_or(Decimal::ZERO, |d| d.amount.amount());
        let limit = BonusLimit {
            percent: percent_limit(
                order.items_sum() - site_discount,
                branch.bonus.limit_percent,
            ),
            balance: Some(quote.balance.balance),
            iiko: quote.limit,
        };
        let max = limit.max();
        if order.bonus.amount() > max {
            let guest = if quote.balance.found {
                ""
            } else {
                " (the guest is not in the loyalty program)"
            };
            return Err(RequestError::Invalid(vec![FieldProblem::new(
                "bonus.amount",
                "over_bonus_max",
                format!(
                    "at most {max:.2} bonus points may be spent on this order: {}{guest}",
                    limit.explain(branch.bonus.limit_percent)
                ),
            )]));
        }
    }
    if let Some(code) = coupon {
        match quote.coupon_valid {
            Some(true) => settle_coupon(request, code, quote.discount).map_err(|error| {
                RequestError::Invalid(vec![FieldProblem::new(
                    "discount.amount",
                    "promo_over_discount",
                    error.to_string(),
                )])
            })?,
            _ if branch.promo.use_iiko_codes => {
                return Err(RequestError::Invalid(vec![FieldProblem::new(
                    "discount.promo_code",
                    "unknown_promo_code",
                    format!(
                        "iiko does not take the promo code {code:?}: {}",
                        quote.warnings.join("; ")
                    ),
                )]));
            }
            _ => drop_coupon(request),
        }
    }
    Ok(())
}

fn promo_code(order: &Order) -> Option<&str> {
    order.discount.as_ref()?.promo_code.as_deref()
}
