//! The answers' text, pure: values in, Telegram HTML out (Russian, every stored value escaped,
//! times in the branch's own zone), and the paging that keeps each message within Telegram's
//! limit.
use chrono::DateTime;
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::fallback::rubles;
use crate::menu::{Catalog, Finding, IntegrityReport, ItemRef};
use crate::notify::html::{self, bold, code, escape};
use crate::store::{
    DeliveryState, FallbackChannel, FallbackDelivery, HistoryEntry, OrderState, StoredOrder,
    UndeliveredFallback,
};

/// A branch as the operators know it: its name and its clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub key: String,
    pub name: String,
    pub tz: Tz,
}

impl Place {
    /// `Ленина`, or the key alone when the name says nothing more.
    fn title(&self) -> String {
        if self.name == self.key || self.name.is_empty() {
            escape(&self.key)
        } else {
            escape(&self.name)
        }
    }
}

/// Stored texts from outside (iiko's errors, reasons) are cut to this many characters: one
/// iiko stack trace must not fill the answer.
const TEXT_SHOWN: usize = 300;
/// `/order` shows this many of the order's newest history entries.
const HISTORY_SHOWN: usize = 5;

/// Joins `blocks` (each valid HTML on its own) with `separator` into as few messages as fit
/// [`html::MESSAGE_LIMIT`]; a block never shares a cut with another, and a block longer than a
/// message is split at its own line breaks ([`html::split_html`]).
pub fn paginate(blocks: impl IntoIterator<Item = String>, separator: &str) -> Vec<String> {
    paginate_within(blocks, separator, html::MESSAGE_LIMIT)
}

fn paginate_within(
    blocks: impl IntoIterator<Item = String>,
    separator: &str,
    limit: usize,
) -> Vec<String> {
    let mut pages = Vec::new();
    let mut page = String::new();
    for block in blocks {
        let pieces = match utf16_len(&block) > limit {
            true => html::split_html(&block, limit),
            false => vec![block],
        };
        for piece in pieces {
            if !page.is_empty()
                && utf16_len(&page) + utf16_len(separator) + utf16_len(&piece) > limit
            {
                pages.push(std::mem::take(&mut page));
            }
            if !page.is_empty() {
                page.push_str(separator);
            }
            page.push_str(&piece);
        }
    }
    if !page.trim().is_empty() {
        pages.push(page);
    }
    pages
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `05.12 14:03` in the branch's zone.
pub fn local_time(ms: i64, tz: Tz) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |at| at.with_timezone(&tz).format("%d.%m %H:%M").to_string(),
    )
}

/// How long ago: `40 с`, `12 мин`, `3 ч 5 мин`, `2 дн 4 ч` (abbreviations need no plural).
pub fn age(since_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - since_ms).max(0) / 1000;
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match () {
        _ if minutes == 0 => format!("{seconds} с"),
        _ if hours == 0 => format!("{minutes} мин"),
        _ if days == 0 => format!("{hours} ч {} мин", minutes % 60),
        _ => format!("{days} дн {} ч", hours % 24),
    }
}

/// The order's state as staff say it.
pub fn state_name(state: OrderState) -> &'static str {
    match state {
        OrderState::Queued => "⏳ в очереди в iiko",
        OrderState::Sending => "📤 отправляется в iiko",
        OrderState::Retrying => "🔁 повторная отправка в iiko",
        OrderState::Created => "✅ создан в iiko",
        OrderState::Fallback => "🟠 у персонала (iiko не принял)",
        OrderState::Resolved => "✍️ введён вручную",
        OrderState::Cancelled => "❌ отменён",
    }
}

/// `text` cut to [`TEXT_SHOWN`] characters (with `…`), then escaped.
fn shown(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(TEXT_SHOWN) {
        Some((at, _)) => format!("{}…", escape(&text[..at])),
        None => escape(text),
    }
}

