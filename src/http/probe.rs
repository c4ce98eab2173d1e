//! `/readyz` and `/metrics` answer from probes run at most once per [`PROBE_EVERY`]: a flood
//! of either costs the store and iiko one probe, not one per request, and so cannot turn
//! order intake into 503s.
use std::{
    future::Future,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::sync::Mutex;

use crate::iiko::{IikoClient, IikoError};
use crate::store::Store;

/// How long a probe's result is served before the next request runs it again.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// A probe that takes longer counts as failed, so `/readyz` never hangs on a slow iiko.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A value computed at most once per interval; callers arriving meanwhile wait for that one
/// computation and share its result.
pub struct Cached<T> {
    every: Duration,
    last: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
        }
    }

    pub async fn get<F: Future<Output = T>>(&self, compute: impl FnOnce() -> F) -> T {
        let mut last = self.last.lock().await;
        let fresh = last
            .as_ref()
            .filter(|(at, _)| is_fresh(*at, Instant::now(), self.every));
        if let Some((_, value)) = fresh {
            return value.clone();
        }
        let value = compute().await;
        *last = Some((Instant::now(), value.clone()));
        value
    }
}

fn is_fresh(at: Instant, now: Instant, every: Duration) -> bool {
    now.saturating_duration_since(at) < every
}

/// What `/readyz` reports: short, stable reasons a monitor can match on; details go to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub store: &'static str,
    pub iiko: &'static str,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.store == "ok" && self.iiko == "ok"
    }
}

/// The probes `serve` answers `/readyz` and `/metrics` from.
pub struct Probes {
    pub readiness: Cached<Readiness>,
    pub pending_events: Cached<Option<i64>>,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            readiness: Cached::new(PROBE_EVERY),
            pending_events: Cached::new(PROBE_EVERY),
        }
    }
}

/// The store takes writes and iiko hands out a token.
pub async fn readiness(store: &Store, iiko: &IikoClient) -> Readiness {
    let store = match tokio::time::timeout(PROBE_TIMEOUT, store.check_writable()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(%error, "readyz: the store does not take writes");
            "not_writable"
        }
        Err(_) => {
            tracing::warn!("readyz: the store did not answer in time");
            "timeout"
        }
    };
    let iiko = match tokio::time::timeout(PROBE_TIMEOUT, iiko.access_token()).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(%error, "readyz: no iiko token");
            iiko_reason(&error)
        }
        Err(_) => {
            tracing::warn!("readyz: iiko did not hand out a token in time");
            "timeout"
        }
    };
    Readiness { store, iiko }
}

fn iiko_reason(error: &IikoError) -> &'static str {
    match error {
        IikoError::Auth { .. } => "credentials_refused",
        IikoError::Transport { .. } | IikoError::Timeout { .. } => "unreachable",
        IikoError::RateLimited { .. } => "rate_limited",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[test]
    fn a_result_is_fresh_for_the_interval_only() {
        let at = Instant::now();
        let every = Duration::from_secs(5);
        assert!(is_fresh(at, at, every));
        assert!(is_fresh(at, at + Duration::from_millis(4999), every));
        assert!(!is_fresh(at, at + every, every));
    }

    #[tokio::test]
    async fn a_flood_of_callers_runs_the_probe_once() {
        let cached = Arc::new(Cached::new(Duration::from_secs(3600)));
        let runs = Arc::new(AtomicUsize::new(0));
        let answers = futures::future::join_all((0..50).map(|_| {
            let (cached, runs) = (cached.clone(), runs.clone());
            async move {
                cached
                    .get(|| async {
                        tokio::task::yield_now().await;
                        runs.fetch_add(1, Ordering::SeqCst)
                    })
                    .await
            }
        }))
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|&answer| answer == 0));
    }

    #[tokio::test]
    async fn a_stale_result_is_probed_again() {
        let cached = Cached::new(Duration::ZERO);
        assert_eq!(cached.get(|| async { 1 }).await, 1);
        assert_eq!(cached.get(|| async { 2 }).await, 2);
    }

    #[test]
    fn refused_credentials_and_an_unreachable_iiko_have_their_own_reasons() {
        let auth = IikoError::Auth {
            path: "/api/1/access_token".into(),
            status: 401,
            description: "Login 'x' is not authorized".into(),
            code: None,
            correlation_id: None,
        };
        assert_eq!(iiko_reason(&auth), "credentials_refused");
        let timeout = IikoError::Timeout {
            path: "/api/1/access_token".into(),
        };
        assert_eq!(iiko_reason(&timeout), "unreachable");
    }
}
