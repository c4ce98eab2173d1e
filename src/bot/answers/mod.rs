//! The read-only commands' answers (`/orders`, `/order`, `/undelivered`, `/health`,
//! `/stoplist`, `/help`): read from the store, written in Russian as Telegram HTML pages, each
//! within [`html::MESSAGE_LIMIT`](crate::notify::html::MESSAGE_LIMIT). The bot's core sends
//! them; this module only reads, so an answer can never change an order.
mod health;
mod render;

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::Config;
use crate::menu::CatalogCache;
use crate::notify::html::escape;
use crate::orders::{FindError, find_order};
use crate::store::{OrderState, Store, StoreError, StoredOrder};

use render::Place;

/// How many orders `/orders` lists; the rest are counted ("и ещё N").
const ORDERS_SHOWN: usize = 30;

/// Writes the answers; cheap to clone.
#[derive(Clone)]
pub struct Answers {
    store: Store,
    config: Arc<Config>,
    catalogs: CatalogCache,
}

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The command was given wrongly: the text (Russian, HTML) says how to give it.
    #[error("{0}")]
    Usage(String),
    /// What the command names does not exist: the text (Russian, HTML) says so.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AnswerError {
    /// What to tell the operator (Russian, HTML): the store's trouble in general words only.
    pub fn to_operator(&self) -> String {
        match self {
            AnswerError::Usage(text) | AnswerError::NotFound(text) => text.clone(),
            AnswerError::Store(_) => {
                "⚠️ Хранилище iiko-bridge сейчас не отвечает, попробуйте позже.".to_owned()
            }
        }
    }
}

/// `/order`'s answer, with what the bot needs to add the order's buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderAnswer {
    pub pages: Vec<String>,
    /// The bridge's own id of the order.
    pub order_id: i64,
    /// The order is in the fallback: the resolve and retry buttons apply.
    pub in_fallback: bool,
}

/// `/orders`' argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// What needs someone: orders with the staff and orders iiko keeps refusing.
    Attention,
    Fallback,
    Retrying,
    Today,
}

impl Filter {
    fn parse(text: Option<&str>) -> Result<Filter, AnswerError> {
        match text.map(|t| t.trim().to_lowercase()).as_deref() {
            None | Some("") => Ok(Filter::Attention),
            Some("fallback") => Ok(Filter::Fallback),
            Some("retrying") => Ok(Filter::Retrying),
            Some("today") => Ok(Filter::Today),
            Some(other) => Err(AnswerError::Usage(format!(
                "Не понимаю «{}». Можно: /orders, /orders fallback, /orders retrying, /orders today",
                escape(other)
            ))),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Filter::Attention => "Требуют внимания (у персонала и на повторной отправке)",
            Filter::Fallback => "У персонала (iiko не принял)",
            Filter::Retrying => "На повторной отправке в iiko",
            Filter::Today => "Заказы за сегодня",
        }
    }

    fn states(self) -> &'static [OrderState] {
        match self {
            Filter::Attention => &[OrderState::Fallback, OrderState::Retrying],
            Filter::Fallback => &[OrderState::Fallback],
            Filter::Retrying => &[OrderState::Retrying],
            Filter::Today => &[],
        }
    }
}

impl Answers {
    pub fn new(store: Store, config: Arc<Config>) -> Answers {
        Answers {
            catalogs: CatalogCache::new(store.clone()),
            store,
            config,
        }
    }

