//! Fan-out write: a checkpoint. Every node writes its shard of `object_size` bytes: per
//! chunk it generates the bytes and [`super::produce`]s them, writes them to its local tier
//! in batches of `batch` chunks (the next batches generated and written while one syncs),
//! acknowledges a batch once it is durable (a manifest record), and copies it to the blob
//! tier in the background.

#![forbid(unsafe_code)]

use crate::spec::ScenarioSpec;
use crate::tier::MAX_BATCHES_IN_FLIGHT;

/// Batches of a fan-out write in flight at once on a node's local tier: `queue_depth` chunks
/// in flight as `batch`-chunk batches, and at least two, so one batch is written while the
/// one before it syncs.
pub(crate) fn write_batches_in_flight(spec: &ScenarioSpec) -> usize {
    ((spec.queue_depth / spec.batch.max(1)) as usize).clamp(2, MAX_BATCHES_IN_FLIGHT)
}
