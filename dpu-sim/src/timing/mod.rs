//! The timing model of the software DPU, on a virtual clock.
//!
//! Each descriptor passes through a chain of resources, each a queueing server
//! ([`Resource`]) with its own parallel units and service time:
//!
//! ```text
//! per batch:  doorbell (host MMIO write) -> descriptor fetch (DMA read, n x 64 B)
//! per op:     source DMA read (bytes_in) -> engine or DPU cores -> result DMA write
//!             (bytes_out) -> completion DMA write (32 B)
//! ```
//!
//! Service times are a fixed cost plus bytes over a rate. PCIe transfers are costed from
//! the profile's generation, lanes, MPS, MRRS and TLP overhead, capped by the DMA engine's
//! measured request rate and bandwidth. A DMA read is non-posted: the engine's per-request
//! cost and the returning data serialize (this fits the BlueField-2 table within 4 %).
//! A DMA write is posted: issuing overlaps with data, so the slower of the two governs.
//! Propagation latency (read round trip, write landing) delays the next stage but does not
//! occupy the resource. Stages are store-and-forward.
//!
//! How the engine drives it, per batch of `n` descriptors rung at host time `t`:
//!
//! ```
//! # use dpukit_sim::profile::{Algorithm, Profile};
//! # use dpukit_sim::timing::*;
//! let mut model = TimingModel::new(&Profile::builtin("bluefield-2")?)?;
//! let batch = model.doorbell(SimTime::ZERO, 2)?;
//! let op = OpCost { kind: OpKind::Compress(Algorithm::Deflate), bytes_in: 65536, bytes_out: 30000 };
//! let first = model.submit(batch.descriptors_ready, &op)?;
//! // A fenced op starts no earlier than the previous completion.
//! let second = model.submit_fenced(batch.descriptors_ready, first.completion, &op)?;
//! assert!(second.start >= first.completion);
//! let hot = model.bottleneck().unwrap();
//! assert_eq!(hot.name, "accel:compress");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Ops are served in submission order where they queue for the same unit; submit with
//! non-decreasing arrivals (an earlier arrival is served, but no earlier than the latest
//! arrival already seen, whose past has been forgotten). Deterministic: no wall clock, no
//! randomness (faults come from a seeded [`FaultPlan`]).

#![forbid(unsafe_code)]

mod fault;
mod op;
mod resource;
mod time;

pub use fault::{FaultConfigError, FaultPlan, SplitMix64};
pub use op::{BatchTiming, OpCost, OpKind, OpTiming, Route, Stage, UserOpCost};
pub use resource::{Resource, ResourceId, ResourceStats, CALENDAR_CAPACITY};
pub use time::{SimDuration, SimTime};

use crate::profile::{AccelOp, Algorithm, PcieSpec, Profile, ProfileKind};

/// Bytes of one descriptor fetched over PCIe.
pub const DESCRIPTOR_BYTES: u64 = 64;
/// Bytes of one completion record written over PCIe.
pub const COMPLETION_BYTES: u64 = 32;
/// Largest number of descriptors one doorbell may announce.
pub const MAX_DOORBELL_BATCH: u32 = 4096;

/// Why the model cannot time something.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(
        "profile `{profile}` has no device: the host CPU ({host_cpu}) runs every op, \
         measured, not modelled"
    )]
    NoDevice { profile: String, host_cpu: String },
    #[error(
        "profile `{profile}`: {op} has no engine and no device cores; it runs on the host \
         CPU, measured, not modelled"
    )]
    NoRoute { profile: String, op: &'static str },
    #[error("doorbell batch of {descriptors} descriptors: must be 1..={max}")]
    BatchSize { descriptors: u32, max: u32 },
    #[error(
        "user op {id}: fixed_ns must be finite and >= 0 and bytes_per_s finite and > 0, \
         got {fixed_ns} and {bytes_per_s}"
    )]
    BadUserCost { id: u32, fixed_ns: f64, bytes_per_s: f64 },
}

/// Per-byte and per-request costs of the link, precomputed from the profile.
#[derive(Debug, Clone)]
struct LinkCosts {
    doorbell: ResourceId,
    dma_read: ResourceId,
    dma_write: ResourceId,
    spec: PcieSpec,
    doorbell_ns: f64,
    raw_ns_per_byte: f64,
    read_request_ns: f64,
    write_request_ns: f64,
    read_cap_ns_per_byte: f64,
    write_cap_ns_per_byte: f64,
    read_latency: SimDuration,
    write_latency: SimDuration,
}

