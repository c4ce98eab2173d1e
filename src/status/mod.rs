//! Order statuses from iiko back to the site (CONTRACT sections 1 and 3).
//!
//! iiko pushes `DeliveryOrderUpdate` / `DeliveryOrderError` webhooks; the receiver
//! (`http::iiko_webhook`) stores each call and answers 200 at once, and the [`StatusTracker`]
//! applies them. Webhooks may be lost, repeated or reordered, so the tracker also polls:
//! `deliveries/by_revision` from a cursor per organization, and `deliveries/by_id` (200 ids a
//! call) for orders iiko has not mentioned for `status.recheck_after_seconds`, or for all of an
//! organization's orders when iiko refuses the cursor as too old.
//!
//! Every report goes through [`apply`], which drops it when iiko's `timestamp` is not newer
//! than the last one applied, and writes each new iiko status once: the history entry and the
//! site's `order.status` event (and `order.cancelled`) in the same transaction. A move
//! to another terminal group (`movedToDeliveryId`) is followed under the new delivery id. A
//! webhook may end a creation the dispatcher is still following; it takes the dispatcher's
//! lease away in that transaction, so the dispatcher's own end is refused and an order is
//! never both created and handed to the operators.
pub mod apply;
mod inbox;
mod map;
mod order_view;
mod register;
mod terminals;
mod tracker;

pub use inbox::WebhookInbox;
pub use map::{DEFAULT_STATUS_MAP, report_of, site_status};
pub use order_view::{ViewError, cancel_order, order_view};
pub use register::{RegisterError, register_webhooks, webhook_filter};
pub use terminals::{TerminalReport, TerminalWatch};
pub use tracker::{BY_ID_BATCH, InboxReport, PollReport, StatusTracker, Tally, TrackerStep};
