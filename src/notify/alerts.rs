//! Operator alerts in Telegram, one per change of state rather than one per failed order:
//! iiko not answering for a branch, a terminal group going offline, and their recovery; and
//! the claims that make each alert recorded in the store go out once across instances.
use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use super::{Telegram, buttons::mute_button, html, telegram::Button};
use crate::config::{BranchConfig, TelegramConfig};
use crate::store::{AlertClaim, Store, StoreError};

/// How long a claim on one kind of alert holds; its holder starts no alert after
/// [`ALERT_WORK`], so the one under way (a message to each operator chat) fits in the rest.
const ALERT_LEASE: Duration = Duration::from_secs(10 * 60);
const ALERT_WORK: Duration = Duration::from_secs(5 * 60);

/// The operator alerts recorded in the store (an undelivered fallback, a late creation, dead
/// events, a gone events URL), claimed per kind before they are read and sent: with several
/// instances one sends a kind at a time, marks what it sent, then releases, so the next one
/// reads the marks. A claim, not a conditional mark before sending: a process that dies
/// mid-send leaves its claim to run out, and another instance sends what it had not marked
/// (at least once; a lost alert would be worse than a repeated one).
#[derive(Clone)]
pub struct AlertClaims {
    store: Store,
    claimer: String,
}

/// One kind of alert claimed: send while [`AlertTurn::time_left`], then release.
#[derive(Debug)]
pub struct AlertTurn {
    claim: AlertClaim,
    started: Instant,
}

impl AlertTurn {
    /// Whether another alert may start under this claim.
    pub fn time_left(&self) -> bool {
        self.started.elapsed() < ALERT_WORK
    }
}

impl AlertClaims {
    /// Claims under an id of their own (one per worker).
    pub fn new(store: Store) -> AlertClaims {
        AlertClaims {
            store,
            claimer: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Claims `kind` at `now`; `None` while another instance sends it.
    pub async fn claim(
        &self,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertTurn>, StoreError> {
        let expires = now + chrono::Duration::from_std(ALERT_LEASE).expect("a short lease");
        let claim = self
            .store
            .claim_alerts(
                kind,
                &self.claimer,
                now.timestamp_millis(),
                expires.timestamp_millis(),
            )
            .await?;
        Ok(claim.map(|claim| AlertTurn {
            claim,
            started: Instant::now(),
        }))
    }

    /// Gives the kind back, once what was sent is marked.
    pub async fn release(&self, turn: AlertTurn) -> Result<(), StoreError> {
        self.store.release_alerts(&turn.claim).await
    }
}

/// Consecutive iiko failures for a branch before operators hear of it: one timeout is noise.
pub const IIKO_FAILURES_BEFORE_ALERT: u32 = 3;
/// Failed store checks in a row before operators are told (a moment's lock is no outage).
pub const STORE_FAILURES_BEFORE_ALERT: u32 = 3;

/// The operators' chats and the bot that writes to them.
#[derive(Debug, Clone)]
pub struct OperatorChats {
    telegram: Option<Telegram>,
    chats: Vec<i64>,
}

impl OperatorChats {
    pub fn new(telegram: Option<Telegram>, chats: Vec<i64>) -> OperatorChats {
        OperatorChats { telegram, chats }
    }

    /// `telegram.operator_chats` through the configured bot.
    pub fn from_config(config: &TelegramConfig) -> OperatorChats {
        OperatorChats::new(Telegram::from_config(config), config.operator_chats.clone())
    }

    /// Sends `text` (Telegram HTML) to every operator chat. `true` when at least one chat got
    /// it, or when there is nobody to tell (logged): only then is the alert done with.
    pub async fn send(&self, text: &str) -> bool {
        self.send_with_buttons(text, &[]).await
    }

    /// [`OperatorChats::send`] with a row of inline `buttons` (none: a plain message).
    pub async fn send_with_buttons(&self, text: &str, buttons: &[Button]) -> bool {
        let Some(telegram) = self.telegram.as_ref().filter(|_| !self.chats.is_empty()) else {
            tracing::error!(
                alert = text,
                "no operator chats configured: alert only logged"
            );
            return true;
        };
        let mut delivered = false;
        for &chat in &self.chats {
            let sent = match buttons.is_empty() {
                true => telegram.send_html(chat, text).await,
                false => telegram
                    .send_html_with_buttons(chat, text, buttons)
                    .await
                    .map(|_| ()),
            };
            match sent {
                Ok(()) => delivered = true,
                Err(error) => tracing::warn!(chat, %error, "operator alert not delivered"),
            }
        }
        delivered
    }
}

/// What a branch's state turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Down,
    Up,
}

/// The kinds of trouble tracked per branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Watch {
    Iiko,
    Terminal,
    /// The store itself (tracked under an empty branch key).
    Store,
}

impl Watch {
    fn as_str(self) -> &'static str {
        match self {
            Watch::Iiko => "iiko",
            Watch::Terminal => "terminal",
            Watch::Store => "store",
        }
    }
}