#[derive(Debug, Clone)]
struct CoreCosts {
    resource: ResourceId,
    per_op_fixed_ns: f64,
    crc32c_ns_per_byte: f64,
    copy_ns_per_byte: f64,
    compress_ns_per_byte: [f64; 3],
    decompress_ns_per_byte: [f64; 3],
    cache_lookup_ns: f64,
    cache_insert_ns: f64,
    cache_delete_ns: f64,
    /// A sleeping core's wake-up, and how long idle cores poll before they sleep.
    wake: SimDuration,
    idle_spin: SimDuration,
}

#[derive(Debug, Clone)]
struct AccelCosts {
    resource: ResourceId,
    ops: Vec<AccelOp>,
    algorithms: Vec<Algorithm>,
    setup_ns: f64,
    ns_per_byte: f64,
    min_efficient_size_bytes: u64,
}

fn ns_per_byte(bytes_per_s: f64) -> f64 {
    1e9 / bytes_per_s
}

fn algorithm_index(a: Algorithm) -> usize {
    match a {
        Algorithm::Deflate => 0,
        Algorithm::Lz4 => 1,
        Algorithm::Zstd => 2,
    }
}

/// The device's resources and their queues for one profile.
#[derive(Debug, Clone)]
pub struct TimingModel {
    profile_name: String,
    resources: Vec<Resource>,
    link: Option<LinkCosts>,
    cores: Option<CoreCosts>,
    accelerators: Vec<AccelCosts>,
    /// Latest arrival seen; no resource keeps history before it.
    horizon: SimTime,
    /// Latest completion (or stage end) so far; the default end of the stats window.
    makespan: SimTime,
}

impl TimingModel {
    /// Builds the model, or `NoDevice` for a host-only profile.
    pub fn new(profile: &Profile) -> Result<TimingModel, ModelError> {
        if profile.kind == ProfileKind::HostOnly {
            return Err(ModelError::NoDevice {
                profile: profile.name.clone(),
                host_cpu: profile.host.cpu.clone(),
            });
        }
        let mut resources = Vec::new();
        let mut add = |name: String, units: u32| {
            resources.push(Resource::new(name, units));
            ResourceId(resources.len() - 1)
        };
        let link = profile.pcie.as_ref().map(|p| {
            let cap =
                |f: &Option<crate::profile::Figure<f64>>| f.as_ref().map_or(0.0, |f| ns_per_byte(f.value));
            LinkCosts {
                doorbell: add("doorbell".into(), 1),
                dma_read: add("pcie-dma-read".into(), 1),
                dma_write: add("pcie-dma-write".into(), 1),
                doorbell_ns: p.doorbell_ns.value,
                raw_ns_per_byte: ns_per_byte(p.raw_bandwidth_bytes_per_s()),
                read_request_ns: ns_per_byte(p.max_dma_read_requests_per_s.value),
                write_request_ns: ns_per_byte(p.max_dma_write_requests_per_s.value),
                read_cap_ns_per_byte: cap(&p.dma_read_bandwidth_bytes_per_s),
                write_cap_ns_per_byte: cap(&p.dma_write_bandwidth_bytes_per_s),
                read_latency: SimDuration::from_ns_f64(p.dma_read_latency_ns.value),
                write_latency: SimDuration::from_ns_f64(p.dma_write_latency_ns.value),
                spec: p.clone(),
            }
        });
        let cores = profile.cores.as_ref().map(|c| {
            let per_algorithm = |rates: &crate::profile::AlgorithmRates| {
                Algorithm::ALL.map(|a| ns_per_byte(rates.get(a).value))
            };
            CoreCosts {
                resource: add("dpu-cores".into(), c.count.value),
                per_op_fixed_ns: c.per_op_fixed_ns.value,
                crc32c_ns_per_byte: ns_per_byte(c.crc32c_bytes_per_s.value),
                copy_ns_per_byte: ns_per_byte(c.copy_bytes_per_s.value),
                compress_ns_per_byte: per_algorithm(&c.compress_bytes_per_s),
                decompress_ns_per_byte: per_algorithm(&c.decompress_bytes_per_s),
                cache_lookup_ns: ns_per_byte(c.cache_lookup_ops_per_s.value),
                cache_insert_ns: ns_per_byte(c.cache_insert_ops_per_s.value),
                cache_delete_ns: ns_per_byte(c.cache_delete_ops_per_s.value),
                wake: SimDuration::from_ns_f64(c.wake_ns.as_ref().map_or(0.0, |f| f.value)),
                idle_spin: SimDuration::from_ns_f64(c.idle_spin_ns.as_ref().map_or(0.0, |f| f.value)),
            }
        });
        let accelerators = profile
            .accelerators
            .iter()
            .map(|a| AccelCosts {
                resource: add(format!("accel:{}", a.name), a.engines.value),
                ops: a.ops.clone(),
                algorithms: a.algorithms.clone(),
                setup_ns: a.setup_latency_ns.value,
                ns_per_byte: ns_per_byte(a.bandwidth_bytes_per_s.value),
                min_efficient_size_bytes: a.min_efficient_size_bytes.value,
            })
            .collect();
        Ok(TimingModel {
            profile_name: profile.name.clone(),
            resources,
            link,
            cores,
            accelerators,
            horizon: SimTime::ZERO,
            makespan: SimTime::ZERO,
        })
    }

