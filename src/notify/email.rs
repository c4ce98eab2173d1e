//! E-mail to operators over SMTP (lettre).
use std::{fmt, time::Duration};

use lettre::{
    Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
};
use secrecy::ExposeSecret;

use super::{error_chain, redact};
use crate::config::EmailConfig;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends mail through the configured SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

/// One message to several recipients.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    /// An HTML alternative to `text`, for clients that show it.
    pub html: Option<String>,
}

/// Why a message was not accepted by the SMTP server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmailError {
    #[error("email: {0}")]
    Config(String),
    #[error("email: invalid address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// Connection trouble or a 4xx reply: worth another try.
    #[error("email: {0} (worth retrying)")]
    Transient(String),
    #[error("email: no answer within {0:?} (worth retrying)")]
    Timeout(Duration),
    /// A 5xx reply or a message the server will never take.
    #[error("email: {0}")]
    Permanent(String),
}

impl EmailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmailError::Transient(_) | EmailError::Timeout(_))
    }
}

impl Mailer {
    /// The mailer from the config; `None` when no `smtp_url` is set.
    pub fn from_config(config: &EmailConfig) -> Result<Option<Mailer>, EmailError> {
        let Some(smtp_url) = &config.smtp_url else {
            return Ok(None);
        };
        let smtp_url = smtp_url.expose_secret();
        let from = config
            .from
            .as_deref()
            .ok_or_else(|| EmailError::Config("email.from is required with smtp_url".into()))?;
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| invalid_address(from, e))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| {
                EmailError::Config(format!(
                    "email.smtp_url: {}",
                    redact(&e.to_string(), &url_secrets(smtp_url))
                ))
            })?
            .timeout(Some(DEFAULT_TIMEOUT))
            .build();
        Ok(Some(Mailer {
            transport,
            from,
            timeout: DEFAULT_TIMEOUT,
        }))
    }

    /// Limits each send, connection and SMTP dialogue included, to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Mailer {
        self.timeout = timeout;
        self
    }

    /// Sends `email` to all its recipients in one SMTP transaction.
    pub async fn send(&self, email: &Email) -> Result<(), EmailError> {
        let message = self.message(email)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => Err(classify(&error)),
            Err(_elapsed) => Err(EmailError::Timeout(self.timeout)),
        }
    }

    fn message(&self, email: &Email) -> Result<Message, EmailError> {
        if email.to.is_empty() {
            return Err(EmailError::Permanent("no recipients".into()));
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(&email.subject);
        for to in &email.to {
            let address = to
                .trim()
                .parse::<Address>()
                .map_err(|e| invalid_address(to, e))?;
            builder = builder.to(Mailbox::new(None, address));
        }
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone());
        let built = match &email.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        };
        built.map_err(|e| EmailError::Permanent(format!("cannot build the message: {e}")))
    }
}

fn invalid_address(address: &str, error: impl fmt::Display) -> EmailError {
    EmailError::InvalidAddress {
        address: address.to_owned(),
        reason: error.to_string(),
    }
}

fn classify(error: &lettre::transport::smtp::Error) -> EmailError {
    // lettre's messages hold the server's reply and I/O causes, never the URL or credentials.
    let reason = error_chain(error);
    // Client errors are mismatches with the server (no STARTTLS, no usable AUTH mechanism):
    // they need a config change, not another try.
    if error.is_permanent() || error.is_client() {
        EmailError::Permanent(reason)
    } else if error.is_timeout() {
        EmailError::Transient(format!("timed out: {reason}"))
    } else {
        EmailError::Transient(reason)
    }
}

/// The parts of an SMTP URL that must not be shown: the URL itself and its password.
fn url_secrets(smtp_url: &str) -> Vec<&str> {
    let password = smtp_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    std::iter::once(smtp_url).chain(password).collect()
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
