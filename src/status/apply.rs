//! What an iiko status report does to the order it is about, decided here ([`decide`], pure)
//! and written by the store ([`StatusWrite`]), every report of one webhook call or poll in
//! one transaction. A report not newer than the last one applied (iiko's `timestamp`) writes
//! nothing; a new iiko status writes one history entry and, when the site's status changes,
//! `order.status` (and `order.cancelled`); a move is followed under the new delivery id; a
//! creation the dispatcher still follows is ended here only on iiko's word when asked by id.
use crate::orders::{AttemptEnd, attempt_change};
use crate::store::{
    LateCreation, OrderEvent, OrderState, StatusReport, StatusRow, StatusWrite, Store, StoreError,
};

/// What iiko said about one delivery, reduced to what status tracking needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub delivery_id: String,
    pub organization_id: String,
    /// iiko's `timestamp`: the latest change of the delivery on iiko's side.
    pub timestamp: i64,
    pub creation: Creation,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Creation {
    InProgress,
    Failed {
        code: Option<String>,
        message: String,
        /// It may pass (an offline terminal): the dispatcher's retries handle it.
        transient: bool,
    },
    Placed(Placed),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub number: i64,
    /// iiko's DeliveryStatus, as iiko spells it.
    pub status: String,
    /// The cause (and comment) of a cancellation.
    pub cancel_reason: Option<String>,
    /// `movedToDeliveryId` / `movedToOrganizationId`: the order lives on there.
    pub moved_to: Option<(String, String)>,
    /// `movedFromDeliveryId`: the delivery this one replaced.
    pub moved_from: Option<String>,
}

impl DeliveryReport {
    /// The delivery this one replaced (a move), if iiko says so.
    fn moved_from(&self) -> Option<&str> {
        match &self.creation {
            Creation::Placed(placed) => placed.moved_from.as_deref(),
            _ => None,
        }
    }
}

/// What applying one report did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// No order of the bridge has this delivery id.
    Unknown,
    /// Older than (or the same as) what was applied already, or about a replaced delivery.
    Stale,
    /// Seen, nothing new to tell.
    Unchanged,
    /// A new iiko status: history entry and `order.status` (and `order.cancelled`) written.
    Changed { site_status: String },
    /// The order moved to another delivery, which is followed from now on.
    Moved,
    /// The report ended a creation still in progress (`created` or `fallback`).
    CreationEnded(OrderState),
    /// A webhook or a poll says a creation the dispatcher follows has ended: nothing is
    /// written until iiko confirms it when asked by id.
    Unconfirmed,
    /// iiko created an order that had already gone to the operators (`fallback` or
    /// `resolved`): noted once; the operators must hear it, or it may be cooked twice.
    LateCreation(LateCreation),
    /// iiko's word on an order the operators have, already noted: left to them.
    Ignored,
}

/// Maps (branch key, iiko status) to the site status.
pub type StatusMapper<'a> = &'a (dyn Fn(&str, &str) -> String + Sync);

/// How the order a report is about was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// By the report's delivery id.
    Delivery(StatusRow),
    /// By the delivery the report's one replaced (`movedFromDeliveryId`): iiko's first word
    /// of the delivery a move created.
    MovedFrom(StatusRow),
}

/// A report's decided change: the writes, in order, and what they amount to.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub writes: Vec<StatusWrite>,
    pub applied: Applied,
}

impl Decided {
    fn nothing(applied: Applied) -> Decided {
        Decided {
            writes: Vec::new(),
            applied,
        }
    }
}

/// Applies reports in one transaction (polls bring hundreds at once); returns one outcome per
/// report, in order. `seen` are orders iiko was asked about and answered for (also those it no
/// longer returns), so they are not asked again too soon. A report that a creation ended for
/// an order still being sent, or that iiko created an order the operators have, is only
/// believed from [`apply_read_back`]: here it is [`Applied::Unconfirmed`].
pub async fn apply_delivery_reports(
    store: &Store,
    reports: &[DeliveryReport],
    seen: &[i64],
    map: StatusMapper<'_>,
    now_ms: i64,
) -> Result<Vec<Applied>, StoreError> {
    apply_reports(store, reports, seen, map, now_ms, false).await
}

