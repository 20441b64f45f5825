//! The cluster model's state and its resources: every node's thread, cores, disk, NIC
//! and DPU as FIFO servers, and the operations a scenario's steps book on them.

#![forbid(unsafe_code)]

use crate::metrics::StageHist;
use crate::result::Mode;
use crate::result::Source;
use crate::scale::cluster::ClusterSpec;
use crate::scale::costs::{ns, Costs, DeviceJob, IoShares, Shapes};
use crate::scale::ScaleError;
use crate::scale::Sizing;
use crate::spec::ScenarioKind;
use crate::spec::ScenarioSpec;
use dpukit_sim::des::{FifoServer, Scheduler, UnitArena};
use dpukit_sim::timing::{SimDuration, SimTime};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A compact event: which node, which token (block), which step.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ev {
    pub(super) node: u32,
    pub(super) token: u32,
    pub(super) step: Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Lookup,
    Fetch,
    Verify,
    Fill,
    Insert,
    Issue,
    Fetched,
    Produced,
    Checked,
    Done,
}

/// The servers of one node.
#[derive(Debug, Clone, Copy)]
pub(super) struct NodeServers {
    pub(super) thread: FifoServer,
    pub(super) cores: FifoServer,
    pub(super) disk: FifoServer,
    pub(super) nic_tx: Option<FifoServer>,
    pub(super) nic_rx: Option<FifoServer>,
    /// First of this node's DPU servers in `Model::dpu`.
    pub(super) dpu_first: u32,
}

/// Per-node progress.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NodeState {
    /// Next block of the node's scan (reads) or next block to issue (writes, fan-in).
    pub(super) next: u32,
    pub(super) epoch: u8,
    pub(super) hit: bool,
    pub(super) from_peer: bool,
    pub(super) in_flight: u32,
    pub(super) staged_chunks: u32,
    pub(super) done_blocks: u32,
    pub(super) issue_pending: bool,
    /// Fan-in read: tokens of the fetch in progress.
    pub(super) fetch_batch: u32,
    /// Fan-in read: jobs finished and not yet collected.
    pub(super) finished: u32,
    /// Fan-in read: jobs the thread waits to collect (0 while it fills slots).
    pub(super) collecting: u32,
    pub(super) block_start_ns: u64,
    pub(super) end_ns: u64,
    pub(super) kv_req: u32,
    /// Fan-out write: when the node's shard file is free for the next sync (one at a time).
    pub(super) file_free_ns: u64,
}

/// The model: servers, costs, counters.
pub(super) struct Model<'a> {
    pub(super) spec: &'a ScenarioSpec,
    pub(super) mode: Mode,
    pub(super) cluster: &'a ClusterSpec,
    pub(super) c: Costs,
    pub(super) shapes: Option<Shapes>,
    pub(super) arena: UnitArena,
    pub(super) nodes: Vec<NodeServers>,
    pub(super) state: Vec<NodeState>,
    pub(super) dpu: Vec<FifoServer>,
    pub(super) dpu_per_node: usize,
    pub(super) dpu_names: Vec<(String, u32)>,
    pub(super) blob: FifoServer,
    pub(super) fabric: Option<FifoServer>,
    pub(super) copier: FifoServer,
    pub(super) sched: Scheduler<Ev>,
    pub(super) batch: u32,
    pub(super) blocks: u32,
    /// Fan-out read: who first fetched each block, and from when it can serve it.
    pub(super) holder: Vec<(u32, u64)>,
    pub(super) e2e: StageHist,
    pub(super) host_cpu_ns: f64,
    pub(super) dev_jobs: u64,
    pub(super) dev_descriptors: u64,
    pub(super) egress_bytes: u64,
    pub(super) peer_bytes: u64,
    pub(super) hits: u64,
    pub(super) misses: u64,
    pub(super) bytes: u64,
    pub(super) ops: u64,
    pub(super) stored_bytes: u64,
    pub(super) blob_put_bytes: u64,
    pub(super) kv: Vec<Vec<(u32, u32)>>,
    /// Pipelined scenarios: when each in-flight token was issued, by token % queue depth.
    pub(super) issued_ns: Vec<u64>,
    /// Fan-out write: per node, its commits in the local tier's write pipeline, oldest
    /// first.
    pub(super) writes: Vec<VecDeque<PendingWrite>>,
    /// Fan-out write: per node, its background copies not yet marked in its manifest: when
    /// each ends, and its chunks, earliest end first.
    pub(super) copies: Vec<BinaryHeap<Reverse<(SimTime, u32)>>>,
    /// CPU work stretch of colocated nodes sharing fewer real cores (1 otherwise).
    pub(super) cpu_stretch: f64,
    /// Colocated: the other nodes writing to the same local file system (0 otherwise).
    pub(super) other_writers: f64,
    /// Fan-out read: nodes done with the cold pass, and when the last of them was; the
    /// warm pass starts on every node then, as the live passes do (a barrier).
    pub(super) cold_done: u32,
    pub(super) cold_end: SimTime,
    /// Offload: per node, the device jobs submitted since its last doorbell.
    pub(super) unrung: Vec<Vec<Unrung>>,
}

