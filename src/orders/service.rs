//! The order API's work: accept an order durably and idempotently, or check one. Free of HTTP:
//! refusals are [`RequestError`]s, which the HTTP layer turns into status codes.
//!
//! Decisions: an order that cannot be mapped (no catalog yet, unknown article, price drift) is
//! still accepted and stored in state `fallback` at once; its 202 answer says `"state":
//! "fallback"` rather than pretending it is queued, so the site can tell the customer that staff
//! will call. A repeat answers the stored body, whatever state the order is in now, even when its
//! body would be refused now by the clock or the configuration: an order accepted yesterday
//! stays accepted after its `deliver_at` has passed or its branch was renamed.
//!
//! A new order that spends bonus points or sends a promo code is settled with iiko's loyalty
//! before it is stored ([`super::loyalty::settle_at_intake`]): over `bonus_max` it is refused
//! (422); when iiko cannot answer within `site.loyalty_wait_ms` it is accepted within the
//! branch's percent rule.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    FieldProblem, IntakeError, Order, OrderIds, check_order, content_hash, loyalty, map_order,
    parse_order, parse_order_at,
};
use crate::config::Config;
use crate::iiko::IikoClient;
use crate::iiko::types::deliveries::CreateDeliveryRequest;
use crate::loyalty::LoyaltyError;
use crate::menu::{Catalog, CatalogCache};
use crate::store::{Inserted, NewOrder, OrderState, Store, StoreError, StoredOrder, WebhookId};

/// Why the order and loyalty API refuse a request; the HTTP layer gives each its status code.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not JSON.
    #[error("{0}")]
    Malformed(String),
    /// Field problems, all at once.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldProblem>),
    /// The order's id is taken by an order with other content.
    #[error("{0}")]
    Conflict(String),
    /// The signed order's `webhook-id` was already used for another message.
    #[error("{0}")]
    Unauthorized(String),
    /// iiko's loyalty did not answer a question that has no answer without it.
    #[error(transparent)]
    IikoUnavailable(LoyaltyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IntakeError> for RequestError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Malformed(message) => RequestError::Malformed(message),
            IntakeError::Invalid(problems) => RequestError::Invalid(problems),
        }
    }
}

/// An accepted submission: new (202), or an identical repeat answered from the store (200).
#[derive(Debug)]
pub struct Accepted {
    pub repeat: bool,
    pub body: Value,
}