/// [`apply_delivery_reports`] for what iiko answered to `deliveries/by_id`: its word on a
/// creation is final.
pub async fn apply_read_back(
    store: &Store,
    reports: &[DeliveryReport],
    seen: &[i64],
    map: StatusMapper<'_>,
    now_ms: i64,
) -> Result<Vec<Applied>, StoreError> {
    apply_reports(store, reports, seen, map, now_ms, true).await
}

async fn apply_reports(
    store: &Store,
    reports: &[DeliveryReport],
    seen: &[i64],
    map: StatusMapper<'_>,
    now_ms: i64,
    read_back: bool,
) -> Result<Vec<Applied>, StoreError> {
    let mut batch = store.status_batch(seen, now_ms).await?;
    let mut outcomes = Vec::with_capacity(reports.len());
    for report in reports {
        // Each report reads the order anew: an earlier one of the batch may have changed it.
        let found = match batch.order_by_delivery(&report.delivery_id).await? {
            Some(order) => Some(Found::Delivery(order)),
            None => match report.moved_from() {
                Some(previous) => batch
                    .order_by_delivery(previous)
                    .await?
                    .map(Found::MovedFrom),
                None => None,
            },
        };
        let Some(found) = found else {
            outcomes.push(Applied::Unknown);
            continue;
        };
        let decided = decide(&found, report, map, now_ms, read_back);
        let order = match &found {
            Found::Delivery(order) | Found::MovedFrom(order) => order,
        };
        let written = batch.write(order, &decided.writes, now_ms).await?;
        outcomes.push(if written {
            decided.applied
        } else {
            // The dispatcher's own end came first.
            Applied::Stale
        });
    }
    batch.commit().await?;
    Ok(outcomes)
}

/// What `report` does to the order it was found to be about.
pub fn decide(
    found: &Found,
    report: &DeliveryReport,
    map: StatusMapper<'_>,
    now_ms: i64,
    read_back: bool,
) -> Decided {
    match found {
        Found::MovedFrom(order) => {
            if Some(order.current_iiko_id()) != report.moved_from() {
                return Decided::nothing(Applied::Stale);
            }
            let follow = follow(&report.delivery_id, &report.organization_id);
            let moved = StatusRow {
                tracked_iiko_id: Some(report.delivery_id.clone()),
                iiko_timestamp: None,
                ..order.clone()
            };
            let mut decided = decide_on_delivery(&moved, report, map, read_back);
            decided.writes.insert(0, follow);
            decided
        }
        Found::Delivery(order) => {
            if order.current_iiko_id() != report.delivery_id {
                return Decided::nothing(Applied::Stale);
            }
            if order
                .iiko_timestamp
                .is_some_and(|seen| report.timestamp <= seen)
            {
                return Decided {
                    writes: vec![StatusWrite::Seen],
                    applied: Applied::Stale,
                };
            }
            if matches!(
                order.state,
                OrderState::Queued | OrderState::Sending | OrderState::Retrying
            ) {
                return end_creation(order, report, map, now_ms, read_back);
            }
            decide_on_delivery(order, report, map, read_back)
        }
    }
}

