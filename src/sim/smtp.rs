//! An SMTP sink for tests and the demo: a real SMTP server on `127.0.0.1:0` that accepts what
//! lettre sends over plain SMTP, records every mail, and rejects or goes down on request.
//!
//! Written here rather than taken from a crate: the embeddable SMTP servers are thread-based
//! (mailin-embedded) or whole mail servers, while this needs a few commands, switchable
//! rejections and a clean stop inside the tokio runtime the tests already run.
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use mail_parser::MessageParser;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope sender (`MAIL FROM`).
    pub from: String,
    /// Envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, with CRLF line ends.
    pub data: Vec<u8>,
}

impl ReceivedMail {
    /// The decoded `Subject` header.
    pub fn subject(&self) -> Option<String> {
        let message = MessageParser::default().parse(&self.data)?;
        message.subject().map(str::to_owned)
    }

    /// The decoded plain-text body.
    pub fn text(&self) -> Option<String> {
        let message = MessageParser::default().parse(&self.data)?;
        message.body_text(0).map(|body| body.into_owned())
    }

    /// The decoded HTML alternative, when the mail has one.
    pub fn html(&self) -> Option<String> {
        let message = MessageParser::default().parse(&self.data)?;
        message.html_bodies().next()?;
        message.body_html(0).map(|body| body.into_owned())
    }
}

/// How the next transactions are refused, after their data was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// 451: try again later.
    Transient,
    /// 550: never.
    Permanent,
}

impl Rejection {
    fn reply(self) -> &'static str {
        match self {
            Rejection::Transient => "451 4.3.0 Temporarily unable to accept the message\r\n",
            Rejection::Permanent => "550 5.7.1 Message refused\r\n",
        }
    }
}

#[derive(Default)]
struct Sink {
    mails: Vec<ReceivedMail>,
    rejections: Vec<Rejection>,
}

type Shared = Arc<Mutex<Sink>>;

/// A running sink; stops when dropped or on [`SmtpSink::go_down`].
pub struct SmtpSink {
    sink: Shared,
    address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let sink = Shared::default();
        let server = tokio::spawn(accept(listener, sink.clone()));
        Ok(SmtpSink {
            sink,
            address,
            server,
        })
    }

    /// The URL to put in `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every mail accepted so far, oldest first.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        lock(&self.sink).mails.clone()
    }

    /// The next `count` transactions are refused with `rejection`.
    pub fn reject_next(&self, count: usize, rejection: Rejection) {
        lock(&self.sink)
            .rejections
            .extend(std::iter::repeat_n(rejection, count));
    }

    /// Closes the port and every open connection: later connections are refused.
    pub fn go_down(&self) {
        self.server.abort();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(sink: &Shared) -> std::sync::MutexGuard<'_, Sink> {
    sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Accepts connections; aborting this task drops the listener and, through the `JoinSet`,
/// every connection.
async fn accept(listener: TcpListener, sink: Shared) {
    let mut connections = JoinSet::new();
    while let Ok((stream, _peer)) = listener.accept().await {
        connections.spawn(session(stream, sink.clone()));
        while connections.try_join_next().is_some() {}
    }
}

/// One SMTP session; an I/O error ends it quietly, as a client hanging up would.
async fn session(stream: TcpStream, sink: Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut envelope: Option<(String, Vec<String>)> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end();
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => "250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n".into(),
            "HELO" => "250 sink\r\n".into(),
            "AUTH" => {
                authenticate(argument, &mut read, &mut write).await?;
                "235 2.7.0 Authentication successful\r\n".into()
            }
            "MAIL" => match path_after(argument, "FROM:") {
                Some(from) => {
                    envelope = Some((from, Vec::new()));
                    "250 2.1.0 OK\r\n".into()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
            },
            "RCPT" => match (&mut envelope, path_after(argument, "TO:")) {
                (Some((_, to)), Some(address)) => {
                    to.push(address);
                    "250 2.1.5 OK\r\n".into()
                }
                (None, _) => "503 5.5.1 MAIL first\r\n".into(),
                (_, None) => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".into(),
            },
            "DATA" => match envelope.take() {
                Some((from, to)) if !to.is_empty() => {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data = read_data(&mut read).await?;
                    receive(&sink, ReceivedMail { from, to, data }).into()
                }
                _ => "503 5.5.1 RCPT first\r\n".into(),
            },
            "RSET" => {
                envelope = None;
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Records the mail, or refuses it when a rejection is due; answers the reply line.
fn receive(sink: &Shared, mail: ReceivedMail) -> &'static str {
    let mut sink = lock(sink);
    if !sink.rejections.is_empty() {
        return sink.rejections.remove(0).reply();
    }
    sink.mails.push(mail);
    "250 2.0.0 OK queued\r\n"
}

/// Any credentials are accepted; LOGIN asks for the user name and password it ignores.
async fn authenticate(
    argument: &str,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<()> {
    let mut mechanism = argument.split_whitespace();
    let prompts: &[&[u8]] = match (mechanism.next(), mechanism.next()) {
        (Some(m), None) if m.eq_ignore_ascii_case("PLAIN") => &[b"334 \r\n"],
        (Some(m), None) if m.eq_ignore_ascii_case("LOGIN") => {
            &[b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n"]
        }
        (Some(m), Some(_)) if m.eq_ignore_ascii_case("LOGIN") => &[b"334 UGFzc3dvcmQ6\r\n"],
        _ => &[],
    };
    let mut answer = Vec::new();
    for prompt in prompts {
        write.write_all(prompt).await?;
        answer.clear();
        read.read_until(b'\n', &mut answer).await?;
    }
    Ok(())
}

/// `<address>` after `FROM:`/`TO:`, without the brackets; parameters such as `BODY=8BITMIME`
/// are ignored.
fn path_after(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let path = argument[keyword.len()..].trim_start();
    let path = path.strip_prefix('<')?;
    Some(path[..path.find('>')?].to_owned())
}

/// The lines up to the lone `.`, with the leading dot of stuffed lines removed.
async fn read_data(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_paths_lose_brackets_and_parameters() {
        assert_eq!(
            path_after("FROM:<bridge@example.com> BODY=8BITMIME", "FROM:").as_deref(),
            Some("bridge@example.com")
        );
        assert_eq!(
            path_after("to: <ops@example.com>", "TO:").as_deref(),
            Some("ops@example.com")
        );
        assert_eq!(path_after("FROM:", "FROM:"), None);
    }
}
