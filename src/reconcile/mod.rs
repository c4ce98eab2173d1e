//! Reconciliation with iiko (CONTRACT section 8, [docs/reconciliation.md]): what the bridge
//! holds for a period against what iiko holds, per branch. The comparison is pure
//! ([`compare`]); this module reads both sides (`fetch.rs` for iiko, the store for the bridge),
//! and `daily.rs` runs it every morning for the day before.
mod compare;
mod daily;
mod fetch;
mod period;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use compare::{BridgeOrder, Discrepancy, IikoOrder, Inputs, Kind, compare};
pub use daily::{DailyRun, DailyStep};
pub use fetch::{ASAP_SLACK, PAGE_ROWS};
pub use period::{Period, PeriodError, local_day};

use crate::config::BranchConfig;
use crate::iiko::IikoClient;
use crate::notify::html;
use crate::orders::Phone;
use crate::store::{OrderState, Store, StoreError, StoredOrder};

/// Pauses before retrying an iiko call that failed transiently.
pub const RETRY_WAITS: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// The whole report, in the contract's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub branches: Vec<BranchReport>,
}

/// One branch's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchReport {
    pub branch: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The bridge's orders of the period.
    pub bridge_orders: usize,
    /// iiko's orders with the bridge's source key dated in the period.
    pub iiko_orders: usize,
    pub discrepancies: Vec<Discrepancy>,
    /// Days iiko could not answer for: nothing of them is judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete_days: Vec<NaiveDate>,
    /// iiko calls made (for the benchmark; not part of the report).
    #[serde(skip)]
    pub iiko_calls: usize,
}

/// What a report means for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// Discrepancies, or days iiko could not answer for.
    Findings,
    /// iiko answered for no day at all.
    Unreachable,
}

impl BranchReport {
    pub fn unreachable(&self) -> bool {
        let days = Period {
            from: self.from,
            to: self.to,
        }
        .days()
        .len();
        self.incomplete_days.len() >= days
    }

    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty() && self.incomplete_days.is_empty()
    }

    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        for d in &self.discrepancies {
            *counts.entry(d.kind).or_default() += 1;
        }
        counts
    }
}

impl Report {
    pub fn outcome(&self) -> Outcome {
        if !self.branches.is_empty() && self.branches.iter().all(BranchReport::unreachable) {
            Outcome::Unreachable
        } else if self.branches.iter().all(BranchReport::is_clean) {
            Outcome::Clean
        } else {
            Outcome::Findings
        }
    }
}

/// Runs reconciliations over one store and one iiko client.
#[derive(Clone)]
pub struct Reconciler {
    store: Store,
    iiko: IikoClient,
    source_key: String,
    retry_waits: Vec<Duration>,
}

