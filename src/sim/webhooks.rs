//! Sends webhook batches to the URIs registered with `webhooks/update_settings`.
//!
//! One worker sends batches in the order they were produced, so a receiver sees an order's
//! status moves in order. A failed delivery is retried a few times and then dropped (logged).
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// A JSON array of events for one organization's webhook URI.
#[derive(Debug)]
pub struct Outgoing {
    pub uri: String,
    pub auth_token: Option<String>,
    pub events: Vec<Value>,
}

pub struct Dispatcher {
    sender: mpsc::UnboundedSender<Outgoing>,
    /// Taken by the worker, which starts with the first batch (it needs a Tokio runtime).
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
}

const ATTEMPTS: u32 = 3;

impl Dispatcher {
    pub fn new() -> Dispatcher {
        let (sender, receiver) = mpsc::unbounded_channel();
        Dispatcher {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    pub fn send(&self, batches: Vec<Outgoing>) {
        if batches.is_empty() {
            return;
        }
        for batch in batches {
            let _ = self.sender.send(batch);
        }
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(receiver) = receiver {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(run(receiver));
                }
                Err(_) => *self.receiver.lock().unwrap_or_else(|p| p.into_inner()) = Some(receiver),
            }
        }
    }
}

async fn run(mut receiver: mpsc::UnboundedReceiver<Outgoing>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client");
    while let Some(batch) = receiver.recv().await {
        deliver(&client, &batch).await;
    }
}

async fn deliver(client: &reqwest::Client, batch: &Outgoing) {
    for attempt in 1..=ATTEMPTS {
        let mut request = client.post(&batch.uri).json(&batch.events);
        if let Some(token) = &batch.auth_token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(uri = %batch.uri, events = batch.events.len(), "webhook delivered");
                return;
            }
            Ok(response) => {
                tracing::warn!(uri = %batch.uri, status = %response.status(), attempt, "webhook rejected")
            }
            Err(error) => tracing::warn!(uri = %batch.uri, %error, attempt, "webhook failed"),
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
    tracing::warn!(uri = %batch.uri, "webhook dropped after {ATTEMPTS} attempts");
}
