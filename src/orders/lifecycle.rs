//! The order's life cycle (CONTRACT section 3), decided here and written by the store: which
//! state an attempt's end leads to, with its history entry and site event, and what an
//! operator may do in which state. Every function is pure.
//!
//! The decisions come out as the store's own plain changes ([`AttemptChange`],
//! [`OperatorChange`]): the store sits below the domain and writes them without knowing why,
//! so a second backend only has to write the same changes. `OrderState` stays in the store
//! for the same reason: it is the vocabulary of the `state` column, which the store's SQL
//! also speaks (the dispatcher's due orders are `state IN ('queued', 'sending', 'retrying')`).
use crate::store::{AttemptChange, OperatorChange, OrderEvent, OrderState, StoredOrder};

/// How a dispatch attempt ended, as the dispatcher (or iiko's own report) decides it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptEnd {
    Created {
        number: Option<i64>,
        status: Option<String>,
    },
    Retrying {
        reason: String,
        next_attempt_at_ms: i64,
    },
    Fallback {
        reason: String,
        error_code: Option<String>,
    },
    /// The last attempt could not tell whether iiko has the order: read it back at
    /// `next_attempt_at_ms`, until `until_ms` at the latest (kept from the first such end).
    Unclear {
        reason: String,
        next_attempt_at_ms: i64,
        until_ms: i64,
    },
    /// The unclear time ran out: the operators get the order, warned that iiko may have it.
    GaveUp { reason: String },
}

impl AttemptEnd {
    /// The state the order goes to, as a metrics label.
    pub fn outcome(&self) -> &'static str {
        match self {
            AttemptEnd::Created { .. } => "created",
            AttemptEnd::Retrying { .. } => "retrying",
            AttemptEnd::Unclear { .. } => "unclear",
            AttemptEnd::Fallback { .. } | AttemptEnd::GaveUp { .. } => "fallback",
        }
    }
}

/// What an attempt's end makes of the order, with iiko's `creationStatus` when it gave one.
pub fn attempt_change(
    end: &AttemptEnd,
    creation_status: Option<&str>,
    now_ms: i64,
) -> AttemptChange {
    // What an end leaves as it is; each end sets its state, note and its own fields.
    let change = AttemptChange {
        state: OrderState::Queued,
        next_attempt_at_ms: None,
        fallback_reason: None,
        error_code: None,
        error_message: None,
        iiko_number: None,
        iiko_status: None,
        creation_status: creation_status.map(str::to_owned),
        // Cleared by every clear end; see `Unclear` and `GaveUp`.
        unclear_until_ms: None,
        note: String::new(),
        event: None,
    };
    match end {
        AttemptEnd::Created { number, status } => AttemptChange {
            state: OrderState::Created,
            iiko_number: *number,
            iiko_status: status.clone(),
            note: "iiko created the order".into(),
            event: Some(OrderEvent::Created {
                iiko_number: *number,
            }),
            ..change
        },
        AttemptEnd::Retrying {
            reason,
            next_attempt_at_ms,
        } => AttemptChange {
            state: OrderState::Retrying,
            next_attempt_at_ms: Some(*next_attempt_at_ms),
            error_message: Some(reason.clone()),
            note: reason.clone(),
            ..change
        },
        // The first unclear end sets the limit; later ones keep it.
        AttemptEnd::Unclear {
            reason,
            next_attempt_at_ms,
            until_ms,
        } => AttemptChange {
            state: OrderState::Retrying,
            next_attempt_at_ms: Some(*next_attempt_at_ms),
            error_message: Some(reason.clone()),
            unclear_until_ms: Some(*until_ms),
            note: format!("исход неясен, заказ проверяется в iiko: {reason}"),
            ..change
        },
        AttemptEnd::Fallback { reason, error_code } => AttemptChange {
            fallback_reason: Some(reason.clone()),
            error_code: error_code.clone(),
            ..fallback(change, reason)
        },
        // The unclear mark stays as the sign of an order iiko may still report.
        AttemptEnd::GaveUp { reason } => AttemptChange {
            fallback_reason: Some(reason.clone()),
            unclear_until_ms: Some(now_ms),
            ..fallback(change, reason)
        },
    }
}

fn fallback(change: AttemptChange, reason: &str) -> AttemptChange {
    AttemptChange {
        state: OrderState::Fallback,
        error_message: Some(reason.to_owned()),
        note: reason.to_owned(),
        event: Some(OrderEvent::Fallback {
            reason: reason.to_owned(),
        }),
        ..change
    }
}