#[derive(Debug, Default)]
struct Track {
    failures: u32,
    /// Operators were told it is down (and not yet that it is back).
    alerted: bool,
    /// A transition's message is being sent: others wait for its outcome.
    sending: bool,
}

/// The hysteresis, without any I/O: after `threshold` consecutive failures one `Down`, then
/// nothing until a success, then one `Up`. A transition counts only once its message is
/// confirmed sent, so an alert lost to a Telegram outage is tried again on the next call.
#[derive(Debug, Default)]
pub struct AlertBook {
    tracks: HashMap<(String, Watch), Track>,
}

impl AlertBook {
    /// Records one observation; `Some` when operators should now be told.
    pub fn observe(
        &mut self,
        branch: &str,
        watch: Watch,
        ok: bool,
        threshold: u32,
    ) -> Option<Transition> {
        let track = self.tracks.entry((branch.to_owned(), watch)).or_default();
        let transition = if ok {
            track.failures = 0;
            track.alerted.then_some(Transition::Up)
        } else {
            track.failures = track.failures.saturating_add(1);
            (!track.alerted && track.failures >= threshold).then_some(Transition::Down)
        };
        // Concurrent callers must not send the same transition twice.
        let transition = transition.filter(|_| !track.sending);
        track.sending |= transition.is_some();
        transition
    }

    /// The outcome of sending `transition`'s message.
    pub fn confirm(&mut self, branch: &str, watch: Watch, transition: Transition, sent: bool) {
        if let Some(track) = self.tracks.get_mut(&(branch.to_owned(), watch)) {
            track.sending = false;
            if sent {
                track.alerted = transition == Transition::Down;
            }
        }
    }
}

/// Tells operators when iiko stops answering for a branch or a terminal group goes offline,
/// and when it recovers: once per change, never once per order.
pub struct OperatorAlerter {
    chats: OperatorChats,
    book: Mutex<AlertBook>,
    /// Where instances sharing a store record what operators were last told, so that of
    /// several seeing the same change one tells them (see [`Store::flip_alert_state`]).
    shared: Option<Store>,
    /// What this instance has seen working since it started.
    seen_ok: Mutex<HashSet<(String, Watch)>>,
}

impl OperatorAlerter {
    /// Alerts of this process alone (the store watch: each instance watches its own way to
    /// the store).
    pub fn new(chats: OperatorChats) -> OperatorAlerter {
        OperatorAlerter {
            chats,
            book: Mutex::default(),
            shared: None,
            seen_ok: Mutex::default(),
        }
    }

    /// Alerts shared through `store` with every instance on it.
    pub fn shared(chats: OperatorChats, store: Store) -> OperatorAlerter {
        OperatorAlerter {
            shared: Some(store),
            ..OperatorAlerter::new(chats)
        }
    }

