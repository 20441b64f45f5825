//! Fan-out read: a model or dataset broadcast. Every node reads the same object, from a
//! staggered start so that peers can serve each other, in [`PASSES`] passes: a cold one
//! (misses fetched from a peer or the blob tier, then cached) and a warm one (hits from
//! the node's local tier). A pass is a phase: every node starts the warm pass when the
//! last is done with the cold one.

#![forbid(unsafe_code)]

/// The passes over the object: cold, then warm.
pub(crate) const PASSES: u32 = 2;
