//! The mutable world: tokens, deliveries and their commands, stop lists, wallets, webhook
//! settings, faults and the request log. Time-driven changes happen in [`State::settle`].
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::SimConfig;
use super::faults::FaultSettings;
use super::orders::{CreationError, PreparedOrder};
use super::seed::{NamedId, Seed};
use super::webhooks::Outgoing;

const COURIER_FLOW: &[&str] = &[
    "Unconfirmed",
    "WaitCooking",
    "CookingStarted",
    "CookingCompleted",
    "Waiting",
    "OnWay",
    "Delivered",
    "Closed",
];
const PICKUP_FLOW: &[&str] = &[
    "Unconfirmed",
    "WaitCooking",
    "CookingStarted",
    "CookingCompleted",
    "Waiting",
    "Closed",
];

pub struct State {
    /// Issued tokens and their expiry.
    pub tokens: HashMap<String, DateTime<Utc>>,
    revision: i64,
    /// `by_revision` cursors below this are "too old".
    pub revision_floor: i64,
    pub menu_revision: i64,
    next_number: i64,
    pub deliveries: HashMap<Uuid, Delivery>,
    pub commands: HashMap<Uuid, Command>,
    pub stop_lists: HashMap<Uuid, Vec<StopItem>>,
    /// Bonus wallet balance per loyalty customer id.
    pub wallets: HashMap<Uuid, Decimal>,
    pub webhooks: HashMap<Uuid, WebhookSettings>,
    pub faults: FaultSettings,
    pub requests: Vec<Value>,
    pub rng: StdRng,
}

pub struct StopItem {
    pub product_id: Uuid,
    pub size_id: Option<Uuid>,
    pub balance: Decimal,
    pub date_add: DateTime<Utc>,
}

#[derive(Clone)]
pub struct WebhookSettings {
    pub uri: String,
    pub auth_token: Option<String>,
    pub filter: Option<Value>,
}

pub struct Delivery {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub terminal_group_id: Uuid,
    pub external_number: Option<String>,
    pub source_key: Option<String>,
    pub revision: i64,
    pub creation: Creation,
}

pub enum Creation {
    InProgress {
        until: DateTime<Utc>,
        prepared: Result<PreparedOrder, CreationError>,
    },
    Success(Box<Placed>),
    Error(CreationError),
}

/// A delivery that iiko accepted.
pub struct Placed {
    pub body: Map<String, Value>,
    pub number: i64,
    pub pickup: bool,
    pub status: &'static str,
    pub history: Vec<(&'static str, DateTime<Utc>)>,
    pub next_step_at: DateTime<Utc>,
    pub complete_before: Option<String>,
    pub cancel: Option<CancelInfo>,
    pub moved_to: Option<Move>,
    pub moved_from: Option<Move>,
}

pub struct CancelInfo {
    pub when: DateTime<Utc>,
    pub cause: Option<NamedId>,
    pub comment: Option<String>,
}

#[derive(Clone, Copy)]
pub struct Move {
    pub delivery_id: Uuid,
    pub terminal_group_id: Uuid,
    pub organization_id: Uuid,
}

pub struct Command {
    pub organization_id: Uuid,
    pub kind: CommandKind,
}

pub enum CommandKind {
    Create {
        order_id: Uuid,
    },
    Cancel {
        order_id: Uuid,
        cause: Option<NamedId>,
        comment: Option<String>,
        resolve_at: DateTime<Utc>,
        result: Option<Result<(), CreationError>>,
    },
}

impl Placed {
    fn flow(&self) -> &'static [&'static str] {
        if self.pickup {
            PICKUP_FLOW
        } else {
            COURIER_FLOW
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.status, "Closed" | "Cancelled")
    }

    fn next_status(&self) -> Option<&'static str> {
        let flow = self.flow();
        let position = flow.iter().position(|s| *s == self.status)?;
        flow.get(position + 1).copied()
    }

    fn when(&self, status: &str) -> Option<DateTime<Utc>> {
        self.history
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, at)| *at)
    }
}