    pub fn profile_name(&self) -> &str {
        &self.profile_name
    }

    /// Where `kind` runs: a listed engine first, else the DPU cores (as on the device,
    /// e.g. LZ4 on BlueField-2 or compress on BlueField-3).
    pub fn route(&self, kind: &OpKind) -> Result<Route, ModelError> {
        let wanted = match *kind {
            OpKind::Nop => return Ok(Route::NoCompute),
            OpKind::Crc32c => Some((AccelOp::Crc32c, None)),
            OpKind::Copy => Some((AccelOp::Copy, None)),
            OpKind::CopyCrc32c => Some((AccelOp::CopyCrc32c, None)),
            OpKind::Compress(a) => Some((AccelOp::Compress, Some(a))),
            OpKind::Decompress(a) => Some((AccelOp::Decompress, Some(a))),
            OpKind::CacheLookup | OpKind::CacheInsert | OpKind::CacheDelete | OpKind::User(_) => None,
        };
        if let Some((op, algorithm)) = wanted {
            let found = self
                .accelerators
                .iter()
                .position(|a| a.ops.contains(&op) && algorithm.is_none_or(|alg| a.algorithms.contains(&alg)));
            if let Some(i) = found {
                return Ok(Route::Accelerator(i));
            }
        }
        if self.cores.is_some() {
            return Ok(Route::DpuCores);
        }
        Err(ModelError::NoRoute { profile: self.profile_name.clone(), op: kind.name() })
    }

    /// Service time of the compute stage of `op` on `route`.
    pub fn compute_service(&self, route: Route, op: &OpCost) -> Result<SimDuration, ModelError> {
        let ns = match route {
            Route::NoCompute => 0.0,
            Route::Accelerator(i) => {
                let a = &self.accelerators[i];
                let work_bytes = match op.kind {
                    OpKind::Decompress(_) => op.bytes_out,
                    _ => op.bytes_in,
                };
                a.setup_ns + work_bytes as f64 * a.ns_per_byte
            }
            Route::DpuCores => {
                let c = self.cores.as_ref().ok_or_else(|| ModelError::NoRoute {
                    profile: self.profile_name.clone(),
                    op: op.kind.name(),
                })?;
                let bytes_in = op.bytes_in as f64;
                let work_ns = match op.kind {
                    OpKind::Nop => 0.0,
                    OpKind::Crc32c => bytes_in * c.crc32c_ns_per_byte,
                    OpKind::Copy => bytes_in * c.copy_ns_per_byte,
                    // Two passes: a core has no fused copy+CRC.
                    OpKind::CopyCrc32c => bytes_in * (c.copy_ns_per_byte + c.crc32c_ns_per_byte),
                    OpKind::Compress(a) => bytes_in * c.compress_ns_per_byte[algorithm_index(a)],
                    OpKind::Decompress(a) => {
                        op.bytes_out as f64 * c.decompress_ns_per_byte[algorithm_index(a)]
                    }
                    OpKind::CacheLookup => c.cache_lookup_ns,
                    OpKind::CacheInsert => c.cache_insert_ns,
                    OpKind::CacheDelete => c.cache_delete_ns,
                    OpKind::User(u) => {
                        if !(u.fixed_ns.is_finite()
                            && u.fixed_ns >= 0.0
                            && u.bytes_per_s.is_finite()
                            && u.bytes_per_s > 0.0)
                        {
                            return Err(ModelError::BadUserCost {
                                id: u.id,
                                fixed_ns: u.fixed_ns,
                                bytes_per_s: u.bytes_per_s,
                            });
                        }
                        u.fixed_ns + bytes_in * ns_per_byte(u.bytes_per_s)
                    }
                };
                c.per_op_fixed_ns + work_ns
            }
        };
        Ok(SimDuration::from_ns_f64(ns))
    }