    /// Records the outcome of one call to iiko for `branch`; `error` is shown in the alert.
    /// Awaits Telegram only on a change of state.
    pub async fn record_iiko_result(&self, branch: &BranchConfig, ok: bool, error: Option<&str>) {
        let text = |transition| match transition {
            Transition::Down => format!(
                "🔴 <b>iiko не отвечает для филиала {}</b> (после {} неудачных попыток подряд): {}\nЗаказы, которые iiko не примет, уйдут персоналу по e-mail и в Telegram.",
                html::escape(&branch.name),
                IIKO_FAILURES_BEFORE_ALERT,
                html::escape(error.unwrap_or("причина неизвестна")),
            ),
            Transition::Up => format!(
                "🟢 <b>iiko снова работает для филиала {}</b>",
                html::escape(&branch.name)
            ),
        };
        self.observe(
            &branch.key,
            Watch::Iiko,
            ok,
            IIKO_FAILURES_BEFORE_ALERT,
            text,
        )
        .await;
    }

    /// The branch's terminal group is not alive (iiko cannot pass orders to iikoFront).
    pub async fn terminal_offline(&self, branch: &BranchConfig) {
        self.terminal(branch, false).await;
    }

    /// The branch's terminal group is alive again.
    pub async fn terminal_back(&self, branch: &BranchConfig) {
        self.terminal(branch, true).await;
    }

    async fn terminal(&self, branch: &BranchConfig, alive: bool) {
        let name = html::escape(&branch.name);
        // iiko's own "alive" check has already waited: the first "not alive" is news.
        self.observe(&branch.key, Watch::Terminal, alive, 1, |transition| match transition {
            Transition::Down => format!(
                "🔴 <b>Касса филиала {name} не на связи</b>: iiko не может передать заказы в iikoFront. Проверьте терминал."
            ),
            Transition::Up => format!("🟢 <b>Касса филиала {name} снова на связи</b>"),
        })
        .await;
    }

    /// Records one check of the store; `error` is shown in the alert.
    pub async fn record_store_result(&self, ok: bool, error: Option<&str>) {
        let text = |transition| match transition {
            Transition::Down => format!(
                "🔴 <b>Хранилище iiko-bridge недоступно</b> (после {STORE_FAILURES_BEFORE_ALERT} неудачных проверок подряд): {}\nНовые заказы сайт получит с ответом 503 и отправит повторно; принятые заказы не потеряны.",
                html::escape(error.unwrap_or("причина неизвестна")),
            ),
            Transition::Up => "🟢 <b>Хранилище iiko-bridge снова доступно</b>".to_owned(),
        };
        self.observe("", Watch::Store, ok, STORE_FAILURES_BEFORE_ALERT, text)
            .await;
    }

    async fn observe(
        &self,
        key: &str,
        watch: Watch,
        ok: bool,
        threshold: u32,
        text: impl FnOnce(Transition) -> String,
    ) {
        let transition = self.book().observe(key, watch, ok, threshold);
        if let Some(transition) = transition {
            let sent = match self.told_elsewhere(key, watch, transition).await {
                true => true,
                false => self.send(key, watch, &text(transition)).await,
            };
            self.book().confirm(key, watch, transition, sent);
        } else if ok && self.first_ok(key, watch) {
            // An instance that died may have told the operators it was down: whoever first
            // sees it working again says so.
            if !self.told_elsewhere(key, watch, Transition::Up).await {
                self.send(key, watch, &text(Transition::Up)).await;
            }
        }
    }

    /// Sends a branch's alert with the bot's "Не сообщать час" button, unless an operator muted
    /// this alert of this branch (then it is only logged, and counts as told). Mutes live in
    /// the shared store; an alerter without one (the store watch) sends plain messages.
    async fn send(&self, key: &str, watch: Watch, text: &str) -> bool {
        let Some(store) = self.shared.as_ref().filter(|_| watch != Watch::Store) else {
            return self.chats.send(text).await;
        };
        let now = Utc::now().timestamp_millis();
        match store.alert_muted(key, watch.as_str(), now).await {
            Ok(true) => {
                tracing::info!(
                    branch = key,
                    watch = watch.as_str(),
                    alert = text,
                    "operator alert muted from the bot: only logged"
                );
                return true;
            }
            Ok(false) => {}
            // A mute that cannot be read does not silence an alert.
            Err(error) => tracing::warn!(%error, "alert mutes not read; the alert is sent"),
        }
        let buttons: Vec<Button> = mute_button(watch.as_str(), key).into_iter().collect();
        self.chats.send_with_buttons(text, &buttons).await
    }