    /// `/orders [fallback|retrying|today]`: one line per order, newest first.
    pub async fn orders(
        &self,
        filter: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<String>, AnswerError> {
        let filter = Filter::parse(filter)?;
        let (mut orders, total) = match filter {
            Filter::Today => self.today(now_ms).await?,
            _ => self.in_states(filter.states()).await?,
        };
        orders.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
        orders.truncate(ORDERS_SHOWN);
        let lines = orders
            .iter()
            .map(|order| render::order_line(order, &self.place(&order.branch), now_ms))
            .collect();
        Ok(render::order_list(filter.title(), lines, total))
    }

    /// The newest orders in `states`, and how many there are in all.
    async fn in_states(
        &self,
        states: &[OrderState],
    ) -> Result<(Vec<StoredOrder>, usize), AnswerError> {
        let mut orders = Vec::new();
        for &state in states {
            let limit = ORDERS_SHOWN as i64;
            orders.extend(self.store.list_orders(Some(state), None, limit).await?);
        }
        let total = self
            .store
            .open_order_counts()
            .await?
            .iter()
            .filter(|count| states.contains(&count.state))
            .map(|count| count.count)
            .sum::<i64>();
        Ok((orders, usize::try_from(total).unwrap_or(0)))
    }

    /// Each branch's orders since its own midnight, and how many there are in all.
    async fn today(&self, now_ms: i64) -> Result<(Vec<StoredOrder>, usize), AnswerError> {
        let mut orders = Vec::new();
        let mut total = 0;
        for branch in &self.config.branches {
            let since = local_midnight(now_ms, branch.timezone);
            let limit = ORDERS_SHOWN as i64;
            orders.extend(
                self.store
                    .orders_created_since(&branch.key, since, limit)
                    .await?,
            );
            total += self
                .store
                .count_orders_created_since(&branch.key, since)
                .await?;
        }
        Ok((orders, usize::try_from(total).unwrap_or(0)))
    }

    /// `/order ID [branch]`: the order as `iiko-bridge orders show` finds it (a site id, or
    /// `#N`, the bridge's own id).
    pub async fn order(&self, id: &str, branch: Option<&str>) -> Result<OrderAnswer, AnswerError> {
        let order = self.find(id, branch).await?;
        let deliveries = self
            .store
            .fallback_deliveries(&order.branch, &order.site_id)
            .await?;
        let history = self.store.order_history(order.id).await?;
        let place = self.place(&order.branch);
        let pages = render::order_detail(&order, &place, &deliveries, &history);
        Ok(OrderAnswer {
            pages,
            order_id: order.id,
            in_fallback: order.state == OrderState::Fallback,
        })
    }

    /// The one order `id` names (as `/order` takes it), refused in Russian: for `/retry` and
    /// `/resolve` too.
    pub async fn find(&self, id: &str, branch: Option<&str>) -> Result<StoredOrder, AnswerError> {
        let id = id.trim();
        if id.is_empty() {
            return Err(AnswerError::Usage(
                "Укажите заказ: номер на сайте или #N, номер в мосте. Например: /order 12345"
                    .to_owned(),
            ));
        }
        let branch = branch.map(|b| self.branch_key(b)).transpose()?;
        find_order(&self.store, id, branch)
            .await
            .map_err(|error| match error {
                FindError::Store(error) => AnswerError::Store(error),
                FindError::NotFound(id) => {
                    AnswerError::NotFound(format!("Заказ «{}» не найден.", escape(&id)))
                }
                FindError::InSeveralBranches { id, branches } => AnswerError::Usage(format!(
                    "Заказ «{id}» есть в нескольких филиалах ({}): укажите филиал, например /order {id} {}",
                    escape(&branches.join(", ")),
                    escape(&branches[0]),
                    id = escape(&id),
                )),
            })
    }

    /// `/undelivered`: fallback orders that have reached staff on no channel.
    pub async fn undelivered(&self) -> Result<Vec<String>, AnswerError> {
        let orders = self.store.undelivered_fallbacks().await?;
        let placed: Vec<_> = orders
            .into_iter()
            .map(|order| {
                let place = self.place(&order.branch);
                (order, place)
            })
            .collect();
        Ok(render::undelivered(&placed))
    }

    /// `/health`: per branch, iiko and the terminal as operators were last told, the menu,
    /// the queues.
    pub async fn health(&self, now_ms: i64) -> Result<Vec<String>, AnswerError> {
        let mut of_branch = health::gather(&self.store).await?;
        let branches: Vec<_> = self
            .config
            .branches
            .iter()
            .map(|branch| {
                let health = of_branch.remove(&branch.key).unwrap_or_default();
                (self.place(&branch.key), health)
            })
            .collect();
        Ok(render::health(&branches, now_ms))
    }

    /// `/stoplist [branch]`: what each branch's current catalog has off sale.
    pub async fn stoplist(&self, branch: Option<&str>) -> Result<Vec<String>, AnswerError> {
        let keys: Vec<String> = match branch {
            Some(branch) => vec![self.branch_key(branch)?.to_owned()],
            None => self.config.branches.iter().map(|b| b.key.clone()).collect(),
        };
        let mut blocks = Vec::new();
        for key in &keys {
            let catalog = self.catalogs.current(key).await?;
            blocks.push(render::stop_list(&self.place(key), catalog.as_deref()));
        }
        if blocks.is_empty() {
            blocks.push("Филиалы не настроены.".to_owned());
        }
        Ok(render::paginate(blocks, "\n\n"))
    }

    /// `/help`: every command.
    pub fn help() -> String {
        render::help()
    }

    /// The configured branch `text` names (its key, in any case).
    fn branch_key(&self, text: &str) -> Result<&str, AnswerError> {
        let text = text.trim();
        self.config
            .branches
            .iter()
            .find(|b| b.key.eq_ignore_ascii_case(text))
            .map(|b| b.key.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .config
                    .branches
                    .iter()
                    .map(|b| b.key.as_str())
                    .collect();
                AnswerError::NotFound(format!(
                    "Филиала «{}» нет. Филиалы: {}",
                    escape(text),
                    escape(&known.join(", "))
                ))
            })
    }

