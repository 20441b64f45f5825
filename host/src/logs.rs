//! Logs and the counts taken from them. The library logs through `tracing` (what a run
//! is doing at `info`, each node at `debug`, each fallback's reason at `warn`); whoever
//! runs it installs a subscriber (the command line: `RUST_LOG`, `-v`, `-vv`).
//!
//! object_store reports a retried blob-tier request only as an `info` event of
//! `object_store::client::retry`; [`RetryCounter`] is a layer that counts them, so a run can
//! put the count in its result. It counts only once installed: a run without it says so
//! rather than reporting zero retries.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::{Context, Layer};

/// The module object_store logs its retries from.
const RETRY_TARGET: &str = "object_store::client::retry";

static RETRIES: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Counts object_store's retry events: a `tracing` layer with its own filter, so it sees
/// those events whatever the other layers show, and nothing else.
#[derive(Debug)]
pub struct RetryCounter(());

impl RetryCounter {
    /// The layer to install beside the others (`registry().with(fmt).with(RetryCounter::layer())`).
    pub fn layer<S>() -> Filtered<RetryCounter, RetryFilter, S>
    where
        S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        COUNTING.store(true, Ordering::Relaxed);
        RetryCounter(()).with_filter(FilterFn::new(is_retry as fn(&Metadata<'_>) -> bool))
    }
}

/// The filter of [`RetryCounter::layer`]: object_store's retry events only.
pub type RetryFilter = FilterFn<fn(&Metadata<'_>) -> bool>;

fn is_retry(meta: &Metadata<'_>) -> bool {
    meta.target() == RETRY_TARGET && meta.is_event() && *meta.level() <= tracing::Level::INFO
}

impl<S: Subscriber> Layer<S> for RetryCounter {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if is_retry(event.metadata()) {
            RETRIES.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Blob-tier retries so far in this process, or `None` when no [`RetryCounter`] is installed.
pub fn blob_retries() -> Option<u64> {
    COUNTING.load(Ordering::Relaxed).then(|| RETRIES.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn only_object_stores_retry_events_count() {
        let subscriber = tracing_subscriber::registry().with(RetryCounter::layer());
        let before = blob_retries().expect("installed");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "object_store::client::retry", "Encountered server error, retry 1 of 3");
            tracing::info!(target: "object_store::client::retry", "Encountered transport error, retry 2 of 3");
            tracing::debug!(target: "object_store::client::retry", "not a retry");
            tracing::info!(target: "object_store::azure", "something else");
            tracing::info!("a message of this crate");
        });
        assert_eq!(blob_retries().unwrap() - before, 2);
    }
}