/// A report on an order whose creation has not ended yet.
fn end_creation(
    order: &StatusRow,
    report: &DeliveryReport,
    map: StatusMapper<'_>,
    now_ms: i64,
    read_back: bool,
) -> Decided {
    let (end, creation_status) = match &report.creation {
        Creation::InProgress
        | Creation::Failed {
            transient: true, ..
        } => return Decided::nothing(Applied::Unchanged),
        // A webhook (or a forged one) must not end what the dispatcher follows: iiko is
        // asked by id first.
        _ if !read_back => return Decided::nothing(Applied::Unconfirmed),
        Creation::Failed { code, message, .. } => {
            let end = AttemptEnd::Fallback {
                reason: format!("iiko отклонил заказ: {message}"),
                error_code: code.clone(),
            };
            (end, "Error")
        }
        Creation::Placed(placed) => {
            let end = AttemptEnd::Created {
                number: Some(placed.number),
                status: None,
            };
            (end, "Success")
        }
    };
    let change = attempt_change(&end, Some(creation_status), now_ms);
    let state = change.state;
    let end = StatusWrite::EndCreation(change);
    if state == OrderState::Fallback {
        return Decided {
            writes: vec![end],
            applied: Applied::CreationEnded(OrderState::Fallback),
        };
    }
    let created = StatusRow {
        state,
        ..order.clone()
    };
    let mut writes = vec![end];
    writes.extend(decide_on_delivery(&created, report, map, read_back).writes);
    Decided {
        writes,
        applied: Applied::CreationEnded(OrderState::Created),
    }
}

/// A report about the order's current delivery.
fn decide_on_delivery(
    order: &StatusRow,
    report: &DeliveryReport,
    map: StatusMapper<'_>,
    read_back: bool,
) -> Decided {
    let placed = match (&report.creation, order.state) {
        (Creation::Placed(placed), OrderState::Created) if !order.status_final => placed,
        (Creation::Placed(_), OrderState::Fallback | OrderState::Resolved)
            if order.late_created_at.is_some() =>
        {
            return Decided::nothing(Applied::Ignored);
        }
        (Creation::Placed(_), OrderState::Fallback | OrderState::Resolved) if !read_back => {
            return Decided::nothing(Applied::Unconfirmed);
        }
        (Creation::Placed(placed), OrderState::Fallback | OrderState::Resolved) => {
            return late_creation(order, report, placed);
        }
        // iiko closed it as failed: it will never be created, so it need not be followed.
        (Creation::Failed { .. }, OrderState::Fallback | OrderState::Resolved) if read_back => {
            return Decided {
                writes: vec![StatusWrite::Unfollow],
                applied: Applied::Unchanged,
            };
        }
        _ => return Decided::nothing(Applied::Unchanged),
    };
    let moved = match (&placed.moved_to, placed.status.as_str()) {
        (Some(to), "Cancelled") => Some(to),
        _ => None,
    };
    let change =
        moved.is_none() && order.reported_iiko_status.as_deref() != Some(placed.status.as_str());
    let site_status = change.then(|| map(&order.branch, &placed.status));
    let cancelled = change && placed.status == "Cancelled";
    let closed = cancelled || (change && placed.status == "Closed");
    let reason = cancelled.then(|| {
        placed
            .cancel_reason
            .clone()
            .or_else(|| order.cancel_reason.clone())
            .unwrap_or_else(|| "отменён в iiko".into())
    });
    let mut writes = vec![StatusWrite::Report(StatusReport {
        timestamp: report.timestamp,
        number: placed.number,
        iiko_status: placed.status.clone(),
        reported: change,
        site_status: site_status.clone(),
        closed,
        cancel_reason: reason.clone(),
        cancelled,
    })];
    if let Some((delivery, organization)) = moved {
        writes.push(follow(delivery, organization));
        return Decided {
            writes,
            applied: Applied::Moved,
        };
    }
    let Some(site_status) = site_status else {
        return Decided {
            writes,
            applied: Applied::Unchanged,
        };
    };
    let note = match &reason {
        Some(reason) => format!("iiko: {} ({reason})", placed.status),
        None => format!("iiko: {}", placed.status),
    };
    writes.push(StatusWrite::History {
        state: cancelled.then_some(OrderState::Cancelled),
        status: Some(site_status.clone()),
        note,
    });
    // The site hears of a new mapped status (CONTRACT section 2); the history keeps every
    // iiko step, such as Unconfirmed → WaitCooking, both "accepted".
    if order.site_status.as_deref() != Some(site_status.as_str()) {
        writes.push(StatusWrite::Event(OrderEvent::Status {
            status: site_status.clone(),
            iiko_status: placed.status.clone(),
        }));
    }
    if let Some(reason) = reason {
        writes.push(StatusWrite::Event(OrderEvent::Cancelled { reason }));
    }
    Decided {
        writes,
        applied: Applied::Changed { site_status },
    }
}