    /// Whether another instance has already told the operators of `transition` (recorded in
    /// the shared store); otherwise records that this one does. A store that cannot answer
    /// counts as not told: a repeated alert beats a lost one.
    async fn told_elsewhere(&self, key: &str, watch: Watch, transition: Transition) -> bool {
        let Some(store) = &self.shared else {
            return false;
        };
        let down = transition == Transition::Down;
        let now = Utc::now().timestamp_millis();
        match store.flip_alert_state(key, watch.as_str(), down, now).await {
            Ok(changed) => !changed,
            Err(error) => {
                tracing::warn!(%error, "the shared alert state could not be read");
                false
            }
        }
    }

    /// True the first time this instance sees `key`'s `watch` working (shared alerts only).
    fn first_ok(&self, key: &str, watch: Watch) -> bool {
        self.shared.is_some()
            && self
                .seen_ok
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert((key.to_owned(), watch))
    }

    fn book(&self) -> std::sync::MutexGuard<'_, AlertBook> {
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe_all(book: &mut AlertBook, outcomes: &[bool]) -> Vec<Transition> {
        outcomes
            .iter()
            .filter_map(|&ok| {
                let transition = book.observe("lenina", Watch::Iiko, ok, 3)?;
                book.confirm("lenina", Watch::Iiko, transition, true);
                Some(transition)
            })
            .collect()
    }

    #[test]
    fn three_failures_alert_once_and_a_success_recovers_once() {
        let mut book = AlertBook::default();
        let transitions = observe_all(
            &mut book,
            &[false, false, false, false, false, false, true, true],
        );
        assert_eq!(transitions, [Transition::Down, Transition::Up]);
    }

    #[test]
    fn failures_broken_by_a_success_never_alert() {
        let mut book = AlertBook::default();
        let transitions = observe_all(&mut book, &[false, false, true, false, false, true]);
        assert_eq!(transitions, []);
    }

    #[test]
    fn an_alert_that_was_not_sent_is_tried_again_on_the_next_failure() {
        let mut book = AlertBook::default();
        for _ in 0..2 {
            assert_eq!(book.observe("lenina", Watch::Iiko, false, 3), None);
        }
        let down = book.observe("lenina", Watch::Iiko, false, 3);
        assert_eq!(down, Some(Transition::Down));
        book.confirm("lenina", Watch::Iiko, Transition::Down, false);
        assert_eq!(
            book.observe("lenina", Watch::Iiko, false, 3),
            Some(Transition::Down)
        );
    }

    #[test]
    fn a_transition_being_sent_is_not_handed_out_twice() {
        let mut book = AlertBook::default();
        assert_eq!(
            book.observe("lenina", Watch::Terminal, false, 1),
            Some(Transition::Down)
        );
        assert_eq!(book.observe("lenina", Watch::Terminal, false, 1), None);
    }

    #[test]
    fn branches_and_watches_are_tracked_apart() {
        let mut book = AlertBook::default();
        assert_eq!(
            book.observe("lenina", Watch::Terminal, false, 1),
            Some(Transition::Down)
        );
        assert_eq!(
            book.observe("mira", Watch::Terminal, false, 1),
            Some(Transition::Down)
        );
        assert_eq!(
            book.observe("lenina", Watch::Iiko, false, 1),
            Some(Transition::Down)
        );
    }

    #[test]
    fn a_recovery_without_an_earlier_alert_says_nothing() {
        let mut book = AlertBook::default();
        assert_eq!(book.observe("lenina", Watch::Terminal, true, 1), None);
    }
}
