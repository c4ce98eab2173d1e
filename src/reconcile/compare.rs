//! The comparison: the bridge's orders of a period against iiko's, into discrepancies. Pure:
//! what iiko and the store said goes in, the report's findings come out.
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::period::{Period, next};
use crate::store::OrderState;

/// An order as the bridge holds it, read for reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeOrder {
    /// The store's row id.
    pub id: i64,
    pub site_id: String,
    /// What the site calls it and iiko's `externalNumber` carries (the site id by default).
    pub number: String,
    pub state: OrderState,
    /// Every iiko delivery id it had: the one sent and, after a move, the one followed.
    pub iiko_ids: Vec<Uuid>,
    pub phone: String,
    /// What the site charged for it: `total` + `bonus`, which iiko's `sum` must equal.
    pub charged: Decimal,
    /// iiko's last status the bridge recorded.
    pub iiko_status: Option<String>,
    /// The branch's local day it belongs to: wanted (`deliver_at`), or accepted when "as soon
    /// as possible".
    pub day: NaiveDate,
    /// "As soon as possible": iiko dates it by its own estimate, which may fall on the next day.
    pub asap: bool,
    pub accepted_at: DateTime<Utc>,
}

/// A delivery iiko holds (created), read for reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct IikoOrder {
    pub id: Uuid,
    pub number: i64,
    pub external_number: Option<String>,
    pub source_key: Option<String>,
    pub status: String,
    pub sum: Decimal,
    pub phone: String,
    /// The local day of its delivery date (`completeBefore`).
    pub day: NaiveDate,
    /// When it was entered (`whenCreated`), at the branch, as an instant.
    pub created_at: Option<DateTime<Utc>>,
}

impl IikoOrder {
    fn cancelled(&self) -> bool {
        self.status == "Cancelled"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    MissingInIiko,
    UnknownInIiko,
    DuplicateInIiko,
    SumMismatch,
    StatusMismatch,
    FallbackUnresolved,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::MissingInIiko,
        Kind::UnknownInIiko,
        Kind::DuplicateInIiko,
        Kind::SumMismatch,
        Kind::StatusMismatch,
        Kind::FallbackUnresolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MissingInIiko => "missing_in_iiko",
            Kind::UnknownInIiko => "unknown_in_iiko",
            Kind::DuplicateInIiko => "duplicate_in_iiko",
            Kind::SumMismatch => "sum_mismatch",
            Kind::StatusMismatch => "status_mismatch",
            Kind::FallbackUnresolved => "fallback_unresolved",
        }
    }

    /// How operators read it (Russian: they are restaurant staff).
    pub fn title_ru(self) -> &'static str {
        match self {
            Kind::MissingInIiko => "нет в iiko",
            Kind::UnknownInIiko => "неизвестный заказ в iiko",
            Kind::DuplicateInIiko => "дубль в iiko",
            Kind::SumMismatch => "сумма расходится",
            Kind::StatusMismatch => "статус расходится",
            Kind::FallbackUnresolved => "не закрыт после передачи операторам",
        }
    }
}

/// One finding, in the contract's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discrepancy {
    pub kind: Kind,
    /// The site's order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iiko_order_id: Option<Uuid>,
    /// For `fallback_unresolved`: the iiko order staff probably typed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_match: Option<Uuid>,
    pub detail: String,
}

/// What one branch's comparison takes.
pub struct Inputs<'a> {
    pub period: Period,
    /// The bridge's orders of the period, and of the hours before it (only to recognise iiko's
    /// orders dated into the period; never reported).
    pub bridge: &'a [BridgeOrder],
    /// iiko's orders carrying the bridge's source key, dated in the period or just after it.
    pub iiko: &'a [IikoOrder],
    /// iiko's orders with the phone of each fallback order (by row id), whatever their source.
    pub by_phone: &'a HashMap<i64, Vec<IikoOrder>>,
    /// Days iiko could not answer for completely: nothing of them is judged.
    pub incomplete: &'a BTreeSet<NaiveDate>,
    pub source_key: &'a str,
}

