//! Reading iiko's side: a branch's deliveries with the bridge's source key, one local day at a
//! time (iiko guarantees only the last 7 days, so days are the natural unit) and paged, and the
//! orders of a phone. Transient failures are retried; what still fails is the caller's
//! "incomplete".
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::compare::IikoOrder;
use super::period::next;
use crate::iiko::types::deliveries::{
    CreationStatus, DeliveriesByDateAndFilterRequest, DeliveriesByDateAndPhoneRequest,
    DeliveriesWithRevisionResponse, OrderInfo, OrderSortProperty, SortDirection,
};
use crate::iiko::{IikoClient, IikoDateTime, IikoError};

/// Orders per answer. iiko documents no maximum for `rowsCount`; 500 keeps an answer of full
/// orders around a megabyte and a busy day to a handful of calls.
pub const PAGE_ROWS: usize = 500;
/// iiko dates an "as soon as possible" order by its own estimate, hours after acceptance: the
/// last day's query reaches this far into the next day, and the bridge's orders are read this
/// far before the period, so such orders are recognised on both edges.
pub const ASAP_SLACK: chrono::Duration = chrono::Duration::hours(3);

/// What one branch's reading needs.
pub struct Source<'a> {
    pub iiko: &'a IikoClient,
    pub organization_id: Uuid,
    pub source_key: &'a str,
    pub tz: Tz,
    /// The pauses before each retry of a call that failed transiently (5xx, 429, no answer).
    pub retry_waits: &'a [Duration],
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Iiko(#[from] IikoError),
    /// More orders than a page share one delivery time: paging by time cannot pass them.
    #[error("more than {PAGE_ROWS} orders share the delivery time {0}")]
    Stuck(IikoDateTime),
}

impl Source<'_> {
    /// The deliveries with the bridge's key dated on `day` (and, for the period's last day, up
    /// to [`ASAP_SLACK`] into the next); `calls` counts iiko calls made.
    pub async fn day(
        &self,
        day: NaiveDate,
        last: bool,
        calls: &mut usize,
    ) -> Result<Vec<IikoOrder>, FetchError> {
        let start = day.and_time(NaiveTime::MIN);
        let until = match last {
            true => next(day).and_time(NaiveTime::MIN) + ASAP_SLACK,
            false => next(day).and_time(NaiveTime::MIN) - chrono::Duration::milliseconds(1),
        };
        let mut found: HashMap<Uuid, OrderInfo> = HashMap::new();
        let mut cursor = IikoDateTime(start);
        loop {
            let request = DeliveriesByDateAndFilterRequest {
                organization_ids: vec![self.organization_id],
                delivery_date_from: Some(cursor),
                delivery_date_to: Some(IikoDateTime(until)),
                sort_property: Some(OrderSortProperty::CompleteBefore),
                sort_direction: Some(SortDirection::Ascending),
                rows_count: Some(PAGE_ROWS as i32),
                source_keys: Some(vec![self.source_key.to_owned()]),
                ..Default::default()
            };
            let page = self
                .retried(calls, || {
                    self.iiko
                        .deliveries_by_delivery_date_and_source_key_and_filter(&request)
                })
                .await?;
            let orders = organization_orders(page, self.organization_id);
            let full = orders.len() >= PAGE_ROWS;
            let last_date = orders
                .iter()
                .filter_map(|o| o.order.as_ref()?.complete_before)
                .max();
            found.extend(orders.into_iter().map(|o| (o.id, o)));
            if !full {
                break;
            }
            // The next page starts at the last time read (inclusive): orders at that time
            // come again and are counted once.
            match last_date {
                Some(date) if date > cursor => cursor = date,
                _ => return Err(FetchError::Stuck(cursor)),
            }
        }
        Ok(found
            .into_values()
            .filter_map(|o| iiko_order(o, self.tz))
            .collect())
    }

    /// Every order with `phone` dated from `from` to the end of `to` (plus the slack).
    pub async fn phone(
        &self,
        phone: &str,
        from: NaiveDate,
        to: NaiveDate,
        calls: &mut usize,
    ) -> Result<Vec<IikoOrder>, FetchError> {
        let request = DeliveriesByDateAndPhoneRequest {
            organization_ids: vec![self.organization_id],
            phone: phone.to_owned(),
            delivery_date_from: Some(IikoDateTime(from.and_time(NaiveTime::MIN))),
            delivery_date_to: Some(IikoDateTime(next(to).and_time(NaiveTime::MIN) + ASAP_SLACK)),
            source_keys: None,
            rows_count: None,
        };
        let answer = self
            .retried(calls, || {
                self.iiko.deliveries_by_delivery_date_and_phone(&request)
            })
            .await?;
        Ok(organization_orders(answer, self.organization_id)
            .into_iter()
            .filter_map(|o| iiko_order(o, self.tz))
            .collect())
    }

    async fn retried<T, F, Fut>(&self, calls: &mut usize, mut call: F) -> Result<T, IikoError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, IikoError>>,
    {
        let mut failures = 0;
        loop {
            *calls += 1;
            match call().await {
                Ok(answer) => return Ok(answer),
                Err(error) if error.is_transient() && failures < self.retry_waits.len() => {
                    tracing::debug!(%error, "iiko failed during reconciliation; retrying");
                    tokio::time::sleep(self.retry_waits[failures]).await;
                    failures += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn organization_orders(
    answer: DeliveriesWithRevisionResponse,
    organization: Uuid,
) -> Vec<OrderInfo> {
    answer
        .orders_by_organizations
        .into_iter()
        .filter(|o| o.organization_id == organization)
        .flat_map(|o| o.orders)
        .collect()
}

/// A created delivery as reconciliation reads it; others are not orders the kitchen has.
fn iiko_order(info: OrderInfo, tz: Tz) -> Option<IikoOrder> {
    if info.creation_status != CreationStatus::Success {
        return None;
    }
    let order = info.order?;
    let created_at = order.when_created.and_then(|at| local_instant(at.0, tz));
    let dated = order.complete_before.or(order.when_created)?;
    Some(IikoOrder {
        id: info.id,
        number: order.number,
        external_number: info.external_number,
        source_key: order.source_key,
        status: order.status.as_str().to_owned(),
        sum: order.sum,
        phone: order.phone,
        day: dated.0.date(),
        created_at,
    })
}

fn local_instant(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}