/// Accepts an order: stored (with the webhook id it was signed with, if any) before this
/// returns, so a 202 always means the order survives a crash.
pub async fn submit_order(
    store: &Store,
    catalogs: &CatalogCache,
    iiko: &IikoClient,
    config: &Config,
    raw: &[u8],
    webhook_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Accepted, RequestError> {
    let hash = content_hash(raw)?;
    let order = match parse_order_at(raw, config, true, now) {
        Ok(order) => order,
        // A repeat is answered from the stored order even when the clock or the configuration
        // refuses its body now. Only a refused body pays for this lookup: a valid one's insert
        // finds the stored order itself.
        Err(refused) => {
            if let Some((branch, site_id)) = claimed_key(raw) {
                let stored = store.order_by_site_key(&branch, &site_id).await?;
                if let Some(stored) = stored {
                    return repeat(&stored, &hash);
                }
            }
            return Err(refused.into());
        }
    };
    let site_id = order
        .id
        .as_ref()
        .expect("parse_order with require_id gives an id")
        .as_str()
        .to_owned();
    let branch = order.branch.as_str().to_owned();
    let ids = OrderIds::generate(&order);
    let (request, problems, reason) = match map(catalogs, config, &order, &ids).await? {
        Ok(mut request) => {
            loyalty::settle_at_intake(iiko, store, config, &order, &mut request).await?;
            let request = serde_json::to_string(&request).expect("a request serializes");
            (Some(request), None, None)
        }
        Err((problems, reason)) => (None, Some(problems), Some(reason)),
    };
    let state = if request.is_some() {
        OrderState::Queued
    } else {
        OrderState::Fallback
    };
    let answer = json!({
        "order_id": site_id,
        "branch": branch,
        "iiko_order_id": ids.order_id,
        "state": state.as_str(),
    });
    let new = NewOrder {
        branch: branch.clone(),
        site_id: site_id.clone(),
        raw_body: String::from_utf8_lossy(raw).into_owned(),
        content_hash: hash.clone(),
        answer: answer.to_string(),
        iiko_ids: serde_json::to_string(&ids).expect("ids serialize"),
        iiko_order_id: ids.order_id.to_string(),
        request,
        problems,
        state,
        fallback_reason: reason,
        now_ms: now.timestamp_millis(),
    };
    let webhook = webhook_id.map(|id| WebhookId {
        id: id.to_owned(),
        // Kept for both sides of the tolerance window, after which the signature check refuses it anyway.
        expires_at_ms: (now + chrono::Duration::seconds(2 * crate::signing::TOLERANCE_SECONDS))
            .timestamp_millis(),
    });
    let inserted = store.insert_order(new, webhook).await?;
    match inserted {
        Inserted::New(stored) => {
            tracing::info!(branch, order = site_id, state = %stored.state, "order accepted");
            metrics::counter!("iiko_bridge_orders_accepted_total", "branch" => branch.clone(), "state" => stored.state.as_str()).increment(1);
            Ok(Accepted {
                repeat: false,
                body: answer,
            })
        }
        Inserted::Existing(stored) => repeat(&stored, &hash),
        Inserted::ReplayedWebhook => Err(RequestError::Unauthorized(
            "webhook-id was already used for another message".into(),
        )),
    }
}

/// The (branch, id) a well-formed body names, read without validating anything else.
fn claimed_key(raw: &[u8]) -> Option<(String, String)> {
    let body: Value = serde_json::from_slice(raw).ok()?;
    let text = |key: &str| body.get(key)?.as_str().map(str::to_owned);
    Some((text("branch")?, text("id")?))
}

/// A submission under an id already taken: the stored answer when the content is the same, a
/// conflict when it differs.
fn repeat(stored: &StoredOrder, hash: &str) -> Result<Accepted, RequestError> {
    if stored.content_hash != hash {
        return Err(RequestError::Conflict(format!(
            "order {:?} of branch {:?} was already accepted with different content",
            stored.site_id, stored.branch
        )));
    }
    Ok(Accepted {
        repeat: true,
        body: serde_json::from_str(&stored.answer)
            .map_err(|e| StoreError::Corrupt(format!("stored answer: {e}")))?,
    })
}

/// `POST /orders/check`: what would keep this cart from reaching the kitchen, and how many
/// bonus points it may take (`null` while the cart has problems). No side effects.
pub async fn check(
    catalogs: &CatalogCache,
    iiko: &IikoClient,
    config: &Config,
    raw: &[u8],
) -> Result<Value, RequestError> {
    let order = match parse_order(raw, config, false) {
        Ok(order) => order,
        Err(IntakeError::Invalid(problems)) => return Ok(check_answer(problems, None, None)),
        Err(malformed) => return Err(malformed.into()),
    };
    let branch = branch_config(config, &order);
    let Some(catalog) = current_catalog(catalogs, order.branch.as_str()).await? else {
        let problem = FieldProblem::new(
            "branch",
            "no_catalog",
            "the branch's menu has not been synced yet",
        );
        return Ok(check_answer(vec![problem], Some(&order), None));
    };
    let mut problems = check_order(&order, branch, &catalog);
    if !problems.is_empty() {
        return Ok(check_answer(problems, Some(&order), None));
    }
    let ids = OrderIds::generate(&order);
    let request = map_order(&order, branch, &catalog, &ids, &config.site.source_key)
        .expect("check_order found no problem");
    let (bonus_max, warnings) = loyalty::check_bonus_max(iiko, config, &order, &request).await;
    // Intake would refuse these points; the site hears it before payment.
    problems.extend(
        warnings
            .iter()
            .filter(|w| w.code == "over_bonus_max")
            .map(|w| FieldProblem::new("bonus.amount", w.code, w.message.clone())),
    );
    let mut answer = check_answer(problems, Some(&order), Some(bonus_max));
    answer["warnings"] = json!(warnings);
    Ok(answer)
}

fn check_answer(
    problems: Vec<FieldProblem>,
    order: Option<&Order>,
    bonus_max: Option<rust_decimal::Decimal>,
) -> Value {
    json!({
        "ok": problems.is_empty(),
        "problems": problems,
        "total": order.map(|order| order.total.amount()),
        "bonus_max": bonus_max,
        "warnings": [],
    })
}

type Mapped = Result<CreateDeliveryRequest, (String, String)>;

/// The stored `deliveries/create` request, or the problems as JSON and a reason for staff.
async fn map(
    catalogs: &CatalogCache,
    config: &Config,
    order: &Order,
    ids: &OrderIds,
) -> Result<Mapped, RequestError> {
    let Some(catalog) = current_catalog(catalogs, order.branch.as_str()).await? else {
        let reason = "Меню филиала ещё не загружено из iiko: заказ нельзя сопоставить с блюдами";
        return Ok(Err(("[]".into(), reason.into())));
    };
    let branch = branch_config(config, order);
    Ok(
        match map_order(order, branch, &catalog, ids, &config.site.source_key) {
            Ok(request) => Ok(request),
            Err(problems) => {
                let reason = problems
                    .iter()
                    .map(|p| p.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let details: Vec<FieldProblem> =
                    problems.into_iter().map(FieldProblem::from).collect();
                Err((
                    serde_json::to_string(&details).expect("problems serialize"),
                    reason,
                ))
            }
        },
    )
}

pub(super) fn branch_config<'c>(
    config: &'c Config,
    order: &Order,
) -> &'c crate::config::BranchConfig {
    config
        .branch(order.branch.as_str())
        .expect("parsing only accepts configured branches")
}

async fn current_catalog(
    catalogs: &CatalogCache,
    branch: &str,
) -> Result<Option<Arc<Catalog>>, StoreError> {
    catalogs.current(branch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_a_repeat_is_read_from_any_well_formed_body() {
        let key = |raw: &str| claimed_key(raw.as_bytes());
        assert_eq!(
            key(r#"{"id": "WEB-1", "branch": "lenina", "deliver_at": "yesterday"}"#),
            Some(("lenina".into(), "WEB-1".into()))
        );
        assert_eq!(key(r#"{"id": 7, "branch": "lenina"}"#), None);
        assert_eq!(key(r#"{"id": "WEB-1"}"#), None);
        assert_eq!(key(r#"["WEB-1"]"#), None);
        assert_eq!(key("{"), None);
    }
}