impl<'a> Model<'a> {
    /// The model of `spec` on `cluster`: every node's servers, idle, at time zero.
    pub(super) fn new(
        spec: &'a ScenarioSpec,
        mode: Mode,
        cluster: &'a ClusterSpec,
        c: Costs,
        (shapes, dpu_names): (Option<Shapes>, Vec<(String, u32)>),
        sizing: Sizing,
        kv: Vec<Vec<(u32, u32)>>,
    ) -> Model<'a> {
        let Sizing { workers, batch, blocks } = sizing;
        // Servers.
        let mut arena = UnitArena::new();
        let shared_cores = cluster.colocated.then(|| arena.add(cluster.host_cores));
        let blob = arena.add(1);
        // The background copy uploads `upload_concurrency` chunks at once, as the live copier does.
        let copier = arena.add(spec.blob_options.upload_concurrency.max(1));
        let fabric = (!cluster.colocated && cluster.oversubscription > 1.0).then(|| arena.add(1));
        let mut nodes = Vec::with_capacity(spec.nodes as usize);
        let mut dpu = Vec::new();
        for _ in 0..spec.nodes {
            let thread = arena.add(1);
            let cores = shared_cores.unwrap_or_else(|| arena.add(cluster.host_cores));
            // Each node its own disk server, colocated too: what colocated writers do to each
            // other is `other_writers` ([`crowd_slowdown`]), not turns at one server.
            let disk = arena.add(1);
            let (nic_tx, nic_rx) =
                if cluster.colocated { (None, None) } else { (Some(arena.add(1)), Some(arena.add(1))) };
            let dpu_first = dpu.len() as u32;
            for (_, units) in &dpu_names {
                dpu.push(arena.add(*units));
            }
            nodes.push(NodeServers { thread, cores, disk, nic_tx, nic_rx, dpu_first });
        }
        let pending = (spec.nodes as usize) * (spec.queue_depth as usize + 2);
        Model {
            spec,
            mode,
            cluster,
            c,
            shapes,
            arena,
            nodes,
            state: vec![NodeState::default(); spec.nodes as usize],
            dpu,
            dpu_per_node: dpu_names.len(),
            dpu_names,
            blob,
            fabric,
            copier,
            sched: Scheduler::with_capacity(pending),
            batch,
            blocks,
            holder: vec![(NO_HOLDER, 0); blocks as usize],
            e2e: StageHist::new("end_to_end", Source::Modelled),
            host_cpu_ns: 0.0,
            dev_jobs: 0,
            dev_descriptors: 0,
            egress_bytes: 0,
            peer_bytes: 0,
            hits: 0,
            misses: 0,
            bytes: 0,
            ops: 0,
            stored_bytes: 0,
            blob_put_bytes: 0,
            kv,
            issued_ns: vec![0; workers as usize * spec.queue_depth as usize],
            writes: vec![
                VecDeque::new();
                if spec.kind == ScenarioKind::FanOutWrite { workers as usize } else { 0 }
            ],
            copies: vec![
                BinaryHeap::new();
                if spec.kind == ScenarioKind::FanOutWrite { workers as usize } else { 0 }
            ],
            other_writers: if cluster.colocated && spec.kind != ScenarioKind::FanInRead {
                f64::from(workers.saturating_sub(1))
            } else {
                0.0
            },
            cpu_stretch: if cluster.colocated {
                (f64::from(workers.min(cluster.host_cores)) / cluster.effective_cores).max(1.0)
            } else {
                1.0
            },
            cold_done: 0,
            cold_end: SimTime::ZERO,
            unrung: vec![Vec::new(); if mode == Mode::Offload { workers as usize } else { 0 }],
        }
    }

    pub(super) fn blocks_len(&self, block: u32) -> u32 {
        let chunks = self.chunks_per_object();
        let start = u64::from(block) * u64::from(self.batch);
        (chunks - start).min(u64::from(self.batch)) as u32
    }

    pub(super) fn chunks_per_object(&self) -> u64 {
        self.spec.chunks_per_object()
    }

    pub(super) fn offload(&self) -> bool {
        self.mode == Mode::Offload && self.shapes.is_some()
    }

    /// CPU work on the node's thread and a core together.
    pub(super) fn cpu(&mut self, node: u32, at: SimTime, work_ns: f64) -> SimTime {
        if work_ns <= 0.0 {
            return at;
        }
        let n = self.nodes[node as usize];
        self.host_cpu_ns += work_ns;
        let d = ns(work_ns * self.cpu_stretch);
        // Hold both: start when the thread and a core are free.
        let start = self.earliest(&[n.thread, n.cores], at);
        let bt = self.arena.book(n.thread, start, d);
        let bc = self.arena.book(n.cores, start, d);
        bt.end.max(bc.end)
    }

    /// Earliest time at or after `at` when one unit of each server is free.
    pub(super) fn earliest(&self, servers: &[FifoServer], at: SimTime) -> SimTime {
        servers.iter().fold(at, |t, s| t.max(self.arena.earliest_free(*s)))
    }

    /// Blocking I/O on the local tier: `wall_ns` shared as `s` says, its serial share on
    /// the node's disk (see [`Model::shared_op`]); then, colocated, `s.crowd` of the wall
    /// more per other node writing to the same file system ([`crowd_slowdown`]).
    pub(super) fn io(&mut self, node: u32, at: SimTime, wall_ns: f64, s: IoShares) -> SimTime {
        let n = self.nodes[node as usize];
        let t = self.shared_op(node, at, wall_ns, s.cpu, s.serial, n.disk);
        let slowed = wall_ns * s.crowd * self.other_writers;
        if slowed <= 0.0 {
            return t;
        }
        // The wait is the file system's: it holds the node's disk too, so that its
        // utilization (and the bottleneck) shows it.
        let start = self.earliest(&[n.thread, n.disk], t);
        self.arena.book(n.disk, start, ns(slowed));
        self.arena.book(n.thread, start, ns(slowed)).end
    }

    /// A blocking op of `wall_ns` on the node's thread: the `serial` share holds `shared`
    /// too (one op at a time there), the CPU share a core, the rest only the thread. The
    /// calibration measures the shares; with one node all three add up to the wall.
    pub(super) fn shared_op(
        &mut self,
        node: u32,
        at: SimTime,
        wall_ns: f64,
        cpu_share: f64,
        serial: f64,
        shared: FifoServer,
    ) -> SimTime {
        // An op that costs nothing books nothing: a zero-length booking would still move
        // the shared server's clock to where it is made (servers are booked in the order
        // events are handled), holding another node's earlier op behind it.
        if wall_ns <= 0.0 {
            return at;
        }
        let serial = serial.clamp(0.0, 1.0);
        let cpu_share = cpu_share.clamp(0.0, 1.0);
        let on_core = cpu_share.min(1.0 - serial);
        // CPU the op burns while it holds the shared server (a GET is mostly CPU and
        // partly serial): it holds a core for that long too, from the same start.
        let inside = cpu_share - on_core;
        let t = self.cpu(node, at, wall_ns * on_core);
        let t = if serial > 0.0 {
            let n = self.nodes[node as usize];
            let start = if inside > 0.0 {
                self.earliest(&[n.thread, shared, n.cores], t)
            } else {
                self.earliest(&[n.thread, shared], t)
            };
            if inside > 0.0 {
                self.host_cpu_ns += wall_ns * inside;
                self.arena.book(n.cores, start, ns(wall_ns * inside * self.cpu_stretch));
            }
            let d = ns(wall_ns * serial);
            self.arena.book(n.thread, start, d);
            self.arena.book(shared, start, d).end
        } else {
            t
        };
        self.wait(node, t, wall_ns * (1.0 - serial - on_core))
    }

    /// The writes and sync of a fan-out write batch, pushed at `at` by the node's write
    /// pipeline while its thread goes on: they start when the node's shard file is free
    /// (one sync per file at a time, as the live pipeline keeps it) and the node's disk can
    /// take them, hold the disk for their serial share, and complete their wall after they
    /// start, `s.crowd` of it more per other colocated writer ([`crowd_slowdown`]). Their
    /// CPU share holds a core, not the thread, booked now (see [`acknowledge_write`] for
    /// why now). Returns when they complete.
    pub(super) fn pipelined_io(&mut self, node: u32, at: SimTime, wall_ns: f64, s: IoShares) -> SimTime {
        let ni = node as usize;
        let at = at.max(SimTime::from_ns(self.state[ni].file_free_ns));
        if wall_ns <= 0.0 {
            return at;
        }
        let n = self.nodes[ni];
        let cpu = wall_ns * s.cpu.clamp(0.0, 1.0);
        if cpu > 0.0 {
            self.host_cpu_ns += cpu;
            self.arena.book(n.cores, at, ns(cpu * self.cpu_stretch));
        }
        let serial = s.serial.clamp(0.0, 1.0);
        let slowed = wall_ns * s.crowd * self.other_writers;
        let start = if serial > 0.0 || slowed > 0.0 {
            let start = self.earliest(&[n.disk], at);
            self.arena.book(n.disk, start, ns(wall_ns * serial + slowed)).start
        } else {
            at
        };
        let done = start + ns(wall_ns + slowed);
        self.state[ni].file_free_ns = done.as_ns();
        done
    }

    /// A wait that holds only the node's thread (a blocking call on no modelled resource).
    pub(super) fn wait(&mut self, node: u32, at: SimTime, wall_ns: f64) -> SimTime {
        if wall_ns <= 0.0 {
            return at;
        }
        let th = self.nodes[node as usize].thread;
        self.arena.book(th, at, ns(wall_ns)).end
    }

    /// A device job the host waits for: host-side submit and poll on the CPU, then (the
    /// doorbell rung at once) the DPU's stages.
    pub(super) fn device(&mut self, node: u32, at: SimTime, job: DeviceJob, times: u32) -> SimTime {
        let t = self.cpu(node, at, self.c.dev_job_ns * f64::from(times));
        self.on_device(node, t, job, times)
    }

    /// A device job the host goes on from: its host-side cost now, its DPU stages once
    /// its doorbell rings ([`Model::ring`]), which this submit does when it makes `batch`
    /// unrung jobs. Returns when the node's thread is free.
    pub(super) fn submit_device(
        &mut self,
        node: u32,
        at: SimTime,
        job: Unrung,
    ) -> Result<SimTime, ScaleError> {
        let t = self.cpu(node, at, self.c.dev_job_ns * f64::from(job.chunks));
        let unrung = &mut self.unrung[node as usize];
        unrung.push(job);
        let jobs: u32 = unrung.iter().map(|j| j.chunks).sum();
        if jobs >= self.spec.batch.max(1) {
            self.ring(node, t)?;
        }
        Ok(t)
    }

    /// The node's doorbell: the device fetches every job submitted since the last one.
    pub(super) fn ring(&mut self, node: u32, at: SimTime) -> Result<(), ScaleError> {
        let mut jobs = std::mem::take(&mut self.unrung[node as usize]);
        for j in &jobs {
            let done = self.on_device(node, at, j.job, j.chunks);
            self.schedule(done, node, j.token, j.then)?;
        }
        // The emptied list goes back, to be reused without allocating.
        jobs.clear();
        self.unrung[node as usize] = jobs;
        Ok(())
    }

    /// A job's stages on the node's DPU, fetched at `t`.
    pub(super) fn on_device(&mut self, node: u32, t: SimTime, job: DeviceJob, times: u32) -> SimTime {
        let Some(shapes) = &self.shapes else { return t };
        let shape = shapes.get(job);
        self.dev_jobs += u64::from(times);
        self.dev_descriptors += shape.ops.len() as u64 * u64::from(times);
        let first = self.nodes[node as usize].dpu_first as usize;
        let servers = &self.dpu[first..first + self.dpu_per_node];
        shape.book(&mut self.arena, servers, t, times)
    }

    /// `chunks` blob-tier GETs of stored chunks, one after another, each copied into a
    /// slot. Colocated nodes share one client: the calibrated serial share of a GET holds
    /// the blob tier's server. In a cluster each node has its own client, and the network
    /// and the blob tier's bandwidth are modelled by [`Model::transfer`].
    pub(super) fn blob_get(&mut self, node: u32, at: SimTime, chunks: u32) -> SimTime {
        self.blob_get_batch(node, at, chunks, 1)
    }

    /// `chunks` blob-tier GETs made `lanes` at a time through the node's client (a
    /// reader's `get_ranges_unverified` with `read_concurrency` requests in flight), each
    /// then copied into a slot. The node's thread waits for each batch of `lanes`, whose
    /// wall comes from the calibration (see [`Model::get_batch_ns`]).
    pub(super) fn blob_get_batch(&mut self, node: u32, at: SimTime, chunks: u32, lanes: u32) -> SimTime {
        let lanes = lanes.clamp(1, chunks.max(1));
        let rest = chunks % lanes;
        let wall = f64::from(chunks / lanes) * self.get_batch_ns(lanes)
            + if rest > 0 { self.get_batch_ns(rest) } else { 0.0 };
        let serial = if self.cluster.colocated { self.c.blob_get_serial } else { 0.0 };
        let t = self.shared_op(node, at, wall, self.c.blob_get_cpu_share, serial, self.blob);
        self.cpu(node, t, self.c.memcpy_stored_ns * f64::from(chunks))
    }

    /// Wall of `k` GETs at once through one client: one GET, plus for each further
    /// request what the calibration's batch of several added per request over one (a
    /// straight line through the two measurements, extended past the larger). Without
    /// that measurement, one after another.
    pub(super) fn get_batch_ns(&self, k: u32) -> f64 {
        let one = self.c.blob_get_ns;
        let per_more = match self.c.blob_get_batch {
            Some((n, wall)) if n > 1 => ((wall - one) / f64::from(n - 1)).max(0.0),
            _ => one,
        };
        one + per_more * f64::from(k.saturating_sub(1))
    }

    /// A transfer over the network into `node`: from `source` (a peer's NIC, or the blob
    /// tier), streaming: each later hop starts when the one before starts.
    /// `requests` rounds of blob requests are made one after another, each paying the
    /// latency.
    pub(super) fn transfer(
        &mut self,
        node: u32,
        at: SimTime,
        bytes: u64,
        from_peer: Option<u32>,
        requests: u32,
    ) -> SimTime {
        if self.cluster.colocated {
            return at;
        }
        let mut start = at;
        let mut end = at;
        let hop =
            |arena: &mut UnitArena, s: FifoServer, rate: f64, start: &mut SimTime, end: &mut SimTime| {
                let b = arena.book(s, *start, ns(bytes as f64 / rate * 1e9));
                *start = b.start;
                *end = (*end).max(b.end);
            };
        match from_peer {
            Some(p) => {
                if let Some(tx) = self.nodes[p as usize].nic_tx {
                    hop(&mut self.arena, tx, self.cluster.nic_bytes_per_s, &mut start, &mut end);
                }
            }
            None => {
                let blob = self.blob;
                hop(&mut self.arena, blob, self.cluster.blob_bytes_per_s, &mut start, &mut end);
                start +=
                    SimDuration::from_ns(self.cluster.blob_latency_ns.saturating_mul(u64::from(requests)));
                end = end.max(start);
            }
        }
        if let Some(core) = self.fabric {
            let rate = self.fabric_rate();
            hop(&mut self.arena, core, rate, &mut start, &mut end);
        }
        if let Some(rx) = self.nodes[node as usize].nic_rx {
            hop(&mut self.arena, rx, self.cluster.nic_bytes_per_s, &mut start, &mut end);
        }
        end
    }

    /// A transfer out of `node` to the blob tier (background copy).
    pub(super) fn upload(&mut self, node: u32, at: SimTime, bytes: u64) -> SimTime {
        if self.cluster.colocated {
            return at;
        }
        let mut t = at;
        let mut end = at;
        let rate = self.cluster.nic_bytes_per_s;
        if let Some(tx) = self.nodes[node as usize].nic_tx {
            let b = self.arena.book(tx, t, ns(bytes as f64 / rate * 1e9));
            t = b.start;
            end = end.max(b.end);
        }
        if let Some(core) = self.fabric {
            let r = self.fabric_rate();
            let b = self.arena.book(core, t, ns(bytes as f64 / r * 1e9));
            t = b.start;
            end = end.max(b.end);
        }
        let b = self.arena.book(self.blob, t, ns(bytes as f64 / self.cluster.blob_bytes_per_s * 1e9));
        end.max(b.end)
    }

    pub(super) fn fabric_rate(&self) -> f64 {
        f64::from(self.spec.nodes) * self.cluster.nic_bytes_per_s / self.cluster.oversubscription
    }

    pub(super) fn schedule(
        &mut self,
        at: SimTime,
        node: u32,
        token: u32,
        step: Step,
    ) -> Result<(), ScaleError> {
        self.sched.schedule(at, Ev { node, token, step }).map_err(|e| ScaleError::Model(e.to_string()))
    }

    pub(super) fn issued_slot(&self, node: u32, token: u32) -> usize {
        node as usize * self.spec.queue_depth as usize + (token % self.spec.queue_depth) as usize
    }

    pub(super) fn finish_chunks(&mut self, node: u32, chunks: u32, start_ns: u64, now: SimTime) {
        let per_chunk = now.as_ns().saturating_sub(start_ns) / u64::from(chunks.max(1));
        for _ in 0..chunks {
            self.e2e.record(per_chunk);
        }
        self.bytes += self.c.chunk * u64::from(chunks);
        self.ops += u64::from(chunks);
        let st = &mut self.state[node as usize];
        st.end_ns = st.end_ns.max(now.as_ns());
    }
}

/// A device job submitted and not yet rung: the device fetches it at the doorbell (every
/// `batch` jobs, or when the host waits for a completion), as a live DPU polling its queue
/// does. `then` is the node's step when the job completes.
#[derive(Clone, Copy)]
pub(super) struct Unrung {
    pub(super) token: u32,
    pub(super) chunks: u32,
    pub(super) job: DeviceJob,
    pub(super) then: Step,
}

pub(super) const NO_HOLDER: u32 = u32::MAX;

/// A fan-out write's commit in the local tier's write pipeline, not yet acknowledged.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingWrite {
    /// When its writes and their sync complete; `None` until its sync is pushed.
    pub(super) done: Option<SimTime>,
    /// Its writes and sync, wall ns.
    pub(super) wall_ns: f64,
    /// Chunks it commits, and the write batches (local-tier calls) they make.
    pub(super) chunks: u32,
    pub(super) batches: u32,
    /// When its first chunk was issued.
    pub(super) start_ns: u64,
}
