//! What crosses node threads in one process: the barrier that starts a phase
//! ([`NodeSync`]) and peer serving of fan-out read ([`Peers`]).

#![forbid(unsafe_code)]

use crate::cluster::{Cluster, ClusterError, PeerPlan};
use crate::live::env::io_err;
use crate::live::node::read_at;
use crate::run::RunError;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Longest a node waits for another node (a barrier, a peer's chunk) in one process.
pub(super) const NODE_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The barrier of the node threads of this process; the last thread to arrive also waits
/// at the cluster's barrier, so every node of every process starts a phase together. A
/// node that fails releases the others with an error instead of leaving them waiting.
pub(super) struct NodeSync<'a> {
    pub(super) parties: usize,
    pub(super) state: Mutex<SyncState>,
    pub(super) cv: Condvar,
    pub(super) cluster: &'a dyn Cluster,
}

impl NodeSync<'_> {
    pub(super) fn wait(&self) -> Result<(), RunError> {
        let aborted = || RunError::Cluster(ClusterError("another node failed".into()));
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.failed {
            return Err(aborted());
        }
        st.arrived += 1;
        if st.arrived == self.parties {
            let r = self.cluster.barrier().map_err(RunError::Cluster);
            st.arrived = 0;
            st.generation += 1;
            self.cv.notify_all();
            return r;
        }
        let generation = st.generation;
        let deadline = Instant::now() + NODE_WAIT_TIMEOUT;
        while st.generation == generation && !st.failed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::Cluster(ClusterError(format!(
                    "a node waited {} s at a barrier",
                    NODE_WAIT_TIMEOUT.as_secs()
                ))));
            }
            st = self.cv.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        if st.generation == generation {
            return Err(aborted());
        }
        Ok(())
    }

    pub(super) fn fail(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failed = true;
        self.cv.notify_all();
    }
}

#[derive(Default)]
pub(super) struct SyncState {
    pub(super) arrived: usize,
    pub(super) generation: u64,
    pub(super) failed: bool,
}

/// A chunk a node holds in its cache for its peers, or could not get.
#[derive(Clone)]
pub(super) enum Held {
    At { path: PathBuf, offset: u64, len: u32 },
    Missing,
}

/// Peer serving of fan-out read. Who serves whom follows [`PeerPlan`]; within a process a
/// node waits for the chunk its source caches and reads it from the source's local tier
/// file; across processes the chunks travel by the cluster's exchange, one step at a time.
pub(super) struct Peers<'a> {
    pub(super) plan: PeerPlan,
    pub(super) cluster: &'a dyn Cluster,
    pub(super) held: Mutex<PeerState>,
    pub(super) cv: Condvar,
}

impl Peers<'_> {
    /// Records what `node` holds of `chunk` after handling it in the cold pass.
    pub(super) fn hold(&self, node: u32, chunk: u64, held: Held) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).chunks.insert((node, chunk), held);
        self.cv.notify_all();
    }

    pub(super) fn fail(&self) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).failed = true;
        self.cv.notify_all();
    }

    pub(super) fn read_held(&self, node: u32, chunk: u64) -> Result<Vec<u8>, RunError> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).chunks.get(&(node, chunk)).cloned();
        match held {
            Some(Held::At { path, offset, len }) => {
                let mut buf = vec![0u8; len as usize];
                read_at(&path, offset, &mut buf).map_err(|e| io_err(&path, e))?;
                Ok(buf)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Step `step` of `node`'s cold pass: serves the nodes of other processes whose source
    /// `node` is, and fetches `node`'s own chunk from its source into `into`. Every node
    /// calls this at every step of the cold pass. Returns the fetched length, or `None`
    /// when the chunk must come from the blob tier.
    pub(super) fn step(&self, node: u32, step: u64, into: &mut [u8]) -> Result<Option<usize>, RunError> {
        let src = self.plan.source(node, step);
        if self.cluster.ranks() > 1 {
            let me = self.cluster.rank_of(node);
            let mut sends = Vec::new();
            for q in 0..self.plan.nodes() {
                let rank = self.cluster.rank_of(q);
                if rank != me && self.plan.source(q, step) == Some(node) {
                    sends.push((rank, self.read_held(node, self.plan.chunk(q, step))?));
                }
            }
            let from = src.map(|s| self.cluster.rank_of(s)).filter(|&r| r != me);
            let got = self.cluster.exchange(&sends, from, into).map_err(RunError::Cluster)?;
            if from.is_some() {
                return Ok(got.filter(|&n| n > 0));
            }
        }
        let Some(src) = src else { return Ok(None) };
        let chunk = self.plan.chunk(node, step);
        let deadline = Instant::now() + NODE_WAIT_TIMEOUT;
        let mut st = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let held = loop {
            if let Some(h) = st.chunks.get(&(src, chunk)) {
                break h.clone();
            }
            if st.failed {
                return Err(RunError::Cluster(ClusterError("another node failed".into())));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::Cluster(ClusterError(format!(
                    "node {node} waited {} s for chunk {chunk} from node {src}",
                    NODE_WAIT_TIMEOUT.as_secs()
                ))));
            }
            st = self.cv.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        };
        drop(st);
        match held {
            Held::At { path, offset, len } => {
                let len = len as usize;
                if len > into.len() {
                    return Ok(None);
                }
                Ok(read_at(&path, offset, &mut into[..len]).ok().map(|_| len))
            }
            Held::Missing => Ok(None),
        }
    }
}

#[derive(Default)]
pub(super) struct PeerState {
    pub(super) chunks: HashMap<(u32, u64), Held>,
    pub(super) failed: bool,
}
