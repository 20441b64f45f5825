//! The cluster a scale run models: this machine's nodes side by side, or a cluster of
//! machines like it joined by a fabric, with a blob tier.

#![forbid(unsafe_code)]

use crate::calibrate::Calibration;
use crate::scale::{
    ScaleError, DEFAULT_BLOB_BYTES_PER_S, DEFAULT_BLOB_LATENCY_NS, DEFAULT_LOCAL_CAPACITY_BYTES,
    DEFAULT_MAX_EVENTS, DEFAULT_NIC_BYTES_PER_S, MAX_SCALE_NODES,
};
use crate::spec::{ScenarioSpec, SpecError};
use dpukit_sim::profile::Profile;

/// The cluster the scenario runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Every node on this machine (as a live run): shared cores and local tier, no network.
    pub colocated: bool,
    /// Cores per node (colocated: of the machine).
    pub host_cores: u32,
    /// Per NIC, per direction.
    pub nic_bytes_per_s: f64,
    /// Fabric oversubscription: 1 = non-blocking.
    pub oversubscription: f64,
    pub blob_bytes_per_s: f64,
    pub blob_latency_ns: u64,
    pub local_capacity_bytes: u64,
    /// Event budget that sets the batch size (when `batch_chunks` is `None`).
    pub max_events: u64,
    /// Chunks per event; `None` picks the smallest that keeps within `max_events`.
    pub batch_chunks: Option<u32>,
    /// Colocated: core equivalents the machine gives when every core is busy (from
    /// calibration); CPU work stretches by `min(nodes, host_cores) / effective_cores`
    /// when that exceeds 1, as threads sharing fewer real cores do.
    pub effective_cores: f64,
}

impl ClusterSpec {
    /// All nodes on this machine, as a live run: the calibrated machine's cores.
    pub fn this_machine(cal: &Calibration) -> ClusterSpec {
        ClusterSpec {
            colocated: true,
            host_cores: cal.machine.logical_cpus.max(1),
            nic_bytes_per_s: f64::INFINITY,
            oversubscription: 1.0,
            blob_bytes_per_s: f64::INFINITY,
            blob_latency_ns: 0,
            local_capacity_bytes: DEFAULT_LOCAL_CAPACITY_BYTES,
            max_events: DEFAULT_MAX_EVENTS,
            batch_chunks: None,
            effective_cores: cal.effective_cores,
        }
    }

    /// A cluster of machines like this one (cores from calibration), NICs from the
    /// profile's network (else 100 Gb/s), a non-blocking fabric and a remote blob tier.
    pub fn cluster(cal: &Calibration, profile: &Profile) -> ClusterSpec {
        let nic = profile
            .network
            .as_ref()
            .map_or(DEFAULT_NIC_BYTES_PER_S, |n| n.bandwidth_gbit_per_s.value * 1e9 / 8.0);
        ClusterSpec {
            colocated: false,
            host_cores: cal.machine.logical_cpus.max(1),
            nic_bytes_per_s: nic,
            oversubscription: 1.0,
            blob_bytes_per_s: DEFAULT_BLOB_BYTES_PER_S,
            blob_latency_ns: DEFAULT_BLOB_LATENCY_NS,
            local_capacity_bytes: DEFAULT_LOCAL_CAPACITY_BYTES,
            max_events: DEFAULT_MAX_EVENTS,
            batch_chunks: None,
            effective_cores: f64::from(cal.machine.logical_cpus.max(1)),
        }
    }

    pub(super) fn check(&self) -> Result<(), ScaleError> {
        let bad = |m: String| Err(ScaleError::Cluster(m));
        if self.host_cores == 0 {
            return bad("host_cores must be at least 1".into());
        }
        for (name, v) in
            [("nic_bytes_per_s", self.nic_bytes_per_s), ("blob_bytes_per_s", self.blob_bytes_per_s)]
        {
            if v.is_nan() || v <= 0.0 {
                return bad(format!("{name} must be > 0, got {v}"));
            }
        }
        if !(self.oversubscription.is_finite() && self.oversubscription >= 1.0) {
            return bad(format!("oversubscription must be >= 1, got {}", self.oversubscription));
        }
        if self.max_events < 1000 {
            return bad(format!("max_events must be at least 1000, got {}", self.max_events));
        }
        if !(self.effective_cores.is_finite() && self.effective_cores > 0.0) {
            return bad(format!("effective_cores must be > 0, got {}", self.effective_cores));
        }
        if self.batch_chunks == Some(0) {
            return bad("batch_chunks must be at least 1".into());
        }
        Ok(())
    }

    pub(super) fn describe(&self) -> String {
        if self.colocated {
            return format!(
                "all nodes on this machine: {} cores shared ({:.2} effective), one local tier, no network",
                self.host_cores, self.effective_cores
            );
        }
        format!(
            "{} cores per node, NIC {:.1} Gb/s per direction, fabric {}, blob tier {:.1} GB/s aggregate and {:.2} ms per request",
            self.host_cores,
            self.nic_bytes_per_s * 8.0 / 1e9,
            if self.oversubscription > 1.0 { format!("{}:1 oversubscribed", self.oversubscription) } else { "non-blocking".into() },
            self.blob_bytes_per_s / 1e9,
            self.blob_latency_ns as f64 / 1e6
        )
    }
}

impl ScenarioSpec {
    /// Checks every knob as [`ScenarioSpec::validate`] does, but allows up to
    /// [`MAX_SCALE_NODES`] nodes (a live run stops at 1024).
    pub fn validate_scale(&self) -> Result<(), SpecError> {
        if self.nodes == 0 || self.nodes > MAX_SCALE_NODES {
            return Err(SpecError {
                knob: "nodes",
                reason: format!("must be 1..={MAX_SCALE_NODES} for a scale run, got {}", self.nodes),
            });
        }
        if self.readers == 0 || self.readers > self.nodes {
            return Err(SpecError {
                knob: "readers",
                reason: format!("must be 1..=nodes ({}), got {}", self.nodes, self.readers),
            });
        }
        let mut live = self.clone();
        live.nodes = self.nodes.min(1024);
        live.readers = self.readers.min(live.nodes);
        live.read_shift = self.read_shift.min(live.nodes - 1);
        live.validate()
    }
}
