//! What crosses nodes in a live run, behind one small interface, so the scenarios are
//! written once and run either as N node threads in one process ([`InProcess`]) or as one
//! node per MPI rank on a real cluster (`mpi::MpiCluster`, feature `mpi`).
//!
//! A [`Cluster`] is a set of processes (ranks); each runs some of the scenario's nodes
//! (in one process: all of them; under MPI: node = rank). What the scenarios need across
//! processes is small:
//! - a **barrier** before each timed phase (as IOR does: timing starts from it);
//! - an **all-gather** of bytes: the catalog of what setup published to the blob tier, and
//!   every process's per-node outputs, which the leader (rank 0) turns into the one result;
//! - a **chunk exchange** for fan-out-read peer serving: at each step of the cold pass a
//!   process sends the chunks its node holds to the nodes whose source they are, and
//!   receives the one chunk its node needs, point to point. Who serves whom is fixed by
//!   [`PeerPlan`], a deterministic schedule every process computes alike, so no process
//!   ever waits for a request that does not come and the exchange cannot deadlock.
//!
//! Nothing here knows about tiers, offloads or results; the scenarios call it.

#![forbid(unsafe_code)]

#[cfg(feature = "mpi")]
pub mod mpi;

/// A failure of the cluster transport (not of the data path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

/// How the nodes of a run are spread over processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// N node threads in one process.
    Threads,
    /// One node per MPI rank.
    Mpi,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Threads => "threads",
            Transport::Mpi => "mpi",
        }
    }
}

/// The processes of a run and what crosses between them. Every process makes the same
/// sequence of calls (barriers, gathers, exchanges), as collective operations require.
pub trait Cluster: Sync {
    /// This process's index, 0..ranks; rank 0 is the leader that writes the result.
    fn rank(&self) -> u32;
    /// Number of processes.
    fn ranks(&self) -> u32;
    fn transport(&self) -> Transport;
    /// Returns once every process has called it.
    fn barrier(&self) -> Result<(), ClusterError>;
    /// Every process's bytes, indexed by rank.
    fn all_gather(&self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, ClusterError>;
    /// One step of the chunk exchange: sends each buffer to its rank and, when `from` is
    /// set, receives one message from that rank into `into`; returns the received length
    /// (0: the sender does not hold the chunk).
    fn exchange(
        &self,
        sends: &[(u32, Vec<u8>)],
        from: Option<u32>,
        into: &mut [u8],
    ) -> Result<Option<usize>, ClusterError>;

    /// Whether this process is the leader (rank 0).
    fn is_leader(&self) -> bool {
        self.rank() == 0
    }

    /// The process that runs node `node` of a scenario of `nodes` nodes.
    fn rank_of(&self, node: u32) -> u32 {
        node % self.ranks()
    }
}

/// Every node in this process, one thread each: no other process to talk to.
#[derive(Debug, Default, Clone, Copy)]
pub struct InProcess;

impl Cluster for InProcess {
    fn rank(&self) -> u32 {
        0
    }
    fn ranks(&self) -> u32 {
        1
    }
    fn transport(&self) -> Transport {
        Transport::Threads
    }
    fn barrier(&self) -> Result<(), ClusterError> {
        Ok(())
    }
    fn all_gather(&self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, ClusterError> {
        Ok(vec![mine])
    }
    fn exchange(
        &self,
        sends: &[(u32, Vec<u8>)],
        from: Option<u32>,
        _into: &mut [u8],
    ) -> Result<Option<usize>, ClusterError> {
        if sends.is_empty() && from.is_none() {
            Ok(None)
        } else {
            Err(ClusterError("a one-process run has no other process to exchange chunks with".into()))
        }
    }
}

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun
/// --mpi=pmix`), from the environment those launchers set.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// The cold-pass schedule of fan-out read with peer serving: node `r` starts at chunk
/// `start(r)` and at step `k` handles chunk `(start(r) + k) mod n`. The first node to
/// reach a chunk (the owner of the segment it lies in) fetches it from the blob tier;
/// a node reaching it at a later step gets it from that owner. Nodes start at
/// `((r + shift) mod N) * n / N`: `shift` moves every node to another's segment (IOR's
/// `-C` task reordering), which changes who fetches what, never what is read.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    chunks: u64,
    /// Start chunk of each node.
    starts: Vec<u64>,
    /// (start, node), sorted: the owner of a chunk is found by binary search.
    sorted: Vec<(u64, u32)>,
}

impl PeerPlan {
    pub fn new(nodes: u32, chunks: u64, shift: u32) -> PeerPlan {
        debug_assert!(nodes > 0 && chunks > 0);
        let starts: Vec<u64> =
            (0..nodes).map(|r| ((r as u64 + shift as u64) % nodes as u64) * chunks / nodes as u64).collect();
        let mut sorted: Vec<(u64, u32)> = starts.iter().enumerate().map(|(r, &s)| (s, r as u32)).collect();
        sorted.sort_unstable();
        PeerPlan { chunks, starts, sorted }
    }