/// `yyyy-MM-dd HH:mm:ss.fff` in the terminal group's time zone.
pub fn local_time(seed: &Seed, terminal_group: Uuid, at: DateTime<Utc>) -> String {
    let tz: chrono_tz::Tz = seed
        .terminal_group(terminal_group)
        .and_then(|(_, tg)| tg.timezone.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

pub fn utc_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

impl State {
    pub fn new(seed: &Seed, rng_seed: u64) -> State {
        let now = Utc::now();
        let mut stop_lists: HashMap<Uuid, Vec<StopItem>> = HashMap::new();
        for entry in &seed.stop_list {
            stop_lists
                .entry(entry.terminal_group_id)
                .or_default()
                .push(StopItem {
                    product_id: entry.product_id,
                    size_id: entry.size_id,
                    balance: entry.balance,
                    date_add: now,
                });
        }
        State {
            tokens: HashMap::new(),
            // Revisions look like iiko's: large and growing; start from the clock.
            revision: now.timestamp_millis(),
            revision_floor: 0,
            menu_revision: now.timestamp(),
            next_number: 1001,
            deliveries: HashMap::new(),
            commands: HashMap::new(),
            stop_lists,
            wallets: seed
                .customers
                .iter()
                .map(|c| (c.id, c.bonus_balance))
                .collect(),
            webhooks: HashMap::new(),
            faults: FaultSettings::default(),
            requests: Vec::new(),
            rng: StdRng::seed_from_u64(rng_seed),
        }
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The next POS delivery number.
    pub fn take_number(&mut self) -> i64 {
        self.next_number += 1;
        self.next_number - 1
    }

    pub fn bump_revision(&mut self) -> i64 {
        self.revision += 1;
        self.revision
    }

    pub fn terminal_is_alive(&self, seed: &Seed, terminal_group: Uuid) -> bool {
        let sleeping = seed
            .terminal_group(terminal_group)
            .is_some_and(|(_, tg)| tg.in_sleep);
        !sleeping
            && !self
                .faults
                .offline_terminal_groups
                .contains(&terminal_group)
    }

    pub fn add_delivery(&mut self, delivery: Delivery, correlation_id: Uuid) {
        self.commands.insert(
            correlation_id,
            Command {
                organization_id: delivery.organization_id,
                kind: CommandKind::Create {
                    order_id: delivery.id,
                },
            },
        );
        let mut delivery = delivery;
        delivery.revision = self.bump_revision();
        self.deliveries.insert(delivery.id, delivery);
    }

    /// Applies what is due by `now` and returns the webhook batches to send.
    pub fn settle(&mut self, seed: &Seed, config: &SimConfig, now: DateTime<Utc>) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let mut due: Vec<(DateTime<Utc>, Uuid)> = self
            .deliveries
            .values()
            .filter_map(|d| match &d.creation {
                Creation::InProgress { until, .. } if *until <= now => Some((*until, d.id)),
                _ => None,
            })
            .collect();
        due.sort();
        for (until, id) in due {
            self.finish_creation(seed, config, id, until, &mut out);
        }

        let due_commands: Vec<Uuid> = self
            .commands
            .iter()
            .filter(|(_, c)| matches!(c.kind, CommandKind::Cancel { resolve_at, result: None, .. } if resolve_at <= now))
            .map(|(id, _)| *id)
            .collect();
        for correlation_id in due_commands {
            self.finish_cancel(seed, correlation_id, now, &mut out);
        }

        let mut stepping: Vec<(DateTime<Utc>, Uuid)> = self
            .deliveries
            .values()
            .filter_map(|d| match &d.creation {
                Creation::Success(p) if p.is_open() && p.next_step_at <= now => {
                    Some((p.next_step_at, d.id))
                }
                _ => None,
            })
            .collect();
        stepping.sort();
        for (_, id) in stepping {
            loop {
                let at = match &self.deliveries[&id].creation {
                    Creation::Success(p) if p.is_open() && p.next_step_at <= now => p.next_step_at,
                    _ => break,
                };
                self.step(seed, id, at, at + step_duration(config), &mut out);
            }
        }
        out
    }

    /// Moves every open delivery `steps` statuses on, now.
    pub fn advance(
        &mut self,
        seed: &Seed,
        config: &SimConfig,
        steps: u32,
        now: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let mut out = self.settle(seed, config, now);
        let mut open: Vec<(i64, Uuid)> = self
            .deliveries
            .values()
            .filter(|d| matches!(&d.creation, Creation::Success(p) if p.is_open()))
            .map(|d| (d.revision, d.id))
            .collect();
        open.sort();
        for (_, id) in open {
            for _ in 0..steps {
                self.step(seed, id, now, now + step_duration(config), &mut out);
            }
        }
        out
    }

    fn step(
        &mut self,
        seed: &Seed,
        id: Uuid,
        at: DateTime<Utc>,
        next_at: DateTime<Utc>,
        out: &mut Vec<Outgoing>,
    ) {
        let revision = self.bump_revision();
        let delivery = self.deliveries.get_mut(&id).expect("delivery exists");
        let Creation::Success(placed) = &mut delivery.creation else {
            return;
        };
        let Some(next) = placed.next_status() else {
            return;
        };
        placed.status = next;
        placed.history.push((next, at));
        placed.next_step_at = next_at;
        delivery.revision = revision;
        self.emit_delivery(seed, id, "DeliveryOrderUpdate", out);
    }

    fn finish_creation(
        &mut self,
        seed: &Seed,
        config: &SimConfig,
        id: Uuid,
        at: DateTime<Utc>,
        out: &mut Vec<Outgoing>,
    ) {
        let alive = {
            let delivery = &self.deliveries[&id];
            self.terminal_is_alive(seed, delivery.terminal_group_id)
        };
        let refused = if alive {
            self.faults
                .reject_orders
                .as_ref()
                .map(|r| CreationError::new(&r.code, r.message.clone()))
        } else {
            Some(CreationError::new(
                "Common",
                "Creation timeout expired, order automatically transited to error creation status",
            ))
        };
        let revision = self.bump_revision();
        let number = self.next_number;
        let delivery = self.deliveries.get_mut(&id).expect("delivery exists");
        let placeholder = Creation::Error(CreationError::new("Common", ""));
        let Creation::InProgress { prepared, .. } =
            std::mem::replace(&mut delivery.creation, placeholder)
        else {
            return;
        };
        let outcome = match (refused, prepared) {
            (Some(error), _) => Err(error),
            (None, Ok(prepared)) => match prepared.bonus {
                Some((customer, sum)) => {
                    let balance = self.wallets.entry(customer).or_default();
                    if *balance < sum {
                        Err(CreationError::new(
                            "Common",
                            format!(
                                "Not enough bonuses on the wallet: balance {balance}, payment {sum}"
                            ),
                        ))
                    } else {
                        *balance -= sum;
                        Ok(prepared)
                    }
                }
                None => Ok(prepared),
            },
            (None, Err(error)) => Err(error),
        };
        delivery.revision = revision;
        let event = match outcome {
            Ok(prepared) => {
                self.next_number += 1;
                delivery.creation = Creation::Success(Box::new(Placed {
                    body: prepared.body,
                    number,
                    pickup: prepared.pickup,
                    status: "Unconfirmed",
                    history: vec![("Unconfirmed", at)],
                    next_step_at: at + step_duration(config),
                    complete_before: prepared.complete_before,
                    cancel: None,
                    moved_to: None,
                    moved_from: None,
                }));
                "DeliveryOrderUpdate"
            }
            Err(error) => {
                delivery.creation = Creation::Error(error);
                "DeliveryOrderError"
            }
        };
        self.emit_delivery(seed, id, event, out);
    }

    fn finish_cancel(
        &mut self,
        seed: &Seed,
        correlation_id: Uuid,
        now: DateTime<Utc>,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(Command {
            kind:
                CommandKind::Cancel {
                    order_id,
                    cause,
                    comment,
                    ..
                },
            ..
        }) = self.commands.get(&correlation_id)
        else {
            return;
        };
        let (order_id, cause, comment) = (*order_id, cause.clone(), comment.clone());
        let revision = self.revision + 1;
        let result = match self
            .deliveries
            .get_mut(&order_id)
            .map(|d| (&mut d.creation, &mut d.revision))
        {
            Some((Creation::Success(placed), delivery_revision)) => match placed.status {
                "Closed" | "Delivered" | "Cancelled" => Err(CreationError::new(
                    "WrongDeliveryStatus",
                    format!(
                        "Delivery order {order_id} is in status {} and cannot be cancelled",
                        placed.status
                    ),
                )),
                _ => {
                    placed.status = "Cancelled";
                    placed.history.push(("Cancelled", now));
                    placed.cancel = Some(CancelInfo {
                        when: now,
                        cause,
                        comment,
                    });
                    *delivery_revision = revision;
                    Ok(())
                }
            },
            Some(_) => Err(CreationError::new(
                "OrderNotFound",
                format!("Delivery order {order_id} was not created"),
            )),
            None => Err(CreationError::new(
                "OrderNotFound",
                format!("Delivery order {order_id} not found"),
            )),
        };
        if result.is_ok() {
            self.bump_revision();
            self.emit_delivery(seed, order_id, "DeliveryOrderUpdate", out);
        }
        if let Some(Command {
            kind: CommandKind::Cancel { result: slot, .. },
            ..
        }) = self.commands.get_mut(&correlation_id)
        {
            *slot = Some(result);
        }
    }

    /// Moves a created delivery to another terminal group: the old one is cancelled and points
    /// to the new one (`movedTo*`), the new one points back (`movedFrom*`).
    pub fn move_delivery(
        &mut self,
        seed: &Seed,
        order_id: Uuid,
        terminal_group_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(Uuid, Vec<Outgoing>), String> {
        let (organization, _) = seed
            .terminal_group(terminal_group_id)
            .ok_or_else(|| format!("terminal group {terminal_group_id} not found"))?;
        let delivery = self
            .deliveries
            .get(&order_id)
            .ok_or_else(|| format!("order {order_id} not found"))?;
        let Creation::Success(placed) = &delivery.creation else {
            return Err(format!("order {order_id} was not created"));
        };
        if !placed.is_open() {
            return Err(format!("order {order_id} is {}", placed.status));
        }
        let new_id = Uuid::new_v4();
        let from = Move {
            delivery_id: order_id,
            terminal_group_id: delivery.terminal_group_id,
            organization_id: delivery.organization_id,
        };
        let to = Move {
            delivery_id: new_id,
            terminal_group_id,
            organization_id: organization.id,
        };
        let mut body = placed.body.clone();
        body.insert("terminalGroupId".into(), json!(terminal_group_id));
        let moved = Delivery {
            id: new_id,
            organization_id: organization.id,
            terminal_group_id,
            external_number: delivery.external_number.clone(),
            source_key: delivery.source_key.clone(),
            revision: 0,
            creation: Creation::Success(Box::new(Placed {
                body,
                number: self.next_number,
                pickup: placed.pickup,
                status: placed.status,
                history: placed.history.clone(),
                next_step_at: placed.next_step_at,
                complete_before: placed.complete_before.clone(),
                cancel: None,
                moved_to: None,
                moved_from: Some(from),
            })),
        };
        self.next_number += 1;
        let old_revision = self.bump_revision();
        let old = self.deliveries.get_mut(&order_id).expect("checked above");
        if let Creation::Success(placed) = &mut old.creation {
            placed.status = "Cancelled";
            placed.history.push(("Cancelled", now));
            placed.moved_to = Some(to);
        }
        old.revision = old_revision;
        let mut moved = moved;
        moved.revision = self.bump_revision();
        self.deliveries.insert(new_id, moved);
        let mut out = Vec::new();
        self.emit_delivery(seed, order_id, "DeliveryOrderUpdate", &mut out);
        self.emit_delivery(seed, new_id, "DeliveryOrderUpdate", &mut out);
        Ok((new_id, out))
    }

    /// `{state, exception?, errorReason?}` of a command, or None for an unknown correlation id.
    pub fn command_status(&self, correlation_id: Uuid, organization_id: Uuid) -> Option<Value> {
        let command = self
            .commands
            .get(&correlation_id)
            .filter(|c| c.organization_id == organization_id)?;
        let result = match &command.kind {
            CommandKind::Create { order_id } => match &self.deliveries.get(order_id)?.creation {
                Creation::InProgress { .. } => None,
                Creation::Success(_) => Some(Ok(())),
                Creation::Error(error) => Some(Err(error.clone())),
            },
            CommandKind::Cancel { result, .. } => result.clone(),
        };
        Some(match result {
            None => json!({"state": "InProgress"}),
            Some(Ok(())) => json!({"state": "Success"}),
            Some(Err(error)) => json!({
                "state": "Error",
                "exception": error.to_json(),
                "errorReason": error.message,
            }),
        })
    }

    /// The delivery as `OrderInfo` (the shape of `by_id` and of webhook `eventInfo`).
    pub fn order_info(&self, seed: &Seed, delivery: &Delivery) -> Value {
        let (status, error, order) = match &delivery.creation {
            Creation::InProgress { .. } => ("InProgress", Value::Null, Value::Null),
            Creation::Error(error) => ("Error", error.to_json(), Value::Null),
            Creation::Success(placed) => {
                ("Success", Value::Null, render_order(seed, delivery, placed))
            }
        };
        json!({
            "id": delivery.id,
            "posId": Value::Null,
            "externalNumber": delivery.external_number,
            "organizationId": delivery.organization_id,
            "timestamp": delivery.revision,
            "creationStatus": status,
            "errorInfo": error,
            "order": order,
        })
    }

    fn emit_delivery(&self, seed: &Seed, id: Uuid, event_type: &str, out: &mut Vec<Outgoing>) {
        let delivery = &self.deliveries[&id];
        let status = match &delivery.creation {
            Creation::Success(placed) => Some(placed.status),
            _ => None,
        };
        let Some(settings) = self.webhooks.get(&delivery.organization_id) else {
            return;
        };
        if !filter_allows(settings.filter.as_ref(), event_type, status) {
            return;
        }
        let info = self.order_info(seed, delivery);
        out.push(event(settings, event_type, delivery.organization_id, info));
    }

    /// A webhook batch for an organization-level event, if the organization subscribed to it.
    pub fn organization_event(
        &self,
        organization_id: Uuid,
        event_type: &str,
        info: Value,
    ) -> Option<Outgoing> {
        let settings = self.webhooks.get(&organization_id)?;
        filter_allows(settings.filter.as_ref(), event_type, None)
            .then(|| event(settings, event_type, organization_id, info))
    }
}

fn step_duration(config: &SimConfig) -> chrono::Duration {
    chrono::Duration::from_std(config.status_step).unwrap_or(chrono::Duration::MAX)
}

fn event(
    settings: &WebhookSettings,
    event_type: &str,
    organization_id: Uuid,
    info: Value,
) -> Outgoing {
    Outgoing {
        uri: settings.uri.clone(),
        auth_token: settings.auth_token.clone(),
        events: vec![json!({
            "eventType": event_type,
            "eventTime": utc_time(Utc::now()),
            "organizationId": organization_id,
            "correlationId": Uuid::new_v4(),
            "eventInfo": info,
        })],
    }
}

/// Applies `webHooksFilter`; a missing filter lets everything through.
fn filter_allows(filter: Option<&Value>, event_type: &str, status: Option<&str>) -> bool {
    let Some(filter) = filter.filter(|f| !f.is_null()) else {
        return true;
    };
    let updates = |key: &str| filter[key]["updates"].as_bool().unwrap_or(false);
    match event_type {
        "DeliveryOrderUpdate" => {
            let orders = &filter["deliveryOrderFilter"];
            if orders.is_null() {
                return false;
            }
            match (orders["orderStatuses"].as_array(), status) {
                (Some(statuses), Some(status)) if !statuses.is_empty() => {
                    statuses.iter().any(|s| s == status)
                }
                _ => true,
            }
        }
        "DeliveryOrderError" => filter["deliveryOrderFilter"]["errors"]
            .as_bool()
            .unwrap_or(false),
        "StopListUpdate" => updates("stopListUpdateFilter"),
        "NomenclatureUpdate" => updates("nomenclatureUpdateFilter"),
        _ => false,
    }
}

fn render_order(seed: &Seed, delivery: &Delivery, placed: &Placed) -> Value {
    let local = |at: DateTime<Utc>| local_time(seed, delivery.terminal_group_id, at);
    let when = |status: &str| placed.when(status).map(local);
    let created = placed.history[0].1;
    let mut order = placed.body.clone();
    let fields = [
        ("status", json!(placed.status)),
        ("number", json!(placed.number)),
        ("terminalGroupId", json!(delivery.terminal_group_id)),
        ("whenCreated", json!(local(created))),
        ("whenConfirmed", json!(when("WaitCooking"))),
        ("cookingStartTime", json!(when("CookingStarted").unwrap_or_else(|| local(created)))),
        ("whenCookingCompleted", json!(when("CookingCompleted"))),
        ("whenSended", json!(when("OnWay"))),
        ("whenDelivered", json!(when("Delivered"))),
        ("whenClosed", json!(when("Closed"))),
        (
            "completeBefore",
            json!(placed.complete_before.clone().unwrap_or_else(|| local(created + chrono::Duration::hours(1)))),
        ),
        ("isAsap", json!(placed.complete_before.is_none())),
        (
            "cancelInfo",
            placed.cancel.as_ref().map_or(Value::Null, |c| {
                json!({
                    "whenCancelled": local(c.when),
                    "cause": c.cause.as_ref().map(|cause| json!({"id": cause.id, "name": cause.name})),
                    "comment": c.comment,
                })
            }),
        ),
        ("movedToDeliveryId", json!(placed.moved_to.map(|m| m.delivery_id))),
        ("movedToTerminalGroupId", json!(placed.moved_to.map(|m| m.terminal_group_id))),
        ("movedToOrganizationId", json!(placed.moved_to.map(|m| m.organization_id))),
        ("movedFromDeliveryId", json!(placed.moved_from.map(|m| m.delivery_id))),
        ("movedFromTerminalGroupId", json!(placed.moved_from.map(|m| m.terminal_group_id))),
        ("movedFromOrganizationId", json!(placed.moved_from.map(|m| m.organization_id))),
    ];
    for (key, value) in fields {
        order.insert(key.into(), value);
    }
    let item_status = match placed.status {
        "Unconfirmed" | "WaitCooking" => "Added",
        "CookingStarted" => "CookingStarted",
        "Cancelled" => "Added",
        _ => "CookingCompleted",
    };
    if let Some(Value::Array(items)) = order.get_mut("items") {
        for item in items {
            item["status"] = json!(item_status);
        }
    }
    Value::Object(order)
}
