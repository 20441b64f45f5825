//! The MPI transport (feature `mpi`): one scenario node per rank, over rsmpi and the
//! system's OpenMPI.
//!
//! Threading: MPI is initialized with `MPI_THREAD_SERIALIZED`. A rank's node runs on a
//! thread of its own (the scenario code is the same as in one process), and only that
//! thread or the main thread, never both at once, calls MPI; a mutex around every call
//! makes that a fact rather than a hope. No extra server thread: peer serving follows the
//! deterministic schedule of [`super::PeerPlan`], so at each step a rank knows whom it
//! sends to and whom it receives from, posts its sends as non-blocking, receives, then
//! waits for its sends. A schedule instead of a request/response server avoids
//! `MPI_THREAD_MULTIPLE` and a thread that busy-polls MPI on every rank (OpenMPI's
//! blocking receive spins), which on an oversubscribed machine would take the cores the
//! data path measures.
//!
//! Waiting: a rank that waits (at a barrier, for a peer's chunk) does not spin in a
//! blocking MPI call, which would take a core from the ranks still working when ranks
//! share a machine. It posts the non-blocking form and tests it, spinning briefly, then
//! sleeping between tests with a growing pause of at most [`MAX_PAUSE`].

#![forbid(unsafe_code)]

use super::{Cluster, ClusterError, Transport};
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use mpi::Threading;
use std::sync::Mutex;
use std::time::Duration;

/// Tag of chunk-exchange messages. Messages between two ranks are not overtaken (MPI's
/// ordering rule), and every step has at most one in each direction, so one tag suffices.
const TAG_PEER: i32 = 77;
/// Tests of a pending request before the waiting rank starts to sleep between tests.
const SPIN_TESTS: u32 = 64;
/// Longest sleep between two tests of a pending request: the most a wait adds to a phase.
const MAX_PAUSE: Duration = Duration::from_micros(500);

/// Completes `request`, yielding the CPU while it is pending (see the module docs).
fn wait_gently<'a, D: ?Sized, S: mpi::request::Scope<'a>>(
    mut request: mpi::request::Request<'a, D, S>,
) -> mpi::point_to_point::Status {
    let mut tests = 0u32;
    let mut pause = Duration::from_micros(10);
    loop {
        match request.test() {
            Ok(status) => return status,
            Err(r) => request = r,
        }
        tests += 1;
        if tests > SPIN_TESTS {
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The world communicator of this MPI job. Dropping it finalizes MPI.
pub struct MpiCluster {
    _universe: Universe,
    rank: u32,
    size: u32,
    /// Held across every MPI call (see the module docs).
    lock: Mutex<()>,
}

impl std::fmt::Debug for MpiCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiCluster(rank {} of {})", self.rank, self.size)
    }
}

impl MpiCluster {
    /// Initializes MPI (once per process) and returns this rank's view of the world.
    pub fn init() -> Result<MpiCluster, ClusterError> {
        let (universe, provided) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| ClusterError("MPI is already initialized in this process".into()))?;
        if provided < Threading::Serialized {
            return Err(ClusterError(format!(
                "the MPI library provides thread level {provided:?}; dpukit needs Serialized"
            )));
        }
        let world = universe.world();
        Ok(MpiCluster {
            rank: world.rank() as u32,
            size: world.size() as u32,
            _universe: universe,
            lock: Mutex::new(()),
        })
    }

    /// Ends the whole job with `code` (every rank), as `MPI_Abort` does.
    pub fn abort(&self, code: i32) -> ! {
        // Not taking the lock: the failing thread may be the one holding it.
        SimpleCommunicator::world().abort(code)
    }

    fn world(&self) -> (std::sync::MutexGuard<'_, ()>, SimpleCommunicator) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        (guard, SimpleCommunicator::world())
    }
}

impl Cluster for MpiCluster {
    fn rank(&self) -> u32 {
        self.rank
    }

    fn ranks(&self) -> u32 {
        self.size
    }

    fn transport(&self) -> Transport {
        Transport::Mpi
    }

    fn barrier(&self) -> Result<(), ClusterError> {
        let (_g, world) = self.world();
        wait_gently(world.immediate_barrier());
        Ok(())
    }

    fn all_gather(&self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, ClusterError> {
        let len = i32::try_from(mine.len()).map_err(|_| {
            ClusterError(format!("{} bytes to gather from one rank: at most 2 GiB", mine.len()))
        })?;
        let (_g, world) = self.world();
        // Everyone arrives first (without spinning), so the gathers themselves do not wait.
        wait_gently(world.immediate_barrier());
        let mut counts = vec![0i32; self.size as usize];
        world.all_gather_into(&len, &mut counts[..]);
        let mut displs = Vec::with_capacity(counts.len());
        let mut total: i64 = 0;
        for &c in &counts {
            displs.push(
                i32::try_from(total).map_err(|_| ClusterError("more than 2 GiB to gather in all".into()))?,
            );
            total += c as i64;
        }
        let mut all = vec![0u8; total as usize];
        {
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(&mine[..], &mut part);
        }
        Ok(counts.iter().zip(&displs).map(|(&c, &d)| all[d as usize..(d + c) as usize].to_vec()).collect())
    }

    fn exchange(
        &self,
        sends: &[(u32, Vec<u8>)],
        from: Option<u32>,
        into: &mut [u8],
    ) -> Result<Option<usize>, ClusterError> {
        for (to, _) in sends {
            if *to >= self.size || *to == self.rank {
                return Err(ClusterError(format!("rank {}: cannot send a chunk to rank {to}", self.rank)));
            }
        }
        let (_g, world) = self.world();
        let got = mpi::request::scope(|scope| {
            let requests: Vec<_> = sends
                .iter()
                .map(|(to, buf)| {
                    world.process_at_rank(*to as i32).immediate_send_with_tag(scope, &buf[..], TAG_PEER)
                })
                .collect();
            let got = from.map(|f| {
                let request =
                    world.process_at_rank(f as i32).immediate_receive_into_with_tag(scope, into, TAG_PEER);
                wait_gently(request).count(u8::equivalent_datatype()) as usize
            });
            for r in requests {
                wait_gently(r);
            }
            got
        });
        Ok(got)
    }
}