/// The discrepancies of one branch, ordered by kind then order.
pub fn compare(inputs: &Inputs<'_>) -> Vec<Discrepancy> {
    let Inputs {
        period,
        bridge,
        iiko,
        by_phone,
        incomplete,
        source_key,
    } = inputs;
    let complete = |day: NaiveDate| !incomplete.contains(&day);
    let by_id: HashMap<Uuid, &IikoOrder> = iiko.iter().map(|o| (o.id, o)).collect();
    let mut by_number: HashMap<&str, Vec<&IikoOrder>> = HashMap::new();
    for order in iiko.iter() {
        if let Some(number) = order.external_number.as_deref() {
            by_number.entry(number).or_default().push(order);
        }
    }
    let bridge_ids: HashSet<Uuid> = bridge.iter().flat_map(|o| o.iiko_ids.clone()).collect();
    let bridge_numbers: HashSet<&str> = bridge.iter().map(|o| o.number.as_str()).collect();

    let mut found = Vec::new();
    // One typed-in order answers for one fallback order: the earliest accepted gets it.
    let mut matched: HashSet<Uuid> = HashSet::new();
    for order in bridge.iter().filter(|o| period.contains(o.day)) {
        // An "as soon as possible" order may be dated by iiko into the next day.
        let judged = complete(order.day)
            && (!order.asap || !period.contains(next(order.day)) || complete(next(order.day)));
        if !judged {
            continue;
        }
        let discrepancy = |kind, iiko_order_id, detail: String| Discrepancy {
            kind,
            order_id: Some(order.site_id.clone()),
            iiko_order_id,
            manual_match: None,
            detail,
        };
        let primary: Vec<&IikoOrder> = order
            .iiko_ids
            .iter()
            .rev()
            .filter_map(|id| by_id.get(id).copied())
            .collect();
        let main = primary
            .iter()
            .find(|o| !o.cancelled())
            .or(primary.first())
            .copied()
            .or_else(|| {
                by_number
                    .get(order.number.as_str())
                    .and_then(|all| all.iter().find(|o| !o.cancelled()).copied())
            });
        // Other live deliveries with its number: the kitchen has it twice.
        if let Some(main) = main {
            let extras = by_number
                .get(order.number.as_str())
                .into_iter()
                .flatten()
                .filter(|o| o.id != main.id && !o.cancelled())
                .filter(|o| o.source_key.as_deref() == Some(source_key));
            for extra in extras {
                found.push(discrepancy(
                    Kind::DuplicateInIiko,
                    Some(extra.id),
                    format!(
                        "iiko holds order №{} as well as №{} for site order {}",
                        extra.number, main.number, order.number
                    ),
                ));
            }
        }
        match (order.state, main) {
            (OrderState::Created, None) => found.push(discrepancy(
                Kind::MissingInIiko,
                order.iiko_ids.last().copied(),
                format!(
                    "iiko does not return order {} (it was created)",
                    order.number
                ),
            )),
            (OrderState::Fallback, _) => {
                let manual = manual_match(order, by_phone.get(&order.id), &bridge_ids, source_key)
                    .into_iter()
                    .flatten()
                    .find(|m| !matched.contains(&m.id));
                matched.extend(manual.map(|m| m.id));
                let detail = match manual {
                    Some(m) => format!(
                        "handed to operators; iiko order №{} with phone {} ({} ₽) was entered later",
                        m.number, m.phone, m.sum
                    ),
                    None => "handed to operators and not marked resolved".to_owned(),
                };
                found.push(Discrepancy {
                    manual_match: manual.map(|m| m.id),
                    ..discrepancy(Kind::FallbackUnresolved, None, detail)
                });
            }
            _ => {}
        }
        let Some(main) = main else { continue };
        if order.state == OrderState::Created && main.sum != order.charged && !main.cancelled() {
            found.push(discrepancy(
                Kind::SumMismatch,
                Some(main.id),
                format!(
                    "iiko's sum {} differs from the site's {} by {}",
                    main.sum,
                    order.charged,
                    main.sum - order.charged
                ),
            ));
        }
        if let Some(recorded) = &order.iiko_status
            && *recorded != main.status
        {
            found.push(discrepancy(
                Kind::StatusMismatch,
                Some(main.id),
                format!(
                    "iiko says {}, the bridge last recorded {recorded}",
                    main.status
                ),
            ));
        }
    }

    for order in iiko.iter() {
        let ours = order.source_key.as_deref() == Some(source_key);
        let known = bridge_ids.contains(&order.id)
            || order
                .external_number
                .as_deref()
                .is_some_and(|n| bridge_numbers.contains(n));
        if ours && !known && period.contains(order.day) && complete(order.day) {
            found.push(Discrepancy {
                kind: Kind::UnknownInIiko,
                order_id: None,
                iiko_order_id: Some(order.id),
                manual_match: None,
                detail: format!(
                    "iiko order №{} ({}, {} ₽, number {}) carries the bridge's source key; the bridge has no such order",
                    order.number,
                    order.status,
                    order.sum,
                    order.external_number.as_deref().unwrap_or("-")
                ),
            });
        }
    }
    found.sort_by(|a, b| {
        (a.kind, &a.order_id, a.iiko_order_id).cmp(&(b.kind, &b.order_id, b.iiko_order_id))
    });
    found
}