    fn advance_horizon(&mut self, arrival: SimTime) {
        if arrival > self.horizon {
            self.horizon = arrival;
            for r in &mut self.resources {
                r.prune(arrival);
            }
        }
    }

    fn book(&mut self, id: ResourceId, ready: SimTime, service: SimDuration) -> Stage {
        let (start, end) = self.resources[id.0].book(ready, service);
        self.makespan = self.makespan.max(end);
        Stage { ready, start, end, done: end }
    }

    /// Rings the doorbell for `descriptors` descriptors at host time `at`; the device then
    /// fetches them in one DMA read. Without a PCIe hop (on-CPU engines, host cores) both
    /// cost nothing, but cores that sleep when idle take their wake-up
    /// ([`Self::wakes_cores`]) before they fetch.
    pub fn doorbell(&mut self, at: SimTime, descriptors: u32) -> Result<BatchTiming, ModelError> {
        if descriptors == 0 || descriptors > MAX_DOORBELL_BATCH {
            return Err(ModelError::BatchSize { descriptors, max: MAX_DOORBELL_BATCH });
        }
        self.advance_horizon(at);
        let Some(link) = &self.link else {
            let s = Stage::instant(at);
            let ready = at + self.wakes_cores(at);
            return Ok(BatchTiming { doorbell: s, descriptor_fetch: s, descriptors_ready: ready });
        };
        let (id, service) = (link.doorbell, SimDuration::from_ns_f64(link.doorbell_ns));
        let doorbell = self.book(id, at, service);
        let descriptor_fetch = self.dma_read_stage(doorbell.end, u64::from(descriptors) * DESCRIPTOR_BYTES);
        Ok(BatchTiming { doorbell, descriptor_fetch, descriptors_ready: descriptor_fetch.done })
    }

    /// One device-initiated DMA read of `bytes` from host memory, ready at `at`, outside
    /// any op (e.g. a scatter-gather list or a raw DMA benchmark).
    pub fn dma_read(&mut self, at: SimTime, bytes: u64) -> Stage {
        self.advance_horizon(at);
        self.dma_read_stage(at, bytes)
    }

    /// One device-initiated posted DMA write of `bytes` to host memory, ready at `at`,
    /// outside any op.
    pub fn dma_write(&mut self, at: SimTime, bytes: u64) -> Stage {
        self.advance_horizon(at);
        self.dma_write_stage(at, bytes)
    }

    fn dma_read_stage(&mut self, at: SimTime, bytes: u64) -> Stage {
        let Some(link) = &self.link else {
            return Stage::instant(at);
        };
        let wire_ns = link.spec.read_wire_bytes(bytes) as f64 * link.raw_ns_per_byte;
        let data_ns = wire_ns.max(bytes as f64 * link.read_cap_ns_per_byte);
        // Non-posted: per-request cost and data serialize.
        let service = SimDuration::from_ns_f64(link.read_request_ns + data_ns);
        let (id, latency) = (link.dma_read, link.read_latency);
        let mut stage = self.book(id, at, service);
        stage.done = stage.end + latency;
        self.makespan = self.makespan.max(stage.done);
        stage
    }

    fn dma_write_stage(&mut self, at: SimTime, bytes: u64) -> Stage {
        let Some(link) = &self.link else {
            return Stage::instant(at);
        };
        let wire_ns = link.spec.write_wire_bytes(bytes) as f64 * link.raw_ns_per_byte;
        let data_ns = wire_ns.max(bytes as f64 * link.write_cap_ns_per_byte);
        // Posted: issuing the request overlaps with moving the data.
        let service = SimDuration::from_ns_f64(link.write_request_ns.max(data_ns));
        let (id, latency) = (link.dma_write, link.write_latency);
        let mut stage = self.book(id, at, service);
        stage.done = stage.end + latency;
        self.makespan = self.makespan.max(stage.done);
        stage
    }