    /// How a branch is shown; one no longer configured by its key, in UTC.
    fn place(&self, key: &str) -> Place {
        match self.config.branch(key) {
            Some(branch) => Place {
                key: branch.key.clone(),
                name: branch.name.clone(),
                tz: branch.timezone,
            },
            None => Place {
                key: key.to_owned(),
                name: key.to_owned(),
                tz: Tz::UTC,
            },
        }
    }
}

/// The start of the day `now_ms` falls in, in `tz`, as milliseconds.
fn local_midnight(now_ms: i64, tz: Tz) -> i64 {
    let now = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let day = now.with_timezone(&tz).date_naive();
    // A day may start at 01:00 where clocks move at midnight: the earliest valid time counts.
    tz.from_local_datetime(&day.and_time(NaiveTime::MIN))
        .earliest()
        .unwrap_or_else(|| now.with_timezone(&tz))
        .with_timezone(&Utc)
        .timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_starts_at_the_branch_midnight() {
        // 2026-12-05 01:30 UTC: already the 5th in Novosibirsk (UTC+7), still the 4th nowhere.
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 1, 30, 0).unwrap();
        let midnight = |tz| {
            DateTime::from_timestamp_millis(local_midnight(now.timestamp_millis(), tz)).unwrap()
        };
        assert_eq!(
            midnight(Tz::UTC),
            Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap()
        );
        assert_eq!(
            midnight(Tz::Asia__Novosibirsk),
            Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap()
        );
        // 22:30 on the 4th in New York (UTC-5): its day began at 05:00 UTC on the 4th.
        assert_eq!(
            midnight(Tz::America__New_York),
            Utc.with_ymd_and_hms(2026, 12, 4, 5, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_filter_is_one_of_three_words_and_a_stranger_is_told_which() {
        assert_eq!(Filter::parse(None).unwrap(), Filter::Attention);
        assert_eq!(Filter::parse(Some(" Fallback ")).unwrap(), Filter::Fallback);
        assert_eq!(Filter::parse(Some("today")).unwrap(), Filter::Today);
        match Filter::parse(Some("<b>")) {
            Err(AnswerError::Usage(text)) => assert!(text.starts_with("Не понимаю «&lt;b&gt;»")),
            other => panic!("{other:?}"),
        }
    }

    /// The bot's handlers run on spawned tasks: every answer must be `Send`.
    #[allow(dead_code)]
    fn answers_can_be_awaited_on_any_thread(answers: Answers) {
        fn send<T: Send + 'static>(_: T) {}
        send(answers.clone());
        send(async move {
            let _ = answers.orders(None, 0).await;
            let _ = answers.order("1", None).await;
            let _ = answers.find("1", None).await;
            let _ = answers.undelivered().await;
            let _ = answers.health(0).await;
            let _ = answers.stoplist(None).await;
        });
    }

    #[test]
    fn a_store_failure_is_told_to_the_operator_without_its_details() {
        let error = AnswerError::Store(StoreError::Corrupt("postgres://u:secret@h".into()));
        assert!(!error.to_operator().contains("secret"));
        assert_eq!(AnswerError::Usage("x".into()).to_operator(), "x");
    }
}