/// The iiko orders staff may have typed in for a fallback order, most probable first: same
/// phone, entered after the site's order came, not from the bridge, not cancelled.
fn manual_match<'a>(
    order: &BridgeOrder,
    candidates: Option<&'a Vec<IikoOrder>>,
    bridge_ids: &HashSet<Uuid>,
    source_key: &str,
) -> Option<Vec<&'a IikoOrder>> {
    let mut found: Vec<&IikoOrder> = candidates?
        .iter()
        .filter(|o| o.phone == order.phone && !o.cancelled())
        .filter(|o| o.source_key.as_deref() != Some(source_key) && !bridge_ids.contains(&o.id))
        .filter(|o| o.created_at.is_none_or(|at| at >= order.accepted_at))
        .collect();
    found.sort_by_key(|o| (o.created_at, o.number));
    Some(found)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    const KEY: &str = "site";

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn bridge(n: u128, state: OrderState) -> BridgeOrder {
        BridgeOrder {
            id: n as i64,
            site_id: format!("S{n}"),
            number: format!("S{n}"),
            state,
            iiko_ids: vec![Uuid::from_u128(n)],
            phone: "+79990000001".into(),
            charged: dec!(1000.50),
            iiko_status: Some("Unconfirmed".into()),
            day: day("2026-12-04"),
            asap: false,
            accepted_at: at("2026-12-04T10:00:00Z"),
        }
    }

    fn iiko_of(order: &BridgeOrder) -> IikoOrder {
        IikoOrder {
            id: order.iiko_ids[0],
            number: 1000 + order.id,
            external_number: Some(order.number.clone()),
            source_key: Some(KEY.into()),
            status: "Unconfirmed".into(),
            sum: order.charged,
            phone: order.phone.clone(),
            day: order.day,
            created_at: Some(order.accepted_at),
        }
    }

    fn period() -> Period {
        Period {
            from: day("2026-12-04"),
            to: day("2026-12-05"),
        }
    }

    fn run(bridge: &[BridgeOrder], iiko: &[IikoOrder]) -> Vec<Discrepancy> {
        run_with(bridge, iiko, &HashMap::new(), &BTreeSet::new())
    }

    fn run_with(
        bridge: &[BridgeOrder],
        iiko: &[IikoOrder],
        by_phone: &HashMap<i64, Vec<IikoOrder>>,
        incomplete: &BTreeSet<NaiveDate>,
    ) -> Vec<Discrepancy> {
        compare(&Inputs {
            period: period(),
            bridge,
            iiko,
            by_phone,
            incomplete,
            source_key: KEY,
        })
    }

    fn kinds(found: &[Discrepancy]) -> Vec<Kind> {
        found.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn matching_orders_give_nothing() {
        let ours = [
            bridge(1, OrderState::Created),
            bridge(2, OrderState::Cancelled),
        ];
        let mut theirs: Vec<_> = ours.iter().map(iiko_of).collect();
        theirs[1].status = "Cancelled".into();
        let mut ours = ours;
        ours[1].iiko_status = Some("Cancelled".into());
        assert_eq!(run(&ours, &theirs), []);
    }

    #[test]
    fn a_created_order_iiko_does_not_return_is_missing() {
        let ours = [bridge(1, OrderState::Created)];
        let found = run(&ours, &[]);
        assert_eq!(kinds(&found), [Kind::MissingInIiko]);
        assert_eq!(found[0].order_id.as_deref(), Some("S1"));
    }

    #[test]
    fn an_order_with_the_bridge_key_the_bridge_does_not_know_is_unknown() {
        let stray = IikoOrder {
            external_number: Some("X9".into()),
            ..iiko_of(&bridge(9, OrderState::Created))
        };
        let found = run(&[], std::slice::from_ref(&stray));
        assert_eq!(kinds(&found), [Kind::UnknownInIiko]);
        assert_eq!(found[0].iiko_order_id, Some(stray.id));
        // Without the key it is staff's own business.
        let own = IikoOrder {
            source_key: None,
            ..stray
        };
        assert_eq!(run(&[], &[own]), []);
    }

    #[test]
    fn two_live_iiko_orders_for_one_site_order_are_a_duplicate() {
        let ours = [bridge(1, OrderState::Created)];
        let first = iiko_of(&ours[0]);
        let second = IikoOrder {
            id: Uuid::from_u128(77),
            number: 2000,
            ..first.clone()
        };
        let found = run(&ours, &[first.clone(), second.clone()]);
        assert_eq!(kinds(&found), [Kind::DuplicateInIiko]);
        assert_eq!(found[0].iiko_order_id, Some(second.id));
        // A cancelled second one cost the kitchen nothing.
        let cancelled = IikoOrder {
            status: "Cancelled".into(),
            ..second
        };
        assert_eq!(run(&ours, &[first, cancelled]), []);
    }

    #[test]
    fn sums_are_compared_to_the_kopeck_against_total_plus_bonus() {
        let ours = [bridge(1, OrderState::Created)];
        let changed = IikoOrder {
            sum: dec!(1000.49),
            ..iiko_of(&ours[0])
        };
        let found = run(&ours, &[changed]);
        assert_eq!(kinds(&found), [Kind::SumMismatch]);
        assert!(found[0].detail.contains("-0.01"), "{}", found[0].detail);
        let same = IikoOrder {
            sum: dec!(1000.5),
            ..iiko_of(&ours[0])
        };
        assert_eq!(run(&ours, &[same]), []);
    }

    #[test]
    fn a_status_other_than_the_last_recorded_is_a_mismatch_and_none_recorded_is_not() {
        let mut ours = [bridge(1, OrderState::Created)];
        let moved_on = IikoOrder {
            status: "Closed".into(),
            ..iiko_of(&ours[0])
        };
        assert_eq!(
            kinds(&run(&ours, std::slice::from_ref(&moved_on))),
            [Kind::StatusMismatch]
        );
        ours[0].iiko_status = None;
        assert_eq!(run(&ours, &[moved_on]), []);
    }

    #[test]
    fn a_moved_order_is_matched_by_the_delivery_it_is_followed_by() {
        let mut ours = [bridge(1, OrderState::Created)];
        let old = IikoOrder {
            status: "Cancelled".into(),
            ..iiko_of(&ours[0])
        };
        let new = IikoOrder {
            id: Uuid::from_u128(50),
            number: 3000,
            ..iiko_of(&ours[0])
        };
        ours[0].iiko_ids.push(new.id);
        assert_eq!(run(&ours, &[old, new]), []);
    }

    #[test]
    fn a_fallback_order_names_the_later_hand_entered_order_with_its_phone() {
        let ours = [bridge(1, OrderState::Fallback)];
        let typed = |n: u128, created: &str, key: Option<&str>| IikoOrder {
            id: Uuid::from_u128(n),
            number: n as i64,
            external_number: None,
            source_key: key.map(str::to_owned),
            status: "Unconfirmed".into(),
            sum: dec!(1000.50),
            phone: "+79990000001".into(),
            day: day("2026-12-04"),
            created_at: Some(at(created)),
        };
        let by_phone = HashMap::from([(
            1,
            vec![
                typed(10, "2026-12-04T09:00:00Z", None),
                typed(11, "2026-12-04T10:20:00Z", Some(KEY)),
                typed(12, "2026-12-04T10:30:00Z", None),
                typed(13, "2026-12-04T11:00:00Z", None),
            ],
        )]);
        let found = run_with(&ours, &[], &by_phone, &BTreeSet::new());
        assert_eq!(kinds(&found), [Kind::FallbackUnresolved]);
        assert_eq!(found[0].manual_match, Some(Uuid::from_u128(12)));
        let alone = run(&ours, &[]);
        assert_eq!(alone[0].manual_match, None);
    }

    #[test]
    fn one_typed_in_order_answers_for_one_fallback_order_only() {
        let first = bridge(1, OrderState::Fallback);
        let second = BridgeOrder {
            accepted_at: at("2026-12-04T10:05:00Z"),
            ..bridge(2, OrderState::Fallback)
        };
        let typed = IikoOrder {
            id: Uuid::from_u128(30),
            external_number: None,
            source_key: None,
            created_at: Some(at("2026-12-04T10:30:00Z")),
            ..iiko_of(&first)
        };
        let by_phone = HashMap::from([(1, vec![typed.clone()]), (2, vec![typed.clone()])]);
        let found = run_with(&[first, second], &[], &by_phone, &BTreeSet::new());
        let matches: Vec<_> = found.iter().map(|d| d.manual_match).collect();
        assert_eq!(matches, [Some(typed.id), None]);
    }

    #[test]
    fn nothing_of_an_incomplete_day_is_judged() {
        let ours = [bridge(1, OrderState::Created)];
        let stray = IikoOrder {
            external_number: Some("X9".into()),
            ..iiko_of(&bridge(9, OrderState::Created))
        };
        let incomplete = BTreeSet::from([day("2026-12-04")]);
        assert_eq!(run_with(&ours, &[stray], &HashMap::new(), &incomplete), []);
        // An order of the day "as soon as possible" waits for the next day's answer too.
        let mut asap = bridge(2, OrderState::Created);
        asap.asap = true;
        let next_missing = BTreeSet::from([day("2026-12-05")]);
        assert_eq!(run_with(&[asap], &[], &HashMap::new(), &next_missing), []);
    }

    #[test]
    fn orders_outside_the_period_only_help_recognise_iiko_orders() {
        let mut before = bridge(1, OrderState::Created);
        before.day = day("2026-12-03");
        let mut dated_in = iiko_of(&before);
        dated_in.day = day("2026-12-04");
        assert_eq!(run(&[before], &[dated_in]), []);
    }
}
