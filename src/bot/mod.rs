//! The operator bot: staff look at and act on orders from Telegram (CONTRACT section 7).
//! `answers` writes the read-only commands' replies from the store.
pub mod answers;