    /// Times one op whose descriptor is on the device at `arrival`.
    pub fn submit(&mut self, arrival: SimTime, op: &OpCost) -> Result<OpTiming, ModelError> {
        self.submit_fenced(arrival, SimTime::ZERO, op)
    }

    /// As [`Self::submit`], but the op starts no earlier than `not_before` (a fence: pass
    /// the previous op's completion, or a stall's end from [`FaultPlan::stalled_until`]).
    pub fn submit_fenced(
        &mut self,
        arrival: SimTime,
        not_before: SimTime,
        op: &OpCost,
    ) -> Result<OpTiming, ModelError> {
        let route = self.route(&op.kind)?;
        let service = self.compute_service(route, op)?;
        let t0 = arrival.max(not_before);
        self.advance_horizon(t0);

        let source_read =
            if op.bytes_in > 0 { self.dma_read_stage(t0, op.bytes_in) } else { Stage::instant(t0) };
        let (compute, below_min_efficient_size) = match route {
            Route::NoCompute => (Stage::instant(source_read.done), false),
            Route::DpuCores => {
                let id = self.cores.as_ref().map(|c| c.resource).expect("routed to cores");
                (self.book(id, source_read.done, service), false)
            }
            Route::Accelerator(i) => {
                let a = &self.accelerators[i];
                let below = op.bytes_in.max(op.bytes_out) < a.min_efficient_size_bytes;
                let id = a.resource;
                (self.book(id, source_read.done, service), below)
            }
        };
        let result_write = if op.bytes_out > 0 {
            self.dma_write_stage(compute.done, op.bytes_out)
        } else {
            Stage::instant(compute.done)
        };
        // Posted writes stay ordered: the completion follows the result data.
        let completion_write = if self.link.is_some() {
            self.dma_write_stage(result_write.end, COMPLETION_BYTES)
        } else {
            Stage::instant(result_write.done)
        };
        let completion = completion_write.done.max(result_write.done);
        self.makespan = self.makespan.max(completion);
        let start = if op.bytes_in > 0 {
            source_read.start
        } else if route != Route::NoCompute {
            compute.start
        } else {
            completion_write.start
        };
        debug_assert!(start >= arrival && completion >= start);
        Ok(OpTiming {
            arrival,
            start,
            completion,
            route,
            source_read,
            compute,
            result_write,
            completion_write,
            below_min_efficient_size,
        })
    }

    /// Rings a doorbell for one descriptor at `at` and times it: the unbatched path.
    pub fn submit_single(&mut self, at: SimTime, op: &OpCost) -> Result<(BatchTiming, OpTiming), ModelError> {
        let batch = self.doorbell(at, 1)?;
        let timing = self.submit(batch.descriptors_ready, op)?;
        Ok((batch, timing))
    }

    /// The wake-up a doorbell at `at` costs: the cores' `wake_ns` when they have been idle
    /// for longer than their `idle_spin_ns` (asleep), else nothing.
    pub fn wakes_cores(&self, at: SimTime) -> SimDuration {
        match &self.cores {
            Some(c) if c.wake > SimDuration::ZERO => {
                let idle_since = self.resources[c.resource.0].last_end();
                if at > idle_since + c.idle_spin {
                    c.wake
                } else {
                    SimDuration::ZERO
                }
            }
            _ => SimDuration::ZERO,
        }
    }

    /// The wake-up of a host that waits `waited` for a completion the cores post: their
    /// `wake_ns` when the wait outlasts `idle_spin_ns` (the host blocked and the device
    /// woke it), else nothing.
    pub fn host_wake(&self, waited: SimDuration) -> SimDuration {
        match &self.cores {
            Some(c) if c.wake > SimDuration::ZERO && waited > c.idle_spin => c.wake,
            _ => SimDuration::ZERO,
        }
    }

    /// Latest completion (or stage end) timed so far.
    pub fn makespan(&self) -> SimTime {
        self.makespan
    }

    /// Starts a new statistics window on every resource at `at`.
    pub fn reset_window(&mut self, at: SimTime) {
        for r in &mut self.resources {
            r.reset_window(at);
        }
    }

