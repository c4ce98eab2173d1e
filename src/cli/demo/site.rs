//! The demo's pretend website: receives the bridge's events and checks every signature the way
//! a site's developer would.
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use chrono::Utc;
use serde_json::Value;

use crate::signing::{SignedHeaders, WebhookSecret, verify};

/// The secret the demo configures as `site.events_secret`.
pub const EVENTS_SECRET: &str = "whsec_ZGVtby1ldmVudHMtc2VjcmV0LWZvci10aGUtc2l0ZQ==";

/// One event as the site received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    pub signature_ok: bool,
    pub body: Value,
}

#[derive(Clone)]
pub struct SiteReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SiteReceiver {
    pub async fn start() -> std::io::Result<SiteReceiver> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(received.clone());
        let url = format!("http://{}/events", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(SiteReceiver { url, received })
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("never poisoned").clone()
    }
}

async fn receive(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let secret = WebhookSecret::parse(EVENTS_SECRET).expect("the demo's secret parses");
    let verified = verify(
        &secret,
        SignedHeaders::from_map(&headers),
        &body,
        Utc::now(),
    );
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(body) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    received.lock().expect("never poisoned").push(Received {
        webhook_id,
        signature_ok: verified.is_ok(),
        body,
    });
    match verified {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}
