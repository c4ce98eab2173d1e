//! Who the operator bot serves, decided from the update alone: only the Telegram user ids in
//! `telegram.operator_users` act or see details; anyone else is refused without learning
//! anything; chats the bot does not serve (channels, groups not configured) are ignored.
use std::collections::HashSet;

use crate::config::Config;

/// What kind of chat an update came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Private,
    Group,
    Channel,
}

/// What the bot does with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An operator: act and answer.
    Serve,
    /// Someone else: a short refusal, nothing done, nothing shown.
    Refuse,
    /// Not the bot's business (a channel, a group it does not serve, a message with no
    /// sender): logged, not answered.
    Ignore,
}

/// The operators and the group chats the bot serves.
#[derive(Debug, Clone, Default)]
pub struct Access {
    operators: HashSet<i64>,
    groups: HashSet<i64>,
}

impl Access {
    pub fn new(
        operators: impl IntoIterator<Item = i64>,
        groups: impl IntoIterator<Item = i64>,
    ) -> Access {
        Access {
            operators: operators.into_iter().collect(),
            groups: groups.into_iter().collect(),
        }
    }

    /// `telegram.operator_users`; the groups are the operator chats and every branch's
    /// fallback chats.
    pub fn from_config(config: &Config) -> Access {
        let fallback_chats = config
            .branches
            .iter()
            .flat_map(|branch| branch.fallback.telegram_chats.iter().copied());
        Access::new(
            config.telegram.operator_users.iter().copied(),
            config
                .telegram
                .operator_chats
                .iter()
                .copied()
                .chain(fallback_chats),
        )
    }

    pub fn is_operator(&self, user_id: i64) -> bool {
        self.operators.contains(&user_id)
    }

    /// A message (a command, text) in `chat_id` from `user` (`None`: no sender, as in a
    /// channel post or a message sent on behalf of a chat).
    pub fn message(&self, kind: ChatKind, chat_id: i64, user: Option<i64>) -> Verdict {
        let served = match kind {
            ChatKind::Private => true,
            ChatKind::Group => self.groups.contains(&chat_id),
            ChatKind::Channel => false,
        };
        match user {
            _ if !served => Verdict::Ignore,
            None => Verdict::Ignore,
            Some(user) if self.is_operator(user) => Verdict::Serve,
            Some(_) => Verdict::Refuse,
        }
    }

    /// A press of one of the bot's buttons by `user`, wherever the message is: a stranger's
    /// is answered (Telegram shows the answer to the presser alone) with a refusal.
    pub fn press(&self, user: i64) -> Verdict {
        match self.is_operator(user) {
            true => Verdict::Serve,
            false => Verdict::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR: i64 = 42;
    const STRANGER: i64 = 7;
    const KITCHEN: i64 = -100;

    fn access() -> Access {
        Access::new([OPERATOR], [KITCHEN])
    }

    #[test]
    fn operators_are_served_in_private_and_in_the_groups_the_bot_serves() {
        let access = access();
        assert_eq!(
            access.message(ChatKind::Private, OPERATOR, Some(OPERATOR)),
            Verdict::Serve
        );
        assert_eq!(
            access.message(ChatKind::Group, KITCHEN, Some(OPERATOR)),
            Verdict::Serve
        );
        assert_eq!(access.press(OPERATOR), Verdict::Serve);
    }

    #[test]
    fn strangers_are_refused_wherever_the_bot_answers() {
        let access = access();
        assert_eq!(
            access.message(ChatKind::Private, STRANGER, Some(STRANGER)),
            Verdict::Refuse
        );
        assert_eq!(
            access.message(ChatKind::Group, KITCHEN, Some(STRANGER)),
            Verdict::Refuse
        );
        assert_eq!(access.press(STRANGER), Verdict::Refuse);
    }

    #[test]
    fn channels_foreign_groups_and_senderless_messages_are_ignored_even_for_operators() {
        let access = access();
        assert_eq!(
            access.message(ChatKind::Channel, KITCHEN, None),
            Verdict::Ignore
        );
        assert_eq!(
            access.message(ChatKind::Channel, -5, Some(OPERATOR)),
            Verdict::Ignore
        );
        assert_eq!(
            access.message(ChatKind::Group, -5, Some(OPERATOR)),
            Verdict::Ignore
        );
        assert_eq!(
            access.message(ChatKind::Group, KITCHEN, None),
            Verdict::Ignore
        );
    }

    #[test]
    fn nobody_is_an_operator_when_none_is_configured() {
        let access = Access::new([], [KITCHEN]);
        assert_eq!(access.press(OPERATOR), Verdict::Refuse);
        assert_eq!(
            access.message(ChatKind::Private, OPERATOR, Some(OPERATOR)),
            Verdict::Refuse
        );
    }
}
