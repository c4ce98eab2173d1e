//! Staff at the POS: orders typed in by hand, changed or deleted behind the bridge's back, so
//! tests can play what reconciliation must find (`/sim/pos/*`).
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::SimConfig;
use super::orders;
use super::seed::Seed;
use super::state::{Creation, Delivery, Placed, State};

/// An order a cashier enters: a phone, a sum, and when it is wanted (terminal-local
/// `yyyy-MM-dd HH:mm:ss.fff`; none: as soon as possible).
pub struct HandOrder {
    pub organization_id: Uuid,
    pub phone: String,
    pub sum: Decimal,
    pub complete_before: Option<String>,
    /// Staff orders carry none; a test sets one to play a stray order with the bridge's key.
    pub source_key: Option<String>,
    pub external_number: Option<String>,
}

/// What staff change in a created order.
#[derive(Default)]
pub struct PosChange {
    pub sum: Option<Decimal>,
    pub items: Option<Value>,
    pub status: Option<String>,
}

impl State {
    /// Enters a created delivery, as a cashier would; returns its id.
    pub fn enter_by_hand(
        &mut self,
        seed: &Seed,
        config: &SimConfig,
        order: HandOrder,
        now: DateTime<Utc>,
    ) -> Result<Uuid, String> {
        let organization = seed
            .organization(order.organization_id)
            .ok_or_else(|| format!("organization {} not found", order.organization_id))?;
        let terminal_group_id = organization
            .terminal_groups
            .first()
            .map(|tg| tg.id)
            .ok_or("the organization has no terminal group")?;
        let request = json!({
            "phone": order.phone,
            "items": [],
            "orderServiceType": "DeliveryByClient",
            "customer": {"type": "one-time", "name": "Гость"},
            "sourceKey": order.source_key,
            "completeBefore": order.complete_before,
        });
        let mut prepared = orders::prepare(seed, order.organization_id, &request)
            .map_err(|error| error.message)?;
        prepared.body.insert("sum".into(), json!(order.sum));
        let id = Uuid::new_v4();
        let number = self.take_number();
        let revision = self.bump_revision();
        self.deliveries.insert(
            id,
            Delivery {
                id,
                organization_id: order.organization_id,
                terminal_group_id,
                external_number: order.external_number,
                source_key: order.source_key,
                revision,
                creation: Creation::Success(Box::new(Placed {
                    body: prepared.body,
                    number,
                    pickup: true,
                    status: "Unconfirmed",
                    history: vec![("Unconfirmed", now)],
                    next_step_at: now
                        + chrono::Duration::from_std(config.status_step)
                            .unwrap_or(chrono::Duration::MAX),
                    complete_before: prepared.complete_before,
                    cancel: None,
                    moved_to: None,
                    moved_from: None,
                })),
            },
        );
        Ok(id)
    }

    /// Changes a created delivery's sum, items or status, as staff at the POS would.
    pub fn change_at_pos(&mut self, order_id: Uuid, change: PosChange) -> Result<(), String> {
        let revision = self.bump_revision();
        let delivery = self
            .deliveries
            .get_mut(&order_id)
            .ok_or_else(|| format!("order {order_id} not found"))?;
        let Creation::Success(placed) = &mut delivery.creation else {
            return Err(format!("order {order_id} was not created"));
        };
        if let Some(status) = change.status {
            let known = crate::config::DELIVERY_STATUSES
                .iter()
                .find(|s| **s == status)
                .ok_or_else(|| format!("unknown status {status}"))?;
            placed.status = known;
            placed.history.push((known, Utc::now()));
        }
        if let Some(sum) = change.sum {
            placed.body.insert("sum".into(), json!(sum));
        }
        if let Some(items) = change.items {
            placed.body.insert("items".into(), items);
        }
        delivery.revision = revision;
        Ok(())
    }

    /// Deletes a delivery, as if staff removed it: iiko no longer returns it.
    pub fn delete_at_pos(&mut self, order_id: Uuid) -> Result<(), String> {
        self.deliveries
            .remove(&order_id)
            .map(|_| ())
            .ok_or_else(|| format!("order {order_id} not found"))
    }
}