/// Notes (once) that iiko created an order the operators have: the order view and history
/// show it, and the tracker alerts the operators.
fn late_creation(order: &StatusRow, report: &DeliveryReport, placed: &Placed) -> Decided {
    let note = format!(
        "ВНИМАНИЕ: iiko всё же создал заказ (№ {} в iiko, id {}), хотя он уже передан \
         персоналу: проверьте, не введён ли он вручную второй раз",
        placed.number, report.delivery_id
    );
    Decided {
        writes: vec![StatusWrite::LateCreation {
            number: placed.number,
            iiko_status: placed.status.clone(),
            timestamp: report.timestamp,
            note,
        }],
        applied: Applied::LateCreation(LateCreation {
            branch: order.branch.clone(),
            site_id: order.site_id.clone(),
            iiko_order_id: report.delivery_id.clone(),
            number: placed.number,
            state: order.state,
        }),
    }
}

/// From now on the order is followed under `delivery` (iiko moved it to another terminal group).
fn follow(delivery: &str, organization: &str) -> StatusWrite {
    StatusWrite::Follow {
        delivery_id: delivery.to_owned(),
        organization_id: organization.to_owned(),
        note: format!("iiko перенёс заказ на другую группу терминалов (доставка {delivery})"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::store::{Inserted, NewOrder, StoredOrder};

    async fn sending_order() -> (Store, tempfile::TempDir, StoredOrder) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/bridge.db", dir.path().display()))
            .await
            .unwrap();
        let new = NewOrder::sample("A", OrderState::Queued);
        let Inserted::New(order) = store.insert_order(new, None).await.unwrap() else {
            panic!("a new order");
        };
        store
            .lease_due_orders("w1", 1_000, 90_000, 8, &[])
            .await
            .unwrap();
        (store, dir, order)
    }

    fn report(timestamp: i64, creation: Creation) -> DeliveryReport {
        DeliveryReport {
            delivery_id: "00000000-0000-0000-0000-000000000001".into(),
            organization_id: "org".into(),
            timestamp,
            creation,
        }
    }

    fn placed(status: &str) -> Creation {
        Creation::Placed(Placed {
            number: 7,
            status: status.into(),
            cancel_reason: None,
            moved_to: None,
            moved_from: None,
        })
    }

    fn map(_: &str, status: &str) -> String {
        status.to_lowercase()
    }

    #[tokio::test]
    async fn iiko_read_back_ends_a_creation_the_dispatcher_follows_and_the_dispatcher_cannot_overwrite_it()
     {
        let (store, _dir, order) = sending_order().await;
        let offline = Creation::Failed {
            code: Some("Common".into()),
            message: "Creation timeout expired".into(),
            transient: true,
        };
        let outcomes = apply_delivery_reports(&store, &[report(5, offline)], &[], &map, 2_000)
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [Applied::Unchanged],
            "retries stay the dispatcher's"
        );

        // A webhook's (or a poll's) word is not enough: nothing is written before iiko confirms.
        let outcomes = apply_delivery_reports(
            &store,
            &[report(6, placed("Unconfirmed"))],
            &[],
            &map,
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(outcomes, [Applied::Unconfirmed]);
        assert_eq!(
            store.order(order.id).await.unwrap().unwrap().state,
            OrderState::Sending
        );
        let outcomes = apply_read_back(
            &store,
            &[report(6, placed("Unconfirmed"))],
            &[],
            &map,
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(outcomes, [Applied::CreationEnded(OrderState::Created)]);
        let fallback = AttemptEnd::Fallback {
            reason: "gave up".into(),
            error_code: None,
        };
        assert!(
            !store
                .finish_attempt(
                    order.id,
                    "w1",
                    attempt_change(&fallback, None, 3_000),
                    3_000
                )
                .await
                .unwrap(),
            "the lease was taken away"
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Created);
        assert_eq!(stored.site_status.as_deref(), Some("unconfirmed"));
        let kinds: Vec<Value> = store
            .site_events_of("lenina", "A")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e["type"].clone())
            .collect();
        assert_eq!(kinds, [json!("order.created"), json!("order.status")]);
    }

    #[tokio::test]
    async fn a_creation_error_from_iiko_sends_the_order_to_the_operators_once() {
        let (store, _dir, order) = sending_order().await;
        let refused = Creation::Failed {
            code: Some("PaymentTypeNotFound".into()),
            message: "PaymentTypeNotFound: no such type".into(),
            transient: false,
        };
        let unconfirmed =
            apply_delivery_reports(&store, &[report(5, refused.clone())], &[], &map, 2_000)
                .await
                .unwrap();
        assert_eq!(unconfirmed, [Applied::Unconfirmed]);
        let outcomes = apply_read_back(
            &store,
            &[report(5, refused.clone()), report(5, refused)],
            &[],
            &map,
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(
            outcomes,
            [
                Applied::CreationEnded(OrderState::Fallback),
                Applied::Unchanged
            ]
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Fallback);
        assert_eq!(stored.error_code.as_deref(), Some("PaymentTypeNotFound"));
        assert_eq!(store.site_events_of("lenina", "A").await.unwrap().len(), 1);
        // iiko creating it after all leaves it with the operators, who hear of it once.
        let said = apply_delivery_reports(
            &store,
            &[report(9, placed("Unconfirmed"))],
            &[],
            &map,
            3_000,
        )
        .await
        .unwrap();
        assert_eq!(said, [Applied::Unconfirmed]);
        let late = apply_read_back(
            &store,
            &[report(9, placed("Unconfirmed"))],
            &[],
            &map,
            3_000,
        )
        .await
        .unwrap();
        assert_eq!(
            late,
            [Applied::LateCreation(LateCreation {
                branch: "lenina".into(),
                site_id: "A".into(),
                iiko_order_id: "00000000-0000-0000-0000-000000000001".into(),
                number: 7,
                state: OrderState::Fallback,
            })]
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Fallback);
        assert_eq!(
            (stored.late_created_at, stored.iiko_number),
            (Some(3_000), Some(7))
        );
        let again = apply_read_back(
            &store,
            &[report(10, placed("WaitCooking"))],
            &[],
            &map,
            4_000,
        )
        .await
        .unwrap();
        assert_eq!(again, [Applied::Ignored]);
        // The operators' alert waits in the store until it is delivered.
        let waiting = store.unalerted_late_creations().await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!((waiting[0].0, waiting[0].1.number), (order.id, 7));
        store.mark_late_alerted(order.id, 5_000).await.unwrap();
        assert!(store.unalerted_late_creations().await.unwrap().is_empty());
    }

    // The pure decisions, one per transition.

    fn row(state: OrderState) -> StatusRow {
        StatusRow {
            id: 1,
            branch: "lenina".into(),
            site_id: "A".into(),
            state,
            iiko_order_id: "D1".into(),
            tracked_iiko_id: None,
            iiko_timestamp: Some(5),
            reported_iiko_status: None,
            site_status: None,
            cancel_reason: None,
            status_final: false,
            late_created_at: None,
        }
    }

    fn on(delivery_id: &str, timestamp: i64, creation: Creation) -> DeliveryReport {
        DeliveryReport {
            delivery_id: delivery_id.into(),
            organization_id: "org2".into(),
            timestamp,
            creation,
        }
    }

    fn placed_with(status: &str, change: impl FnOnce(&mut Placed)) -> Creation {
        let Creation::Placed(mut p) = placed(status) else {
            unreachable!()
        };
        change(&mut p);
        Creation::Placed(p)
    }

    fn failed(transient: bool) -> Creation {
        Creation::Failed {
            code: Some("E".into()),
            message: "no".into(),
            transient,
        }
    }

    fn decided(found: Found, report: DeliveryReport, read_back: bool) -> Decided {
        decide(&found, &report, &map, 100, read_back)
    }

    fn kinds(writes: &[StatusWrite]) -> Vec<&'static str> {
        writes
            .iter()
            .map(|write| match write {
                StatusWrite::Seen => "seen",
                StatusWrite::Follow { .. } => "follow",
                StatusWrite::EndCreation(_) => "end creation",
                StatusWrite::Report(_) => "report",
                StatusWrite::LateCreation { .. } => "late creation",
                StatusWrite::Unfollow => "unfollow",
                StatusWrite::History { .. } => "history",
                StatusWrite::Event(OrderEvent::Status { .. }) => "order.status",
                StatusWrite::Event(OrderEvent::Cancelled { .. }) => "order.cancelled",
                StatusWrite::Event(_) => "other event",
            })
            .collect()
    }

    #[test]
    fn each_report_on_a_created_order_is_decided_by_its_timestamp_delivery_and_status() {
        let created = row(OrderState::Created);
        let accepted = StatusRow {
            reported_iiko_status: Some("Unconfirmed".into()),
            site_status: Some("unconfirmed".into()),
            ..created.clone()
        };
        let moved = StatusRow {
            tracked_iiko_id: Some("D2".into()),
            ..created.clone()
        };
        let closed = StatusRow {
            status_final: true,
            ..created.clone()
        };
        let cases: Vec<(&str, StatusRow, DeliveryReport, Applied, Vec<&str>)> = vec![
            (
                "an older or repeated report is only noted as seen",
                created.clone(),
                on("D1", 5, placed("CookingStarted")),
                Applied::Stale,
                vec!["seen"],
            ),
            (
                "a report on a delivery the order left is stale",
                moved,
                on("D1", 9, placed("CookingStarted")),
                Applied::Stale,
                vec![],
            ),
            (
                "a new iiko status writes its history entry and the site's event",
                created.clone(),
                on("D1", 9, placed("Unconfirmed")),
                Applied::Changed {
                    site_status: "unconfirmed".into(),
                },
                vec!["report", "history", "order.status"],
            ),
            (
                "the same iiko status again only updates the order",
                accepted.clone(),
                on("D1", 9, placed("Unconfirmed")),
                Applied::Unchanged,
                vec!["report"],
            ),
            (
                "a cancellation also writes order.cancelled",
                accepted,
                on("D1", 9, placed("Cancelled")),
                Applied::Changed {
                    site_status: "cancelled".into(),
                },
                vec!["report", "history", "order.status", "order.cancelled"],
            ),
            (
                "a cancellation that is a move follows the new delivery",
                created.clone(),
                on(
                    "D1",
                    9,
                    placed_with("Cancelled", |p| {
                        p.moved_to = Some(("D2".into(), "org2".into()))
                    }),
                ),
                Applied::Moved,
                vec!["report", "follow"],
            ),
            (
                "a closed order hears no more",
                closed,
                on("D1", 9, placed("Delivered")),
                Applied::Unchanged,
                vec![],
            ),
            (
                "a failure report on a created order changes nothing",
                created,
                on("D1", 9, failed(false)),
                Applied::Unchanged,
                vec![],
            ),
        ];
        for (name, order, report, applied, writes) in cases {
            let decided = decided(Found::Delivery(order), report, false);
            assert_eq!(decided.applied, applied, "{name}");
            assert_eq!(kinds(&decided.writes), writes, "{name}");
        }
    }

    #[test]
    fn a_cancellation_closes_the_order_with_iikos_reason_or_the_sites_or_a_default() {
        let order = StatusRow {
            cancel_reason: Some("the site's".into()),
            ..row(OrderState::Created)
        };
        let cases = [(Some("iiko's"), "iiko's"), (None, "the site's")];
        for (given, reason) in cases {
            let report = on(
                "D1",
                9,
                placed_with("Cancelled", |p| p.cancel_reason = given.map(Into::into)),
            );
            let decided = decided(Found::Delivery(order.clone()), report, false);
            let StatusWrite::Report(written) = &decided.writes[0] else {
                panic!("{:?}", decided.writes)
            };
            assert!(written.cancelled && written.closed && written.reported);
            assert_eq!(written.cancel_reason.as_deref(), Some(reason));
            assert_eq!(
                decided.writes[1],
                StatusWrite::History {
                    state: Some(OrderState::Cancelled),
                    status: Some("cancelled".into()),
                    note: format!("iiko: Cancelled ({reason})"),
                }
            );
        }
        let without = decided(
            Found::Delivery(row(OrderState::Created)),
            on("D1", 9, placed("Cancelled")),
            false,
        );
        assert_eq!(
            without.writes.last(),
            Some(&StatusWrite::Event(OrderEvent::Cancelled {
                reason: "отменён в iiko".into()
            }))
        );
        let closed = decided(
            Found::Delivery(row(OrderState::Created)),
            on("D1", 9, placed("Closed")),
            false,
        );
        let StatusWrite::Report(written) = &closed.writes[0] else {
            panic!()
        };
        assert!(written.closed && !written.cancelled && written.cancel_reason.is_none());
    }

    #[test]
    fn a_creation_in_progress_is_ended_only_by_iikos_answer_when_asked_by_id() {
        // (what, the order's state, iiko's word, asked by id, outcome, writes)
        type Case = (
            &'static str,
            OrderState,
            Creation,
            bool,
            Applied,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "still in progress",
                OrderState::Sending,
                Creation::InProgress,
                true,
                Applied::Unchanged,
                vec![],
            ),
            (
                "a transient failure is the dispatcher's to retry",
                OrderState::Retrying,
                failed(true),
                true,
                Applied::Unchanged,
                vec![],
            ),
            (
                "a webhook's creation waits for iiko's confirmation",
                OrderState::Sending,
                placed("Unconfirmed"),
                false,
                Applied::Unconfirmed,
                vec![],
            ),
            (
                "a webhook's refusal waits for iiko's confirmation",
                OrderState::Queued,
                failed(false),
                false,
                Applied::Unconfirmed,
                vec![],
            ),
            (
                "a confirmed creation ends the attempt and applies the status",
                OrderState::Sending,
                placed("Unconfirmed"),
                true,
                Applied::CreationEnded(OrderState::Created),
                vec!["end creation", "report", "history", "order.status"],
            ),
            (
                "a confirmed refusal hands the order over",
                OrderState::Retrying,
                failed(false),
                true,
                Applied::CreationEnded(OrderState::Fallback),
                vec!["end creation"],
            ),
        ];
        for (name, state, creation, read_back, applied, writes) in cases {
            let decided = decided(
                Found::Delivery(row(state)),
                on("D1", 9, creation),
                read_back,
            );
            assert_eq!(decided.applied, applied, "{name}");
            assert_eq!(kinds(&decided.writes), writes, "{name}");
        }
        let refused = decided(
            Found::Delivery(row(OrderState::Sending)),
            on("D1", 9, failed(false)),
            true,
        );
        let StatusWrite::EndCreation(change) = &refused.writes[0] else {
            panic!()
        };
        assert_eq!(
            change.fallback_reason.as_deref(),
            Some("iiko отклонил заказ: no")
        );
        assert_eq!(
            (
                change.error_code.as_deref(),
                change.creation_status.as_deref()
            ),
            (Some("E"), Some("Error"))
        );
        let created = decided(
            Found::Delivery(row(OrderState::Sending)),
            on("D1", 9, placed("New")),
            true,
        );
        let StatusWrite::EndCreation(change) = &created.writes[0] else {
            panic!()
        };
        assert_eq!(
            (change.iiko_number, change.creation_status.as_deref()),
            (Some(7), Some("Success"))
        );
    }

    #[test]
    fn iikos_word_on_an_order_the_operators_have_is_noted_once_when_confirmed() {
        let noted = StatusRow {
            late_created_at: Some(50),
            ..row(OrderState::Resolved)
        };
        let cases: Vec<(&str, StatusRow, Creation, bool, Vec<&str>)> = vec![
            (
                "a creation heard by webhook waits for confirmation",
                row(OrderState::Fallback),
                placed("Unconfirmed"),
                false,
                vec![],
            ),
            (
                "a confirmed creation is noted",
                row(OrderState::Resolved),
                placed("Unconfirmed"),
                true,
                vec!["late creation"],
            ),
            (
                "a noted one is left to the operators",
                noted,
                placed("Closed"),
                true,
                vec![],
            ),
            (
                "a confirmed failure stops following it",
                row(OrderState::Fallback),
                failed(false),
                true,
                vec!["unfollow"],
            ),
            (
                "a failure by webhook changes nothing",
                row(OrderState::Fallback),
                failed(false),
                false,
                vec![],
            ),
        ];
        for (name, order, creation, read_back, writes) in cases {
            let decided = decided(Found::Delivery(order), on("D1", 9, creation), read_back);
            assert_eq!(kinds(&decided.writes), writes, "{name}");
        }
        let late = decided(
            Found::Delivery(row(OrderState::Fallback)),
            on("D1", 9, placed("Unconfirmed")),
            true,
        );
        assert_eq!(
            late.applied,
            Applied::LateCreation(LateCreation {
                branch: "lenina".into(),
                site_id: "A".into(),
                iiko_order_id: "D1".into(),
                number: 7,
                state: OrderState::Fallback,
            })
        );
        let ignored = decided(
            Found::Delivery(StatusRow {
                late_created_at: Some(50),
                ..row(OrderState::Fallback)
            }),
            on("D1", 9, placed("Closed")),
            true,
        );
        assert_eq!(ignored.applied, Applied::Ignored);
    }

    #[test]
    fn the_first_report_of_a_moved_delivery_follows_it_and_applies_its_status() {
        let moved = on(
            "D2",
            3,
            placed_with("CookingStarted", |p| p.moved_from = Some("D1".into())),
        );
        let decided_now = decided(
            Found::MovedFrom(row(OrderState::Created)),
            moved.clone(),
            false,
        );
        assert_eq!(
            decided_now.applied,
            Applied::Changed {
                site_status: "cookingstarted".into()
            }
        );
        assert_eq!(
            kinds(&decided_now.writes),
            ["follow", "report", "history", "order.status"]
        );
        assert_eq!(
            decided_now.writes[0],
            StatusWrite::Follow {
                delivery_id: "D2".into(),
                organization_id: "org2".into(),
                note: "iiko перенёс заказ на другую группу терминалов (доставка D2)".into(),
            }
        );
        // Moved on again since: the report is about a delivery the order left.
        let elsewhere = StatusRow {
            tracked_iiko_id: Some("D3".into()),
            ..row(OrderState::Created)
        };
        let stale = decided(Found::MovedFrom(elsewhere), moved, false);
        assert_eq!((stale.applied, stale.writes), (Applied::Stale, vec![]));
    }
}