/// The total the site sent with the order (`total`), if its body says.
pub fn site_total(raw_body: &str) -> Option<Decimal> {
    let body: serde_json::Value = serde_json::from_str(raw_body).ok()?;
    match body.get("total")? {
        serde_json::Value::Number(n) => n.to_string().parse().ok(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One `/orders` line.
pub fn order_line(order: &StoredOrder, place: &Place, now_ms: i64) -> String {
    let mut line = format!(
        "<code>#{}</code> · {} · {} · {} · {}",
        order.id,
        code(&order.site_id),
        place.title(),
        state_name(order.state),
        age(order.created_at, now_ms),
    );
    if let Some(total) = site_total(&order.raw_body) {
        line.push_str(&format!(" · {}", escape(&rubles(total))));
    }
    line
}

/// `/orders`: a heading, one line per order (newest first) and how many more there are.
pub fn order_list(title: &str, lines: Vec<String>, total: usize) -> Vec<String> {
    let shown = lines.len();
    let mut blocks = vec![format!("{}: {total}", bold(title))];
    if lines.is_empty() {
        blocks.push("Таких заказов нет.".to_owned());
    }
    blocks.extend(lines);
    if total > shown {
        blocks.push(format!("…и ещё {}", total - shown));
    }
    paginate(blocks, "\n")
}

/// `/order`: everything operators need to decide what to do with one order.
pub fn order_detail(
    order: &StoredOrder,
    place: &Place,
    deliveries: &[FallbackDelivery],
    history: &[HistoryEntry],
) -> Vec<String> {
    let tz = place.tz;
    let mut lines = vec![
        format!(
            "<b>Заказ {}</b> · {} · в мосте <code>#{}</code>",
            escape(&order.site_id),
            place.title(),
            order.id
        ),
        format!("Состояние: {}", state_name(order.state)),
    ];
    if let Some(reason) = order
        .fallback_reason
        .as_deref()
        .filter(|_| matches!(order.state, OrderState::Fallback | OrderState::Resolved))
    {
        lines.push(format!("Причина: {}", shown(reason)));
    }
    lines.push(format!(
        "Статус на сайте: {}",
        order.site_status.as_deref().map_or("—".to_owned(), shown)
    ));
    let mut iiko = match order.iiko_number {
        Some(number) => format!("iiko: заказ № {number}"),
        None => "iiko: номера нет".to_owned(),
    };
    if let Some(status) = &order.iiko_status {
        iiko.push_str(&format!(", статус {}", shown(status)));
    }
    if let Some(creation) = &order.creation_status {
        iiko.push_str(&format!(", создание: {}", shown(creation)));
    }
    lines.push(iiko);
    lines.push(format!("Попыток отправки в iiko: {}", order.attempts));
    if order.error_code.is_some() || order.error_message.is_some() {
        let error = [order.error_code.as_deref(), order.error_message.as_deref()]
            .into_iter()
            .flatten()
            .map(shown)
            .collect::<Vec<_>>()
            .join(": ");
        lines.push(format!("Последняя ошибка iiko: {error}"));
    }
    if order.state == OrderState::Fallback && order.unclear_until.is_some() {
        lines.push(
            "⚠️ iiko мог получить заказ (ответ на последнюю попытку неясен): проверьте в iikoFront, прежде чем вводить вручную"
                .to_owned(),
        );
    }
    if let Some(late) = order.late_created_at {
        lines.push(format!(
            "⚠️ iiko всё же создал заказ {}: проверьте, не введён ли он дважды",
            local_time(late, tz)
        ));
    }
    if let Some(reason) = &order.cancel_reason {
        lines.push(format!("Причина отмены: {}", shown(reason)));
    }
    lines.push(format!(
        "Создан {}, изменён {}",
        local_time(order.created_at, tz),
        local_time(order.updated_at, tz)
    ));
    if let Some(total) = site_total(&order.raw_body) {
        lines.push(format!("Сумма: {}", escape(&rubles(total))));
    }
    let mut blocks = vec![lines.join("\n")];
    if !deliveries.is_empty() {
        let delivered = deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Delivered)
            .count();
        let mut copies = vec![format!(
            "<b>Копии персоналу</b>: дошли {delivered} из {}",
            deliveries.len()
        )];
        copies.extend(deliveries.iter().map(|d| delivery_line(d, tz)));
        blocks.push(copies.join("\n"));
    }
    if !history.is_empty() {
        let skipped = history.len().saturating_sub(HISTORY_SHOWN);
        let mut lines = vec![format!(
            "<b>История</b> (последние {}):",
            history.len() - skipped
        )];
        lines.extend(history[skipped..].iter().map(|entry| {
            let what = [
                entry.state.as_deref(),
                entry.status.as_deref(),
                entry.note.as_deref(),
            ]
            .into_iter()
            .flatten()
            .map(shown)
            .collect::<Vec<_>>()
            .join(", ");
            format!("• {} {what}", local_time(entry.at_ms, tz))
        }));
        blocks.push(lines.join("\n"));
    }
    paginate(blocks, "\n\n")
}

/// One channel of an order's fallback: where to, how far it got.
fn delivery_line(delivery: &FallbackDelivery, tz: Tz) -> String {
    let channel = match delivery.channel {
        FallbackChannel::Email => "e-mail",
        FallbackChannel::Telegram => "Telegram",
    };
    let state = match delivery.state {
        DeliveryState::Delivered => match delivery.delivered_at {
            Some(at) => format!("✅ доставлено {}", local_time(at.timestamp_millis(), tz)),
            None => "✅ доставлено".to_owned(),
        },
        DeliveryState::Pending if delivery.attempts == 0 => "⏳ ждёт отправки".to_owned(),
        DeliveryState::Pending => format!(
            "⏳ не доставлено, следующая попытка {}",
            local_time(delivery.next_attempt_at.timestamp_millis(), tz)
        ),
        DeliveryState::FailedPermanently => "🔴 не доставлено (больше не пробуем)".to_owned(),
    };
    let mut line = format!(
        "• {channel} {}: {state}, попыток {}",
        code(&delivery.recipient),
        delivery.attempts
    );
    if let Some(error) = &delivery.last_error {
        line.push_str(&format!(", ошибка: {}", shown(error)));
    }
    line
}

/// `/undelivered`: every fallback order no channel has got through to staff.
pub fn undelivered(orders: &[(UndeliveredFallback, Place)]) -> Vec<String> {
    if orders.is_empty() {
        return vec!["✅ Все заказы у персонала дошли хотя бы по одному каналу.".to_owned()];
    }
    let mut blocks = vec![format!(
        "{}: {}",
        bold("Заказы, не дошедшие до персонала"),
        orders.len()
    )];
    for (order, place) in orders {
        let mut lines = vec![
            format!(
                "<b>Заказ {}</b> · {} · с {}",
                escape(&order.number),
                place.title(),
                local_time(order.created_at.timestamp_millis(), place.tz)
            ),
            format!("Причина: {}", shown(&order.reason)),
        ];
        if order.number != order.order_id {
            lines.push(format!("Номер на сайте: {}", code(&order.order_id)));
        }
        if let Some(at) = order.alerted_at {
            lines.push(format!(
                "Операторам сообщено {}",
                local_time(at.timestamp_millis(), place.tz)
            ));
        }
        match order.deliveries.is_empty() {
            true => lines.push("• получателей нет: у филиала не настроены e-mail и чаты".into()),
            false => lines.extend(order.deliveries.iter().map(|d| delivery_line(d, place.tz))),
        }
        blocks.push(lines.join("\n"));
    }
    paginate(blocks, "\n\n")
}

/// What `/health` knows of one branch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BranchHealth {
    /// iiko not answering for the branch, as operators were last told: `(down, since)`;
    /// `None` when it never failed.
    pub iiko: Option<(bool, i64)>,
    /// The same for the branch's terminal group.
    pub terminal: Option<(bool, i64)>,
    /// When the current catalog was stored, with its report; `None` before the first sync.
    pub menu: Option<(i64, IntegrityReport)>,
    pub queued: i64,
    pub sending: i64,
    pub retrying: i64,
    pub fallback: i64,
    /// Fallback orders that have reached staff on no channel.
    pub undelivered: i64,
    pub pending_events: i64,
    /// `created_at` of the oldest order waiting for iiko (queued, sending, retrying).
    pub oldest_waiting: Option<i64>,
    /// `created_at` of the oldest order with the staff.
    pub oldest_fallback: Option<i64>,
}

/// `/health`: one block per branch.
pub fn health(branches: &[(Place, BranchHealth)], now_ms: i64) -> Vec<String> {
    let mut blocks = vec![format!(
        "{}\nХранилище: ✅ отвечает",
        bold("Состояние iiko-bridge")
    )];
    if branches.is_empty() {
        blocks.push("Филиалы не настроены.".to_owned());
    }
    for (place, health) in branches {
        blocks.push(branch_health(place, health, now_ms));
    }
    paginate(blocks, "\n\n")
}

fn branch_health(place: &Place, health: &BranchHealth, now_ms: i64) -> String {
    let tz = place.tz;
    let watch = |what: &str, state: Option<(bool, i64)>, up: &str, down: &str| match state {
        None => format!("{what}: ✅ {up}, сбоев не было"),
        Some((false, since)) => format!("{what}: ✅ {up} (снова с {})", local_time(since, tz)),
        Some((true, since)) => format!(
            "{what}: 🔴 {down} с {} ({})",
            local_time(since, tz),
            age(since, now_ms)
        ),
    };
    let mut lines = vec![
        format!("<b>{}</b> ({})", place.title(), code(&place.key)),
        watch("iiko", health.iiko, "отвечает", "не отвечает"),
        watch("Касса", health.terminal, "на связи", "не на связи"),
        match &health.menu {
            None => "Меню: ⚠️ ещё ни разу не синхронизировано".to_owned(),
            Some((at, report)) => format!(
                "Меню: от {} ({} назад), {}",
                local_time(*at, tz),
                age(*at, now_ms),
                menu_problems(report)
            ),
        },
        format!(
            "Очереди: в очереди {} · отправляются {} · повтор {} · у персонала {} · не дошли до персонала {} · события для сайта {}",
            health.queued,
            health.sending,
            health.retrying,
            health.fallback,
            health.undelivered,
            health.pending_events
        ),
    ];
    lines.push(match health.oldest_waiting {
        Some(at) => format!(
            "Дольше всех ждёт iiko заказ от {}",
            age_phrase(at, now_ms, tz)
        ),
        None => "iiko никто не ждёт".to_owned(),
    });
    if let Some(at) = health.oldest_fallback {
        lines.push(format!(
            "Дольше всех у персонала заказ от {}",
            age_phrase(at, now_ms, tz)
        ));
    }
    lines.join("\n")
}

/// `14:03 (12 мин)`.
fn age_phrase(at: i64, now_ms: i64, tz: Tz) -> String {
    format!("{} ({})", local_time(at, tz), age(at, now_ms))
}

/// How many articles problems of each kind a sync reported, naming the first few.
fn menu_problems(report: &IntegrityReport) -> String {
    const NAMED: usize = 5;
    let mut duplicates = Vec::new();
    let mut missing = Vec::new();
    let mut other = 0;
    for problem in report.problems() {
        match problem {
            Finding::DuplicateArticle { article, .. } => duplicates.push(code(article)),
            Finding::MissingArticle { item } => missing.push(escape(item_name(item))),
            _ => other += 1,
        }
    }
    if duplicates.is_empty() && missing.is_empty() && other == 0 {
        return "✅ артикулы в порядке".to_owned();
    }
    let named = |items: &[String]| {
        let mut text = items
            .iter()
            .take(NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if items.len() > NAMED {
            text.push_str(", …");
        }
        text
    };
    let mut parts = Vec::new();
    if !duplicates.is_empty() {
        parts.push(format!(
            "дубли артикулов: {} ({})",
            duplicates.len(),
            named(&duplicates)
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "без артикула: {} ({})",
            missing.len(),
            named(&missing)
        ));
    }
    if other > 0 {
        parts.push(format!("другие проблемы: {other}"));
    }
    format!("⚠️ {} (подробно: iiko-bridge menu check)", parts.join("; "))
}

fn item_name(item: &ItemRef) -> &str {
    match item {
        ItemRef::Product { name, .. }
        | ItemRef::Modifier { name, .. }
        | ItemRef::ModifierGroup { name, .. } => name,
        ItemRef::Size { product, .. } => product,
    }
}

/// `/stoplist` of one branch: what its current catalog says cannot be sold now.
pub fn stop_list(place: &Place, catalog: Option<&Catalog>) -> String {
    let title = format!("<b>Стоп-лист: {}</b>", place.title());
    let Some(catalog) = catalog else {
        return format!("{title}\nМеню ещё ни разу не синхронизировано.");
    };
    let mut lines = vec![format!(
        "{title} (по меню от {})",
        local_time(catalog.synced_at.timestamp_millis(), place.tz)
    )];
    for product in &catalog.products {
        if !product.available {
            lines.push(format!(
                "• {} {}: весь",
                code(&product.article),
                escape(&product.name)
            ));
            continue;
        }
        for size in product.sizes.iter().filter(|size| !size.available) {
            let article = size.article.as_deref().unwrap_or(&product.article);
            lines.push(format!(
                "• {} {}, размер «{}»",
                code(article),
                escape(&product.name),
                escape(size.name.as_deref().unwrap_or("—"))
            ));
        }
    }
    if lines.len() == 1 {
        lines.push("✅ Пусто: всё в продаже.".to_owned());
    }
    lines.join("\n")
}

/// `/help`.
pub fn help() -> String {
    [
        "<b>Команды бота iiko-bridge</b>",
        "/orders — заказы, требующие внимания: у персонала и на повторной отправке в iiko",
        "/orders fallback — заказы у персонала (iiko их не принял)",
        "/orders retrying — заказы на повторной отправке в iiko",
        "/orders today — все заказы за сегодня",
        "/order ID [филиал] — заказ подробно; ID — номер заказа на сайте или #N, номер в мосте; филиал — если номер есть в нескольких",
        "/retry ID — отправить заказ в iiko снова",
        "/resolve ID — отметить, что заказ введён вручную",
        "/undelivered — заказы, не дошедшие до персонала ни по одному каналу",
        "/health — по филиалам: iiko, касса, меню, очереди",
        "/stoplist [филиал] — что сейчас в стоп-листе",
        "/help — эта справка",
        "Время везде местное для филиала.",
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rust_decimal_macros::dec;
    use uuid::Uuid;

    use super::*;
    use crate::menu::{MenuFormat, Product, Size};

    /// 2026-12-05 10:00:00 UTC.
    const NOON_MS: i64 = 1_796_464_800_000;

    fn place(tz: Tz) -> Place {
        Place {
            key: "lenina".into(),
            name: "Ленина & Ко".into(),
            tz,
        }
    }

    fn order(site_id: &str, state: OrderState) -> StoredOrder {
        StoredOrder {
            id: 17,
            raw_body: r#"{"total": 1150.5}"#.into(),
            iiko_order_id: Uuid::nil().to_string(),
            fallback_reason: Some("iiko <down>".into()),
            attempts: 5,
            next_attempt_at: NOON_MS,
            create_sent: true,
            error_code: Some("500".into()),
            error_message: Some("<html>".repeat(200)),
            created_at: NOON_MS - 3_600_000,
            updated_at: NOON_MS,
            ..StoredOrder::sample(site_id, state)
        }
    }

    fn units(text: &str) -> usize {
        utf16_len(text)
    }

    #[test]
    fn stored_text_is_escaped_and_a_long_iiko_error_is_cut() {
        let pages = order_detail(
            &order("<A&1>", OrderState::Fallback),
            &place(Tz::Europe__Moscow),
            &[],
            &[],
        );
        assert_eq!(pages.len(), 1);
        let text = &pages[0];
        assert!(
            text.starts_with(
                "<b>Заказ &lt;A&amp;1&gt;</b> · Ленина &amp; Ко · в мосте <code>#17</code>"
            ),
            "{text}"
        );
        assert!(text.contains("Причина: iiko &lt;down&gt;"), "{text}");
        assert!(!text.contains("<html>"), "{text}");
        let error = text
            .lines()
            .find(|l| l.starts_with("Последняя ошибка iiko"))
            .unwrap();
        assert!(error.ends_with("…"), "{error}");
        assert_eq!(
            error.matches("&lt;html&gt;").count(),
            TEXT_SHOWN / "<html>".len()
        );
        assert!(text.contains("Сумма: 1150,50 ₽"), "{text}");
    }

    #[test]
    fn an_order_shows_its_newest_history_and_warns_when_iiko_may_have_it() {
        let mut unclear = order("A1", OrderState::Fallback);
        unclear.unclear_until = Some(NOON_MS);
        let history: Vec<HistoryEntry> = (0..7)
            .map(|n| HistoryEntry {
                at_ms: NOON_MS + n * 60_000,
                state: Some("retrying".into()),
                status: None,
                note: Some(format!("attempt {n} <failed>")),
            })
            .collect();
        let text = order_detail(&unclear, &place(Tz::UTC), &[], &history).join("\n");
        assert!(text.contains("⚠️ iiko мог получить заказ"), "{text}");
        assert!(
            text.contains(
                "<b>История</b> (последние 5):\n• 05.12 10:02 retrying, attempt 2 &lt;failed&gt;"
            ),
            "{text}"
        );
        assert!(!text.contains("attempt 1 "), "{text}");
        assert!(
            text.ends_with("• 05.12 10:06 retrying, attempt 6 &lt;failed&gt;"),
            "{text}"
        );
    }

    #[test]
    fn times_are_shown_on_the_branch_clock() {
        assert_eq!(local_time(NOON_MS, Tz::Europe__Moscow), "05.12 13:00");
        assert_eq!(local_time(NOON_MS, Tz::Asia__Novosibirsk), "05.12 17:00");
        let detail = order_detail(
            &order("A1", OrderState::Queued),
            &place(Tz::Asia__Novosibirsk),
            &[],
            &[],
        );
        assert!(
            detail[0].contains("Создан 05.12 16:00, изменён 05.12 17:00"),
            "{detail:?}"
        );
    }

    #[test]
    fn ages_read_as_russian_abbreviations() {
        let ago = |seconds: i64| age(NOON_MS - seconds * 1000, NOON_MS);
        assert_eq!(ago(40), "40 с");
        assert_eq!(ago(12 * 60 + 5), "12 мин");
        assert_eq!(ago(3 * 3600 + 5 * 60), "3 ч 5 мин");
        assert_eq!(ago(2 * 86_400 + 4 * 3600), "2 дн 4 ч");
        assert_eq!(ago(-30), "0 с", "a clock running ahead is no negative age");
    }

    #[test]
    fn the_site_total_is_read_from_a_number_or_a_string() {
        assert_eq!(site_total(r#"{"total": 1000}"#), Some(dec!(1000)));
        assert_eq!(site_total(r#"{"total": "99.90"}"#), Some(dec!(99.90)));
        assert_eq!(site_total(r#"{"total": null}"#), None);
        assert_eq!(site_total("not json"), None);
    }

    #[test]
    fn a_huge_list_is_paged_within_the_limit_without_cutting_a_line() {
        let lines: Vec<String> = (0..2000)
            .map(|n| {
                order_line(
                    &order(&format!("ЗАКАЗ-{n}-<x>"), OrderState::Fallback),
                    &place(Tz::UTC),
                    NOON_MS,
                )
            })
            .collect();
        let pages = order_list("Заказы", lines.clone(), 2500);
        assert!(pages.len() > 10, "{}", pages.len());
        for page in &pages {
            assert!(units(page) <= html::MESSAGE_LIMIT, "{}", units(page));
        }
        let shown: Vec<&str> = pages.iter().flat_map(|page| page.split('\n')).collect();
        assert_eq!(shown[0], "<b>Заказы</b>: 2500");
        assert_eq!(
            &shown[1..2001],
            lines.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(shown[2001], "…и ещё 500");
        assert!(
            lines[0].contains("<code>ЗАКАЗ-0-&lt;x&gt;</code>"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_block_longer_than_a_message_is_cut_between_its_lines_and_keeps_its_tags_balanced() {
        let long = format!("<b>{}</b>", "строка\n".repeat(20).trim_end());
        let pages = paginate_within(["<i>коротко</i>".to_owned(), long], "\n\n", 40);
        assert!(pages.len() > 2, "{pages:?}");
        for page in &pages {
            assert!(units(page) <= 40, "{page:?}");
            assert_eq!(
                page.matches("<b>").count(),
                page.matches("</b>").count(),
                "{page:?}"
            );
        }
        assert_eq!(pages[0], "<i>коротко</i>");
    }

    #[test]
    fn health_says_what_is_down_since_when_and_what_the_menu_lacks() {
        let ref_of = |name: &str| ItemRef::Product {
            name: name.into(),
            product_id: Uuid::nil(),
        };
        let report = IntegrityReport {
            branch: "lenina".into(),
            findings: vec![
                Finding::DuplicateArticle {
                    article: "P<1>".into(),
                    items: vec![ref_of("a"), ref_of("b")],
                },
                Finding::MissingArticle {
                    item: ref_of("Кола"),
                },
                Finding::Hidden {
                    article: None,
                    item: ref_of("Скрытое"),
                },
            ],
        };
        let lenina = BranchHealth {
            iiko: Some((true, NOON_MS - 600_000)),
            menu: Some((NOON_MS - 7_200_000, report)),
            queued: 2,
            fallback: 1,
            oldest_waiting: Some(NOON_MS - 300_000),
            oldest_fallback: Some(NOON_MS - 86_400_000),
            ..BranchHealth::default()
        };
        let pages = health(&[(place(Tz::Europe__Moscow), lenina)], NOON_MS);
        let text = pages.join("\n");
        assert!(
            text.contains("<b>Ленина &amp; Ко</b> (<code>lenina</code>)"),
            "{text}"
        );
        assert!(
            text.contains("iiko: 🔴 не отвечает с 05.12 12:50 (10 мин)"),
            "{text}"
        );
        assert!(text.contains("Касса: ✅ на связи, сбоев не было"), "{text}");
        assert!(text.contains("Меню: от 05.12 11:00 (2 ч 0 мин назад), ⚠️ дубли артикулов: 1 (<code>P&lt;1&gt;</code>); без артикула: 1 (Кола)"), "{text}");
        assert!(
            text.contains("в очереди 2 · отправляются 0 · повтор 0 · у персонала 1"),
            "{text}"
        );
        assert!(
            text.contains("Дольше всех ждёт iiko заказ от 05.12 12:55 (5 мин)"),
            "{text}"
        );
        assert!(
            text.contains("Дольше всех у персонала заказ от 04.12 13:00 (1 дн 0 ч)"),
            "{text}"
        );

        let quiet = health(&[(place(Tz::UTC), BranchHealth::default())], NOON_MS).join("\n");
        assert!(
            quiet.contains("Меню: ⚠️ ещё ни разу не синхронизировано"),
            "{quiet}"
        );
        assert!(quiet.contains("iiko никто не ждёт"), "{quiet}");
    }

    #[test]
    fn the_stop_list_names_whole_products_and_single_sizes() {
        let size = |article: Option<&str>, name: &str, available| Size {
            article: article.map(Into::into),
            name: Some(name.into()),
            price: dec!(100),
            default: false,
            available,
            iiko_id: None,
        };
        let product = |article: &str, name: &str, sizes: Vec<Size>| Product {
            article: article.into(),
            name: name.into(),
            description: None,
            group: None,
            hidden: false,
            available: sizes.iter().any(|s| s.available),
            iiko_id: Uuid::nil(),
            sizes,
            modifier_groups: Vec::new(),
        };
        let mut catalog = Catalog {
            branch: "lenina".into(),
            format: MenuFormat::ExternalV2,
            iiko_revision: None,
            synced_at: Utc.timestamp_millis_opt(NOON_MS).unwrap(),
            groups: Vec::new(),
            products: vec![
                product(
                    "PZ-1",
                    "Пицца <острая>",
                    vec![
                        size(Some("PZ-1-25"), "25 см", true),
                        size(None, "30 см", false),
                    ],
                ),
                product("DR-1", "Морс", vec![size(None, "0,5", false)]),
                product("SP-1", "Борщ", vec![size(None, "порция", true)]),
            ],
        };
        let text = stop_list(&place(Tz::Europe__Moscow), Some(&catalog));
        assert_eq!(
            text,
            "<b>Стоп-лист: Ленина &amp; Ко</b> (по меню от 05.12 13:00)\n\
             • <code>PZ-1</code> Пицца &lt;острая&gt;, размер «30 см»\n\
             • <code>DR-1</code> Морс: весь"
        );
        catalog.products.truncate(0);
        let empty = stop_list(&place(Tz::UTC), Some(&catalog));
        assert!(empty.ends_with("✅ Пусто: всё в продаже."), "{empty}");
        let none = stop_list(&place(Tz::UTC), None);
        assert!(
            none.ends_with("Меню ещё ни разу не синхронизировано."),
            "{none}"
        );
    }

    #[test]
    fn help_names_every_command() {
        let text = help();
        for command in [
            "/orders ",
            "/orders fallback",
            "/orders retrying",
            "/orders today",
            "/order ID [филиал]",
            "/retry ID",
            "/resolve ID",
            "/undelivered",
            "/health",
            "/stoplist [филиал]",
            "/help",
        ] {
            assert!(text.contains(command), "{command}: {text}");
        }
        assert!(units(&text) <= html::MESSAGE_LIMIT);
    }
}