/// Why an operator's action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no order {0}")]
    NotFound(i64),
    #[error("the order is {0}: {1}")]
    Refused(OrderState, &'static str),
    /// It could not be mapped to iiko and still cannot be, from the current catalog.
    #[error("it still cannot be mapped to iiko ({0}); enter it by hand and resolve it")]
    Unmappable(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// An operator sends a `fallback` or `retrying` order to iiko again now, with a fresh attempt
/// budget. `renewed_from` is the iiko id new ids were made from, when the order goes under
/// new ones: it must still be the order's.
pub fn requeue(
    id: i64,
    order: Option<&StoredOrder>,
    renewed_from: Option<&str>,
) -> Result<OperatorChange, ActionError> {
    let order = order.ok_or(ActionError::NotFound(id))?;
    let refuse = |why| Err(ActionError::Refused(order.state, why));
    match order.state {
        _ if renewed_from.is_some_and(|old| old != order.iiko_order_id) => {
            refuse("its iiko order id changed meanwhile; try again")
        }
        OrderState::Fallback | OrderState::Retrying
            if order.request.is_none() && renewed_from.is_none() =>
        {
            refuse("it could not be mapped to iiko; enter it by hand and resolve it")
        }
        OrderState::Fallback | OrderState::Retrying if order.lease_owner.is_none() => {
            Ok(OperatorChange {
                state: OrderState::Queued,
                requeue: true,
                note: "queued again by an operator".into(),
            })
        }
        OrderState::Queued | OrderState::Sending | OrderState::Retrying => {
            refuse("it is being sent to iiko right now")
        }
        _ => refuse("it is finished"),
    }
}

/// An operator entered a `fallback` order by hand: nothing more is done with it.
pub fn resolve(id: i64, order: Option<&StoredOrder>) -> Result<OperatorChange, ActionError> {
    resolve_noted(id, order, "entered by hand by an operator".into())
}

/// [`resolve`], with the history saying how the order was found entered (reconciliation
/// names the iiko order staff typed in).
pub fn resolve_noted(
    id: i64,
    order: Option<&StoredOrder>,
    note: std::borrow::Cow<'static, str>,
) -> Result<OperatorChange, ActionError> {
    let order = order.ok_or(ActionError::NotFound(id))?;
    match order.state {
        OrderState::Fallback => Ok(OperatorChange {
            state: OrderState::Resolved,
            requeue: false,
            note,
        }),
        state => Err(ActionError::Refused(
            state,
            "only a fallback order can be resolved",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(state: OrderState) -> StoredOrder {
        StoredOrder {
            iiko_order_id: "old".into(),
            request: Some("{}".into()),
            attempts: 3,
            create_sent: true,
            ..StoredOrder::sample("A", state)
        }
    }

    #[test]
    fn each_attempt_end_leads_to_its_state_with_its_history_entry_and_event() {
        let created = AttemptEnd::Created {
            number: Some(7),
            status: Some("Unconfirmed".into()),
        };
        let retrying = AttemptEnd::Retrying {
            reason: "503".into(),
            next_attempt_at_ms: 60,
        };
        let unclear = AttemptEnd::Unclear {
            reason: "timeout".into(),
            next_attempt_at_ms: 40,
            until_ms: 300,
        };
        let fallback = AttemptEnd::Fallback {
            reason: "refused".into(),
            error_code: Some("E".into()),
        };
        let gave_up = AttemptEnd::GaveUp {
            reason: "no answer".into(),
        };
        let cases = [
            (
                created,
                OrderState::Created,
                "iiko created the order",
                Some(OrderEvent::Created {
                    iiko_number: Some(7),
                }),
            ),
            (retrying, OrderState::Retrying, "503", None),
            (
                unclear,
                OrderState::Retrying,
                "исход неясен, заказ проверяется в iiko: timeout",
                None,
            ),
            (
                fallback,
                OrderState::Fallback,
                "refused",
                Some(OrderEvent::Fallback {
                    reason: "refused".into(),
                }),
            ),
            (
                gave_up,
                OrderState::Fallback,
                "no answer",
                Some(OrderEvent::Fallback {
                    reason: "no answer".into(),
                }),
            ),
        ];
        for (end, state, note, event) in cases {
            let change = attempt_change(&end, Some("Error"), 10);
            assert_eq!(change.state, state, "{end:?}");
            assert_eq!(change.note, note, "{end:?}");
            assert_eq!(change.event, event, "{end:?}");
            assert_eq!(change.creation_status.as_deref(), Some("Error"), "{end:?}");
        }
    }

    #[test]
    fn a_creation_sets_iikos_number_and_status_and_clears_the_failure() {
        let end = AttemptEnd::Created {
            number: Some(7),
            status: Some("Unconfirmed".into()),
        };
        let change = attempt_change(&end, Some("Success"), 10);
        assert_eq!(change.iiko_number, Some(7));
        assert_eq!(change.iiko_status.as_deref(), Some("Unconfirmed"));
        assert_eq!((change.fallback_reason, change.error_message), (None, None));
        assert_eq!(
            (change.next_attempt_at_ms, change.unclear_until_ms),
            (None, None)
        );
    }

    #[test]
    fn a_retry_is_due_at_its_time_and_keeps_its_reason_as_the_error() {
        let end = AttemptEnd::Retrying {
            reason: "503".into(),
            next_attempt_at_ms: 60,
        };
        let change = attempt_change(&end, None, 10);
        assert_eq!(change.next_attempt_at_ms, Some(60));
        assert_eq!(change.error_message.as_deref(), Some("503"));
        assert_eq!(
            (change.fallback_reason, change.unclear_until_ms),
            (None, None)
        );
    }

    #[test]
    fn an_unclear_end_reads_back_at_its_time_and_marks_the_order_until_its_limit() {
        let end = AttemptEnd::Unclear {
            reason: "timeout".into(),
            next_attempt_at_ms: 40,
            until_ms: 300,
        };
        let change = attempt_change(&end, None, 10);
        assert_eq!(change.next_attempt_at_ms, Some(40));
        assert_eq!(change.unclear_until_ms, Some(300));
        assert_eq!(change.fallback_reason, None);
    }

    #[test]
    fn a_refusal_hands_the_order_over_with_its_reason_and_code() {
        let end = AttemptEnd::Fallback {
            reason: "refused".into(),
            error_code: Some("E".into()),
        };
        let change = attempt_change(&end, Some("Error"), 10);
        assert_eq!(change.fallback_reason.as_deref(), Some("refused"));
        assert_eq!(change.error_code.as_deref(), Some("E"));
        assert_eq!(change.error_message.as_deref(), Some("refused"));
        assert_eq!(
            (change.next_attempt_at_ms, change.unclear_until_ms),
            (None, None)
        );
    }

    #[test]
    fn giving_up_on_an_unclear_order_keeps_it_marked_as_one_iiko_may_have() {
        let end = AttemptEnd::GaveUp {
            reason: "no answer".into(),
        };
        let change = attempt_change(&end, None, 10);
        assert_eq!(change.state, OrderState::Fallback);
        assert_eq!(change.fallback_reason.as_deref(), Some("no answer"));
        assert_eq!(change.unclear_until_ms, Some(10));
        assert_eq!(change.error_code, None);
    }

    #[test]
    fn an_operator_may_requeue_only_an_unleased_fallback_or_retrying_order_that_maps() {
        let leased = StoredOrder {
            lease_owner: Some("w1/x".into()),
            ..order(OrderState::Retrying)
        };
        let unmapped = StoredOrder {
            request: None,
            ..order(OrderState::Fallback)
        };
        let cases = [
            (order(OrderState::Fallback), Ok(OrderState::Queued)),
            (order(OrderState::Retrying), Ok(OrderState::Queued)),
            (leased, Err("it is being sent to iiko right now")),
            (
                unmapped,
                Err("it could not be mapped to iiko; enter it by hand and resolve it"),
            ),
            (
                order(OrderState::Queued),
                Err("it is being sent to iiko right now"),
            ),
            (
                order(OrderState::Sending),
                Err("it is being sent to iiko right now"),
            ),
            (order(OrderState::Created), Err("it is finished")),
            (order(OrderState::Resolved), Err("it is finished")),
            (order(OrderState::Cancelled), Err("it is finished")),
        ];
        for (order, expected) in cases {
            let decided = match requeue(1, Some(&order), None) {
                Ok(change) => {
                    assert!(change.requeue);
                    assert_eq!(change.note, "queued again by an operator");
                    Ok(change.state)
                }
                Err(ActionError::Refused(state, why)) => {
                    assert_eq!(state, order.state);
                    Err(why)
                }
                Err(other) => panic!("{other}"),
            };
            assert_eq!(decided, expected, "{:?}", order.state);
        }
    }

    #[test]
    fn an_unmapped_order_may_be_requeued_under_new_ids_made_from_its_current_one() {
        let unmapped = StoredOrder {
            request: None,
            ..order(OrderState::Fallback)
        };
        assert!(requeue(1, Some(&unmapped), Some("old")).is_ok());
        assert!(matches!(
            requeue(1, Some(&unmapped), Some("older")),
            Err(ActionError::Refused(
                _,
                "its iiko order id changed meanwhile; try again"
            ))
        ));
    }

    #[test]
    fn only_a_fallback_order_may_be_resolved() {
        for state in OrderState::ALL {
            let decided = resolve(1, Some(&order(state)));
            match state {
                OrderState::Fallback => {
                    let change = decided.unwrap();
                    assert_eq!(
                        (change.state, change.requeue),
                        (OrderState::Resolved, false)
                    );
                    assert_eq!(change.note, "entered by hand by an operator");
                }
                _ => assert!(matches!(decided, Err(ActionError::Refused(s, _)) if s == state)),
            }
        }
    }

    #[test]
    fn an_action_on_a_missing_order_names_it() {
        assert!(matches!(
            requeue(9, None, None),
            Err(ActionError::NotFound(9))
        ));
        assert!(matches!(resolve(9, None), Err(ActionError::NotFound(9))));
    }
}
