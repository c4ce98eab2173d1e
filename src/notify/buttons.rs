//! The callback data of the operator bot's inline buttons: what the fallback messages and the
//! operator alerts carry, and what the bot (`src/bot/`) reads back from a press. Telegram
//! allows at most 64 bytes.
use super::telegram::Button;

/// Telegram's limit on a button's callback data.
pub const MAX_DATA_BYTES: usize = 64;

/// What a button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackData {
    /// `resolve:<order id>`: staff entered the order by hand.
    Resolve(i64),
    /// `retry:<order id>`: send it to iiko again now.
    Retry(i64),
    /// `mute:<watch>:<branch>`: no more `watch` alerts (`iiko`, `terminal`) for the branch for
    /// an hour.
    Mute { watch: String, branch: String },
}

impl CallbackData {
    pub fn encode(&self) -> String {
        match self {
            CallbackData::Resolve(id) => format!("resolve:{id}"),
            CallbackData::Retry(id) => format!("retry:{id}"),
            CallbackData::Mute { watch, branch } => format!("mute:{watch}:{branch}"),
        }
    }

    /// `None` for data the bridge did not make (another bot's, a forged client's, too long).
    pub fn parse(data: &str) -> Option<CallbackData> {
        if data.len() > MAX_DATA_BYTES {
            return None;
        }
        let (kind, rest) = data.split_once(':')?;
        let id = || rest.parse::<i64>().ok().filter(|id| *id > 0);
        match kind {
            "resolve" => id().map(CallbackData::Resolve),
            "retry" => id().map(CallbackData::Retry),
            "mute" => {
                let (watch, branch) = rest.split_once(':')?;
                let known = matches!(watch, "iiko" | "terminal");
                (known && !branch.is_empty()).then(|| CallbackData::Mute {
                    watch: watch.to_owned(),
                    branch: branch.to_owned(),
                })
            }
            _ => None,
        }
    }

    /// The button, or `None` when its data would not fit (a very long branch key).
    pub fn button(&self, text: &str) -> Option<Button> {
        let data = self.encode();
        (data.len() <= MAX_DATA_BYTES).then(|| Button {
            text: text.to_owned(),
            data,
        })
    }
}

/// The buttons of a fallback message about the bridge's order `order_id`.
pub fn fallback_buttons(order_id: i64) -> Vec<Button> {
    [
        (CallbackData::Resolve(order_id), "Введён вручную"),
        (CallbackData::Retry(order_id), "Отправить в iiko снова"),
    ]
    .iter()
    .filter_map(|(data, text)| data.button(text))
    .collect()
}

/// The button under an alert about `watch` of `branch`.
pub fn mute_button(watch: &str, branch: &str) -> Option<Button> {
    let data = CallbackData::Mute {
        watch: watch.to_owned(),
        branch: branch.to_owned(),
    };
    data.button("Не сообщать час")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_of_every_button_reads_back_and_fits_in_64_bytes() {
        let buttons = fallback_buttons(i64::MAX);
        assert_eq!(buttons.len(), 2);
        for button in &buttons {
            assert!(button.data.len() <= MAX_DATA_BYTES, "{}", button.data);
        }
        assert_eq!(
            CallbackData::parse(&buttons[0].data),
            Some(CallbackData::Resolve(i64::MAX))
        );
        assert_eq!(
            CallbackData::parse(&buttons[1].data),
            Some(CallbackData::Retry(i64::MAX))
        );
        let mute = mute_button("iiko", "moscow-center").unwrap();
        assert_eq!(
            CallbackData::parse(&mute.data),
            Some(CallbackData::Mute {
                watch: "iiko".into(),
                branch: "moscow-center".into()
            })
        );
        assert_eq!(mute_button("iiko", &"x".repeat(60)), None);
    }

    #[test]
    fn foreign_or_malformed_data_is_not_the_bridges() {
        for data in [
            "",
            "resolve",
            "resolve:",
            "resolve:abc",
            "resolve:-1",
            "resolve:0",
            "retry:1:2",
            "delete:5",
            "mute:iiko:",
            "mute:smtp:main",
            "mute:iiko",
            &format!("resolve:{}", "1".repeat(70)),
        ] {
            assert_eq!(CallbackData::parse(data), None, "{data:?}");
        }
    }
}
