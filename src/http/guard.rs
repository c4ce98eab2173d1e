//! What keeps one slow or hostile client from taking the server down, and a pooled client
//! from losing its next request: a limit on requests in progress, a timeout on each (its body
//! included), and `Connection: close` on every answer given before the body was read.
use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, BodyDataStream, Bytes},
    extract::{Request, State},
    http::{
        HeaderMap, HeaderValue, StatusCode,
        header::{CONNECTION, CONTENT_LENGTH, RETRY_AFTER, TRANSFER_ENCODING},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::Stream;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::config::ServerConfig;

/// The limits of `[server]`; cheap to clone.
#[derive(Clone)]
pub struct Limits {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Limits {
    pub fn from_config(server: &ServerConfig) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(server.max_concurrent_requests as usize)),
            timeout: server.request_timeout(),
        }
    }
}

/// Past `server.max_concurrent_requests` a request is refused at once rather than queued: a
/// queue would only turn a flood into timeouts for everyone. Each request then gets
/// `server.request_timeout_seconds`, reading its body included.
pub async fn limit(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let Ok(_permit) = limits.permits.clone().try_acquire_owned() else {
        tracing::warn!("server.max_concurrent_requests reached; request refused");
        return retry_soon(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in progress (server.max_concurrent_requests); try again",
        ));
    };
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request exceeded server.request_timeout_seconds");
            retry_soon(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took longer than server.request_timeout_seconds; try again",
            ))
        }
    }
}

fn retry_soon(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// hyper closes a keep-alive connection whose request body was left unread, without saying
/// so; a client that pooled it then fails its next request. Every answer given before the
/// body was read to its end says `Connection: close`, so the client opens a new one.
pub async fn announce_close(request: Request, next: Next) -> Response {
    if !has_body(request.headers()) {
        return next.run(request).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let tracked = read.clone();
    let request = request.map(|body| {
        Body::from_stream(Tracked {
            inner: body.into_data_stream(),
            read: tracked,
        })
    });
    let mut response = next.run(request).await;
    if !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the request announces a body (a positive length, or chunks).
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    length.is_some_and(|length| length > 0) || headers.contains_key(TRANSFER_ENCODING)
}

/// A request body that notes when it was read to its end.
struct Tracked {
    inner: BodyDataStream,
    read: Arc<AtomicBool>,
}

impl Stream for Tracked {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = polled {
            self.read.store(true, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header::HeaderName;

    use super::*;

    fn headers(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn a_request_has_a_body_when_it_announces_bytes_or_chunks() {
        assert!(has_body(&headers(&[(CONTENT_LENGTH, "12")])));
        assert!(has_body(&headers(&[(TRANSFER_ENCODING, "chunked")])));
        assert!(!has_body(&headers(&[(CONTENT_LENGTH, "0")])));
        assert!(!has_body(&headers(&[])));
    }
}
