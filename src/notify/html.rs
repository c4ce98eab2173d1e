//! Telegram's HTML parse mode: escaping and splitting long messages.
//!
//! Telegram accepts at most 4096 characters per message, counted in UTF-16 code units after
//! the markup is parsed. We measure the raw HTML, which is never shorter, so every part fits.

/// Telegram's limit on one message's text.
pub const MESSAGE_LIMIT: usize = 4096;

/// Escapes text for Telegram HTML: only `<`, `>` and `&` are special there.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` escaped and in bold.
pub fn bold(text: &str) -> String {
    format!("<b>{}</b>", escape(text))
}

/// `text` escaped and in a monospace span (easy to copy from).
pub fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// Splits HTML into parts of at most `limit` UTF-16 units, each valid on its own.
///
/// Cuts at the last line break outside any tag when there is one; otherwise cuts anywhere
/// outside a tag or entity, closing the open tags and reopening them in the next part.
pub fn split_html(html: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    let mut open: Vec<Tag> = Vec::new();
    // Byte offset and length just after the last top-level line break in `current`.
    let mut line_break: Option<(usize, usize)> = None;

    for token in tokens(html) {
        let token_len = utf16_len(token);
        while current_len > 0 && current_len + token_len + closing_len(&open) > limit {
            match line_break.take() {
                Some((at, len)) => {
                    // Telegram refuses blank messages.
                    let part = current[..at].trim_end();
                    if !part.is_empty() {
                        parts.push(part.to_owned());
                    }
                    current.drain(..at);
                    current_len -= len;
                }
                None => {
                    current.extend(open.iter().rev().map(Tag::closing));
                    parts.push(std::mem::take(&mut current));
                    current.extend(open.iter().map(|tag| tag.opening.as_str()));
                    current_len = utf16_len(&current);
                    break;
                }
            }
        }
        current.push_str(token);
        current_len += token_len;
        match Tag::parse(token) {
            Some(TagToken::Open(tag)) => open.push(tag),
            Some(TagToken::Close(name)) => {
                if let Some(at) = open.iter().rposition(|tag| tag.name == name) {
                    open.truncate(at);
                }
            }
            None if token == "\n" && open.is_empty() => {
                line_break = Some((current.len(), current_len));
            }
            None => {}
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim_end().to_owned());
    }
    parts
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

fn closing_len(open: &[Tag]) -> usize {
    open.iter().map(|tag| tag.name.len() + 3).sum()
}

/// Tags (`<...>`), entities (`&...;`) and single characters: the places a cut may fall between.
fn tokens(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let end = match first {
            '<' => rest.find('>').map_or(rest.len(), |i| i + 1),
            '&' => rest.find(';').filter(|&i| i <= 10).map_or(1, |i| i + 1),
            c => c.len_utf8(),
        };
        let (token, tail) = rest.split_at(end);
        rest = tail;
        Some(token)
    })
}

struct Tag {
    name: String,
    opening: String,
}

enum TagToken {
    Open(Tag),
    Close(String),
}

impl Tag {
    fn parse(token: &str) -> Option<TagToken> {
        let inner = token.strip_prefix('<')?.strip_suffix('>')?;
        let name_of = |s: &str| {
            s.split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        Some(match inner.strip_prefix('/') {
            Some(closing) => TagToken::Close(name_of(closing)),
            None => TagToken::Open(Tag {
                name: name_of(inner),
                opening: token.to_owned(),
            }),
        })
    }

    fn closing(&self) -> String {
        format!("</{}>", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_only_safe_text() {
        assert_eq!(
            escape("<b>Tom & Jerry</b>"),
            "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"
        );
    }

    #[test]
    fn a_short_message_is_one_part() {
        assert_eq!(
            split_html("<b>Заказ</b>\nok", 4096),
            vec!["<b>Заказ</b>\nok"]
        );
    }

    #[test]
    fn long_text_is_cut_at_line_breaks_within_the_limit() {
        let line = "Борщ × 2 = 700,00 ₽";
        let html = vec![line; 400].join("\n");
        let parts = split_html(&html, MESSAGE_LIMIT);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(utf16_len(part) <= MESSAGE_LIMIT);
            assert!(
                part.split('\n').all(|l| l == line),
                "a line was cut: {part:?}"
            );
        }
        assert_eq!(parts.join("\n"), html);
    }

    #[test]
    fn a_cut_inside_a_tag_closes_and_reopens_it() {
        let html = format!("<b>{}</b>", "я".repeat(30));
        let parts = split_html(&html, 20);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(utf16_len(part) <= 20, "{part:?}");
            assert!(
                part.starts_with("<b>") && part.ends_with("</b>"),
                "{part:?}"
            );
        }
        let text: String = parts
            .iter()
            .map(|p| p.replace("<b>", "").replace("</b>", ""))
            .collect();
        assert_eq!(text, "я".repeat(30));
    }

    #[test]
    fn blank_lines_never_make_a_blank_part() {
        let html = format!("{}{}", "\n".repeat(30), "слово\n".repeat(10));
        let parts = split_html(&html, 12);
        assert!(parts.len() > 1);
        assert!(
            parts.iter().all(|part| !part.trim().is_empty()),
            "{parts:?}"
        );
    }

    #[test]
    fn entities_are_never_cut() {
        let html = "&amp;".repeat(10);
        for part in split_html(&html, 7) {
            assert_eq!(part.replace("&amp;", ""), "", "{part:?}");
        }
    }
}