    /// The model's resources, in order: doorbell, DMA read, DMA write (if there is a
    /// PCIe hop), DPU cores (if any), then one pool per accelerator.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Statistics of every resource over the window ending at `until`.
    pub fn stats_until(&self, until: SimTime) -> impl Iterator<Item = ResourceStats> + '_ {
        self.resources.iter().map(move |r| r.stats(until))
    }

    /// Statistics of every resource over the window ending at the makespan.
    pub fn stats(&self) -> impl Iterator<Item = ResourceStats> + '_ {
        self.stats_until(self.makespan)
    }

    /// Utilization of the resource called `name` up to the makespan.
    pub fn utilization(&self, name: &str) -> Option<f64> {
        self.resources.iter().find(|r| r.name() == name).map(|r| r.stats(self.makespan).utilization)
    }

    /// The most utilized resource up to the makespan (first one on a tie).
    pub fn bottleneck(&self) -> Option<ResourceStats> {
        self.stats().fold(None, |best: Option<ResourceStats>, s| match best {
            Some(b) if b.utilization >= s.utilization => Some(b),
            _ => Some(s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped host-cores profile with its wake-up and idle spin set (or dropped).
    fn host_cores(wake_ns: Option<f64>, idle_spin_ns: f64) -> Profile {
        let text = Profile::builtin_toml("host-thread").unwrap();
        let mut kept: Vec<&str> =
            text.lines().filter(|l| !l.starts_with("wake_ns") && !l.starts_with("idle_spin_ns")).collect();
        let at = kept.iter().position(|l| *l == "[cores]").unwrap() + 1;
        let fig = |v: f64| format!("{{ value = {v}, source = \"test\", confidence = \"assumed\" }}");
        let lines: Vec<String> = wake_ns
            .map(|w| vec![format!("wake_ns = {}", fig(w)), format!("idle_spin_ns = {}", fig(idle_spin_ns))])
            .unwrap_or_default();
        for (i, l) in lines.iter().enumerate() {
            kept.insert(at + i, l);
        }
        Profile::from_toml_str(&kept.join("\n"), "host-cores.toml").unwrap()
    }

    fn crc(bytes: u64) -> OpCost {
        OpCost { kind: OpKind::Crc32c, bytes_in: bytes, bytes_out: 0 }
    }

    /// A doorbell that finds the cores asleep (idle for longer than their spin) waits for
    /// their wake-up; one that finds them busy, or still spinning, does not.
    #[test]
    fn a_doorbell_wakes_sleeping_cores_only() {
        let mut m = TimingModel::new(&host_cores(Some(30_000.0), 50_000.0)).unwrap();
        let first = m.doorbell(SimTime::from_ns(1_000_000), 1).unwrap();
        assert_eq!(first.descriptors_ready, SimTime::from_ns(1_030_000), "asleep since the start");
        let op = m.submit(first.descriptors_ready, &crc(1 << 20)).unwrap();
        let before_end = SimTime::from_ns(op.completion.as_ns() - 1);
        let busy = m.doorbell(before_end, 1).unwrap();
        assert_eq!(busy.descriptors_ready, before_end, "busy: no wake");
        let spinning = op.completion + SimDuration::from_ns(40_000);
        assert_eq!(m.doorbell(spinning, 1).unwrap().descriptors_ready, spinning, "still spinning");
        let asleep = op.completion + SimDuration::from_ns(60_000);
        assert_eq!(m.doorbell(asleep, 1).unwrap().descriptors_ready, asleep + SimDuration::from_ns(30_000));
    }

    /// A host wait longer than the spin blocks and pays the wake-up; a shorter one spins.
    #[test]
    fn a_host_wait_that_blocks_pays_the_wake_up() {
        let m = TimingModel::new(&host_cores(Some(30_000.0), 50_000.0)).unwrap();
        assert_eq!(m.host_wake(SimDuration::from_ns(10_000)), SimDuration::ZERO);
        assert_eq!(m.host_wake(SimDuration::from_ns(60_000)), SimDuration::from_ns(30_000));
    }

    /// Without the fields (every other profile), nothing changes: no wake-ups anywhere.
    #[test]
    fn cores_without_a_wake_up_never_pay_one() {
        for p in [host_cores(None, 0.0), Profile::builtin("bluefield-2").unwrap()] {
            let mut m = TimingModel::new(&p).unwrap();
            let at = SimTime::from_ns(5_000_000);
            let b = m.doorbell(at, 1).unwrap();
            if p.pcie.is_none() {
                assert_eq!(b.descriptors_ready, at);
            }
            assert_eq!(m.host_wake(SimDuration::from_ns(1_000_000)), SimDuration::ZERO);
        }
    }
}