impl Reconciler {
    pub fn new(store: Store, iiko: IikoClient, source_key: &str) -> Reconciler {
        Reconciler {
            store,
            iiko,
            source_key: source_key.to_owned(),
            retry_waits: RETRY_WAITS.to_vec(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The report of one branch for `period`. iiko failing makes days incomplete, never an
    /// error; only the store failing is.
    pub async fn branch(
        &self,
        branch: &BranchConfig,
        period: Period,
    ) -> Result<BranchReport, StoreError> {
        let tz = branch.timezone;
        let stored = self
            .store
            .orders_wanted_between(
                &branch.key,
                (period.start(tz) - ASAP_SLACK).timestamp_millis(),
                period.end(tz).timestamp_millis(),
            )
            .await?;
        let bridge: Vec<BridgeOrder> = stored.iter().map(|o| bridge_order(o, tz)).collect();

        let source = fetch::Source {
            iiko: &self.iiko,
            organization_id: branch.organization_id,
            source_key: &self.source_key,
            tz,
            retry_waits: &self.retry_waits,
        };
        let mut calls = 0;
        let mut incomplete = BTreeSet::new();
        let mut iiko = Vec::new();
        for day in period.days() {
            match source.day(day, day == period.to, &mut calls).await {
                Ok(orders) => iiko.extend(orders),
                Err(error) => {
                    tracing::warn!(branch = %branch.key, %day, %error, "iiko did not answer for a day; it is incomplete");
                    incomplete.insert(day);
                }
            }
        }
        let mut by_phone = HashMap::new();
        let fallback: Vec<&BridgeOrder> = bridge
            .iter()
            .filter(|o| {
                o.state == OrderState::Fallback
                    && period.contains(o.day)
                    && !incomplete.contains(&o.day)
            })
            .collect();
        for order in fallback {
            match source
                .phone(&order.phone, order.day, period.to, &mut calls)
                .await
            {
                Ok(found) => {
                    by_phone.insert(order.id, found);
                }
                Err(error) => {
                    tracing::warn!(branch = %branch.key, day = %order.day, %error, "iiko did not answer for a phone; the day is incomplete");
                    incomplete.insert(order.day);
                }
            }
        }
        let discrepancies = compare(&Inputs {
            period,
            bridge: &bridge,
            iiko: &iiko,
            by_phone: &by_phone,
            incomplete: &incomplete,
            source_key: &self.source_key,
        });
        Ok(BranchReport {
            branch: branch.key.clone(),
            from: period.from,
            to: period.to,
            bridge_orders: bridge.iter().filter(|o| period.contains(o.day)).count(),
            iiko_orders: iiko
                .iter()
                .filter(|o| {
                    period.contains(o.day) && o.source_key.as_deref() == Some(&self.source_key)
                })
                .count(),
            discrepancies,
            incomplete_days: incomplete.into_iter().collect(),
            iiko_calls: calls,
        })
    }
}

/// Reads what reconciliation needs of a stored order: its site JSON was validated at intake,
/// so a field missing here falls back to a harmless value rather than failing the report.
pub fn bridge_order(order: &StoredOrder, tz: Tz) -> BridgeOrder {
    let body: Value = serde_json::from_str(&order.raw_body).unwrap_or_default();
    let accepted_at = DateTime::from_timestamp_millis(order.created_at).unwrap_or_default();
    let wanted = body["deliver_at"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc));
    let money = |value: &Value| match value {
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        Value::String(s) => Decimal::from_str(s).ok(),
        _ => None,
    };
    let charged = money(&body["total"]).unwrap_or_default()
        + money(&body["bonus"]["amount"]).unwrap_or_default();
    let iiko_ids = [
        Some(order.iiko_order_id.as_str()),
        order.tracked_iiko_id.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|id| Uuid::parse_str(id).ok())
    .collect();
    BridgeOrder {
        id: order.id,
        site_id: order.site_id.clone(),
        number: body["number"].as_str().unwrap_or(&order.site_id).to_owned(),
        state: order.state,
        iiko_ids,
        // As iiko holds it: the site's `+7 (999) 000-11-22` is `+79990001122` there.
        phone: body["customer"]["phone"]
            .as_str()
            .map_or_else(String::new, |raw| {
                Phone::parse(raw).map_or_else(|_| raw.to_owned(), |phone| phone.to_string())
            }),
        charged: charged.normalize(),
        iiko_status: order.iiko_status.clone(),
        day: local_day(wanted.unwrap_or(accepted_at), tz),
        asap: wanted.is_none(),
        accepted_at,
    }
}

/// How many orders a summary names by number, per kind.
const SUMMARY_ORDERS: usize = 5;

/// The operators' Telegram summary of one branch's report (HTML, Russian), or None when there
/// is nothing to say.
pub fn summary_html(report: &BranchReport, branch_name: &str) -> Option<String> {
    if report.is_clean() {
        return None;
    }
    let day = match report.from == report.to {
        true => report.from.format("%d.%m.%Y").to_string(),
        false => format!(
            "{}–{}",
            report.from.format("%d.%m.%Y"),
            report.to.format("%d.%m.%Y")
        ),
    };
    let mut text = format!(
        "{} {}\nЗаказов сайта: {}, в iiko: {}\n",
        html::bold(&format!("Сверка с iiko, {}:", html::escape(branch_name))),
        html::escape(&day),
        report.bridge_orders,
        report.iiko_orders
    );
    for (kind, count) in report.counts() {
        let named: Vec<String> = report
            .discrepancies
            .iter()
            .filter(|d| d.kind == kind)
            .take(SUMMARY_ORDERS)
            .map(|d| match (&d.order_id, d.iiko_order_id) {
                (Some(order), _) => format!("№{}", html::escape(order)),
                (None, Some(iiko)) => format!("iiko {}", &iiko.to_string()[..8]),
                (None, None) => "?".to_owned(),
            })
            .collect();
        let more = count.saturating_sub(named.len());
        let tail = if more > 0 {
            format!(" и ещё {more}")
        } else {
            String::new()
        };
        text.push_str(&format!(
            "• {}: {} ({}{})\n",
            kind.title_ru(),
            count,
            named.join(", "),
            tail
        ));
    }
    if !report.incomplete_days.is_empty() {
        let days: Vec<String> = report
            .incomplete_days
            .iter()
            .map(|d| d.format("%d.%m.%Y").to_string())
            .collect();
        text.push_str(&format!(
            "iiko не ответил за: {} (эти дни не проверены)\n",
            days.join(", ")
        ));
    }
    text.push_str("Подробно: iiko-bridge reconcile --last");
    Some(text)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::*;

    fn report(discrepancies: Vec<Discrepancy>, incomplete: Vec<NaiveDate>) -> BranchReport {
        let day = "2026-12-04".parse().unwrap();
        BranchReport {
            branch: "lenina".into(),
            from: day,
            to: day,
            bridge_orders: 10,
            iiko_orders: 9,
            discrepancies,
            incomplete_days: incomplete,
            iiko_calls: 2,
        }
    }

    fn missing(order: &str) -> Discrepancy {
        Discrepancy {
            kind: Kind::MissingInIiko,
            order_id: Some(order.into()),
            iiko_order_id: None,
            manual_match: None,
            detail: String::new(),
        }
    }

    #[test]
    fn a_clean_report_says_nothing_and_a_summary_counts_kinds_and_names_the_first_orders() {
        assert_eq!(summary_html(&report(vec![], vec![]), "Ленина"), None);
        let many: Vec<Discrepancy> = (1..=7).map(|n| missing(&format!("W-{n}"))).collect();
        let text = summary_html(&report(many, vec![]), "Ленина").unwrap();
        assert!(text.contains("04.12.2026"), "{text}");
        assert!(
            text.contains("нет в iiko: 7 (№W-1, №W-2, №W-3, №W-4, №W-5 и ещё 2)"),
            "{text}"
        );
        let day = "2026-12-04".parse().unwrap();
        let incomplete = summary_html(&report(vec![], vec![day]), "Ленина").unwrap();
        assert!(
            incomplete.contains("iiko не ответил за: 04.12.2026"),
            "{incomplete}"
        );
    }

    #[test]
    fn the_report_json_has_the_contracts_shape() {
        let json = serde_json::to_value(report(vec![missing("W-1")], vec![])).unwrap();
        assert_eq!(
            json,
            json!({"branch": "lenina", "from": "2026-12-04", "to": "2026-12-04",
                   "bridge_orders": 10, "iiko_orders": 9,
                   "discrepancies": [{"kind": "missing_in_iiko", "order_id": "W-1", "detail": ""}]})
        );
    }

    #[test]
    fn a_stored_order_is_read_for_its_day_phone_and_what_the_site_charged() {
        let tz: Tz = "Europe/Moscow".parse().unwrap();
        let order = StoredOrder {
            raw_body: json!({
                "id": "W-1", "number": "1001", "deliver_at": "2026-12-04T20:50:00Z",
                "customer": {"phone": "+7 (999) 000-00-01"}, "total": 990.5, "bonus": {"amount": 100},
            })
            .to_string(),
            attempts: 1,
            create_sent: true,
            iiko_status: Some("Closed".into()),
            created_at: 1_000,
            updated_at: 1_000,
            ..StoredOrder::sample("W-1", OrderState::Created)
        };
        let read = bridge_order(&order, tz);
        assert_eq!(read.number, "1001");
        assert_eq!(read.phone, "+79990000001");
        assert_eq!(read.charged, dec!(1090.5));
        // 23:50 in Moscow.
        assert_eq!(read.day, "2026-12-04".parse::<NaiveDate>().unwrap());
        assert!(!read.asap);
        assert_eq!(read.iiko_ids, [Uuid::from_u128(1)]);
    }
}
