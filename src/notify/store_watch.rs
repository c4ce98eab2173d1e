//! Watches the store itself: while it cannot take writes, intake answers 503 and the workers
//! pause, and the operators hear of it once, and once more when it is back, instead of from
//! the log. Each instance watches its own way to the store: when the store is down they
//! cannot agree through it on who should say so.
use std::{sync::Arc, time::Duration};

use super::{OperatorAlerter, OperatorChats};
use crate::config::Config;
use crate::store::Store;
use crate::worker::{Step, Worker};

pub struct StoreWatch {
    store: Store,
    alerter: OperatorAlerter,
    /// How often the store is checked, and how long a check may take.
    every: Duration,
}

impl StoreWatch {
    pub fn new(store: Store, config: &Config) -> StoreWatch {
        StoreWatch {
            store,
            alerter: OperatorAlerter::new(OperatorChats::from_config(&config.telegram)),
            every: Duration::from_secs_f64(config.store.check_seconds),
        }
    }

    /// Checks once that the store takes writes (within the interval), and tells operators of
    /// a change; returns whether it does.
    pub async fn try_step(&self) -> bool {
        let error = match tokio::time::timeout(self.every, self.store.check_writable()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {:?}", self.every)),
        };
        if let Some(error) = &error {
            tracing::warn!(%error, "the store does not take writes");
        }
        self.alerter
            .record_store_result(error.is_none(), error.as_deref())
            .await;
        error.is_none()
    }
}

impl Worker for StoreWatch {
    const NAME: &'static str = "store";
    type Error = std::convert::Infallible;

    async fn step(self: Arc<Self>) -> Result<Step, Self::Error> {
        self.try_step().await;
        Ok(Step::Wait(self.every))
    }
}
