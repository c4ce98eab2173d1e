//! The bot's commands (typed by teloxide's `BotCommands`, registered with `setMyCommands`) and
//! the reading of their arguments.
use teloxide::utils::command::{BotCommands, ParseError};

/// Each command takes the rest of its line; [`order_ref`] reads an `ID [branch]` out of it.
#[derive(BotCommands, Debug, Clone, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    #[command(description = "заказы: fallback, retrying или today")]
    Orders(String),
    #[command(description = "заказ: /order ID [филиал]")]
    Order(String),
    #[command(description = "отправить заказ в iiko снова: /retry ID [филиал]")]
    Retry(String),
    #[command(description = "заказ введён вручную: /resolve ID [филиал]")]
    Resolve(String),
    #[command(description = "заказы, не дошедшие до персонала")]
    Undelivered,
    #[command(description = "состояние филиалов и очередей")]
    Health,
    #[command(description = "стоп-лист: /stoplist [филиал]")]
    Stoplist(String),
    #[command(description = "список команд")]
    Help,
    /// Telegram sends it when a user first opens the bot.
    #[command(hide)]
    Start,
}

/// What a message that looks like a command says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Command(Command),
    /// A command addressed to another bot in a group (`/cmd@other_bot`): not ours.
    NotOurs,
    /// A command the bot does not have.
    Unknown,
    /// One of ours whose arguments cannot be read.
    BadArguments,
    /// Not a command at all.
    Text,
}

/// Reads `text` as sent to the bot `username`.
pub fn parse(text: &str, username: &str) -> Parsed {
    if !text.starts_with('/') {
        return Parsed::Text;
    }
    match Command::parse(text, username) {
        Ok(command) => Parsed::Command(command),
        Err(ParseError::WrongBotName(_)) => Parsed::NotOurs,
        Err(ParseError::UnknownCommand(_)) => Parsed::Unknown,
        Err(_) => Parsed::BadArguments,
    }
}

/// An order as `orders retry|resolve` take it: the site's id, and the branch when the id is in
/// several. `None` when there is no id or more than two words.
pub fn order_ref(arguments: &str) -> Option<(&str, Option<&str>)> {
    let mut words = arguments.split_whitespace();
    let id = words.next()?;
    let branch = words.next();
    words.next().is_none().then_some((id, branch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_with_their_arguments_and_addressed_to_this_bot_only() {
        let bot = "bridge_bot";
        assert_eq!(
            parse("/resolve 1042 center", bot),
            Parsed::Command(Command::Resolve("1042 center".into()))
        );
        assert_eq!(
            parse("/retry@bridge_bot 7", bot),
            Parsed::Command(Command::Retry("7".into()))
        );
        assert_eq!(parse("/health", bot), Parsed::Command(Command::Health));
        // Words after a command that takes none are let be.
        assert_eq!(parse("/health now", bot), Parsed::Command(Command::Health));
        assert_eq!(parse("/retry@other_bot 7", bot), Parsed::NotOurs);
        assert_eq!(parse("/delete 7", bot), Parsed::Unknown);
        assert_eq!(parse("hello", bot), Parsed::Text);
    }

    #[test]
    fn an_order_is_an_id_and_an_optional_branch() {
        assert_eq!(order_ref("1042"), Some(("1042", None)));
        assert_eq!(order_ref(" 1042  center "), Some(("1042", Some("center"))));
        assert_eq!(order_ref(""), None);
        assert_eq!(order_ref("1 2 3"), None);
    }

    #[test]
    fn the_registered_commands_leave_out_the_hidden_start() {
        let names: Vec<String> = Command::bot_commands()
            .into_iter()
            .map(|c| c.command)
            .collect();
        assert!(
            names.iter().any(|n| n == "/resolve" || n == "resolve"),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.ends_with("start")), "{names:?}");
    }
}