    pub fn nodes(&self) -> u32 {
        self.starts.len() as u32
    }

    pub fn start(&self, node: u32) -> u64 {
        self.starts[node as usize]
    }

    /// The chunk `node` handles at `step`.
    pub fn chunk(&self, node: u32, step: u64) -> u64 {
        (self.starts[node as usize] + step) % self.chunks
    }

    /// The step at which `node` handles `chunk`.
    pub fn step_of(&self, node: u32, chunk: u64) -> u64 {
        (chunk + self.chunks - self.starts[node as usize]) % self.chunks
    }

    /// The node that reaches `chunk` first (lowest node among equal starts).
    pub fn owner(&self, chunk: u64) -> u32 {
        // The largest start <= chunk, else (wrapping) the largest start of all.
        let i = self.sorted.partition_point(|&(s, _)| s <= chunk);
        let start = if i == 0 { self.sorted[self.sorted.len() - 1].0 } else { self.sorted[i - 1].0 };
        let first = self.sorted.partition_point(|&(s, _)| s < start);
        self.sorted[first].1
    }

    /// Where `node` gets the chunk of `step` from: its owner, if that is another node that
    /// handled it at an earlier step; `None`: the blob tier.
    pub fn source(&self, node: u32, step: u64) -> Option<u32> {
        let c = self.chunk(node, step);
        let o = self.owner(c);
        (o != node && self.step_of(o, c) < step).then_some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan against a brute force: the source is the node with the earliest step
    /// (lowest index among ties), when that step is earlier than the asker's.
    #[test]
    fn peer_plan_matches_brute_force() {
        for (nodes, chunks, shift) in [(1, 5, 0), (4, 16, 0), (4, 16, 1), (3, 10, 2), (8, 3, 0), (5, 7, 3)] {
            let p = PeerPlan::new(nodes, chunks, shift);
            for r in 0..nodes {
                for k in 0..chunks {
                    let c = p.chunk(r, k);
                    assert_eq!(p.step_of(r, c), k);
                    let best = (0..nodes).map(|q| (p.step_of(q, c), q)).min().unwrap();
                    let want = (best.1 != r && best.0 < k).then_some(best.1);
                    assert_eq!(
                        p.source(r, k),
                        want,
                        "nodes {nodes} chunks {chunks} shift {shift} r {r} k {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_node_reads_every_chunk_once_and_owners_fetch_from_the_blob_tier() {
        let p = PeerPlan::new(4, 16, 1);
        for r in 0..4 {
            let mut seen: Vec<u64> = (0..16).map(|k| p.chunk(r, k)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..16).collect::<Vec<_>>());
        }
        // 16 chunks fetched once from the blob tier in all, 48 from peers.
        let from_blob =
            (0..4).flat_map(|r| (0..16).map(move |k| (r, k))).filter(|&(r, k)| p.source(r, k).is_none());
        assert_eq!(from_blob.count(), 16);
        // Shift 1: node 0 starts in node 1's segment.
        assert_eq!(p.start(0), 4);
    }
}
