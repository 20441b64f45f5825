//! Named presets: real workloads at their published sizes, and the rule that scales them
//! down to a live run on one machine.
//!
//! A preset is a scenario with the node count and per-node size of a public reference
//! (MLPerf Storage checkpointing, a model broadcast to many nodes).
//! Scale mode runs it at full size. A live run cannot (a 70B checkpoint is 912 GB over 64
//! ranks), so [`Preset::apply`] keeps the pattern and scales the sizes: at most
//! [`LIVE_MAX_NODES`] nodes and at most [`LIVE_MAX_BYTES_PER_NODE`] per node, dividing the
//! per-node size by a power of two. The returned [`Scaling`] says by how much, and the
//! command line prints it, so no live figure passes for the full-size workload.

#![forbid(unsafe_code)]

use crate::spec::{ScenarioKind, ScenarioSpec};

/// Most nodes of a live run from a preset.
pub const LIVE_MAX_NODES: u32 = 8;
/// Most bytes per node of a live run from a preset.
pub const LIVE_MAX_BYTES_PER_NODE: u64 = 64 << 20;

/// One named workload at its published size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// Name on the command line.
    pub name: &'static str,
    /// What it is, one line.
    pub summary: &'static str,
    /// Where the figures come from.
    pub source: &'static str,
    pub kind: ScenarioKind,
    /// Nodes (ranks) at full size.
    pub nodes: u32,
    /// Per-node shard (writes) or object (reads) bytes at full size.
    pub bytes_per_node: u64,
}

/// How a live run differs from the preset's full size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    /// Nodes at full size and in this run.
    pub full_nodes: u32,
    pub run_nodes: u32,
    /// Bytes per node at full size and in this run.
    pub full_bytes_per_node: u64,
    pub run_bytes_per_node: u64,
    /// Full-size bytes per node over this run's (1 when not scaled).
    pub size_divisor: u64,
}

impl Scaling {
    /// Whether the run is smaller than the preset.
    pub fn is_scaled(&self) -> bool {
        self.full_nodes != self.run_nodes || self.size_divisor != 1
    }
}

const GB: u64 = 1_000_000_000;

/// The shipped presets.
pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "mlperf-ckpt-8b",
        summary: "checkpoint of an 8B model: 105 GB over 8 ranks",
        source: "MLPerf Storage v2.0 checkpointing, Submission_guidelines.md 2.2.1 table 2",
        kind: ScenarioKind::FanOutWrite,
        nodes: 8,
        bytes_per_node: 105 * GB / 8,
    },
    Preset {
        name: "mlperf-ckpt-70b",
        summary: "checkpoint of a 70B model: 912 GB over 64 ranks",
        source: "MLPerf Storage v2.0 checkpointing, Submission_guidelines.md 2.2.1 table 2",
        kind: ScenarioKind::FanOutWrite,
        nodes: 64,
        bytes_per_node: 912 * GB / 64,
    },
    Preset {
        name: "mlperf-ckpt-405b",
        summary: "checkpoint of a 405B model: 5.29 TB over 512 ranks",
        source: "MLPerf Storage v2.0 checkpointing, Submission_guidelines.md 2.2.1 table 2",
        kind: ScenarioKind::FanOutWrite,
        nodes: 512,
        bytes_per_node: 5290 * GB / 512,
    },
    Preset {
        name: "mlperf-ckpt-1t",
        summary: "checkpoint of a 1T model: 18 TB over 1024 ranks",
        source: "MLPerf Storage v2.0 checkpointing, Submission_guidelines.md 2.2.1 table 2",
        kind: ScenarioKind::FanOutWrite,
        nodes: 1024,
        bytes_per_node: 18_000 * GB / 1024,
    },
    Preset {
        name: "model-load-100g",
        summary: "a 100 GiB model loaded by 12 nodes (1,200 GiB of egress without peers)",
        source: "juicedata/juicefs PR 7003, peer-to-peer warmup proposal",
        kind: ScenarioKind::FanOutRead,
        nodes: 12,
        bytes_per_node: 100 << 30,
    },
];

impl Preset {
    /// The preset called `name`; the error lists the names.
    pub fn by_name(name: &str) -> Result<Preset, String> {
        PRESETS.iter().copied().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            format!("unknown preset `{name}` (one of {})", names.join(", "))
        })
    }

    /// Sets `spec`'s scenario, nodes and size from the preset: full size when
    /// `live` is false (scale mode), else scaled down as the module docs say. Other knobs
    /// keep their values; flags given by the user are applied after this.
    pub fn apply(&self, spec: &mut ScenarioSpec, live: bool) -> Scaling {
        let defaults = ScenarioSpec::defaults(self.kind);
        if spec.kind != self.kind {
            *spec = defaults;
        }
        let (run_nodes, divisor) = if live {
            let mut divisor = 1u64;
            while self.bytes_per_node / divisor > LIVE_MAX_BYTES_PER_NODE {
                divisor *= 2;
            }
            (self.nodes.min(LIVE_MAX_NODES), divisor)
        } else {
            (self.nodes, 1)
        };
        let chunk = u64::from(spec.chunk_size_bytes);
        // Whole chunks, at least one.
        let run_bytes = (self.bytes_per_node / divisor / chunk).max(1) * chunk;
        spec.nodes = run_nodes;
        spec.object_size_bytes = run_bytes;
        Scaling {
            full_nodes: self.nodes,
            run_nodes,
            full_bytes_per_node: self.bytes_per_node,
            run_bytes_per_node: run_bytes,
            size_divisor: divisor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_validates_full_size_and_scaled() {
        for p in PRESETS {
            let mut live = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
            let s = p.apply(&mut live, true);
            assert_eq!(live.kind, p.kind, "{}", p.name);
            live.validate().unwrap_or_else(|e| panic!("{} live: {e}", p.name));
            assert!(live.nodes <= LIVE_MAX_NODES && live.object_size_bytes <= LIVE_MAX_BYTES_PER_NODE);
            assert_eq!(s.run_nodes, live.nodes);
            assert!(s.size_divisor.is_power_of_two());
            let mut full = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
            let s = p.apply(&mut full, false);
            assert!(!s.is_scaled(), "{}", p.name);
            assert_eq!(full.nodes, p.nodes);
            full.validate_scale().unwrap_or_else(|e| panic!("{} full: {e}", p.name));
        }
    }

    #[test]
    fn scaling_is_stated() {
        let p = Preset::by_name("mlperf-ckpt-70b").unwrap();
        let mut spec = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        let s = p.apply(&mut spec, true);
        // 14.25 GB per rank / 256 = 55.7 MB, in whole 1 MiB chunks.
        assert_eq!((s.full_nodes, s.run_nodes, s.size_divisor), (64, 8, 256));
        assert_eq!(s.run_bytes_per_node, 53 << 20);
        assert!(s.is_scaled());
        let load = Preset::by_name("model-load-100g").unwrap();
        let mut spec = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        let s = load.apply(&mut spec, true);
        assert_eq!((spec.kind, spec.nodes, s.size_divisor), (ScenarioKind::FanOutRead, 8, 2048));
        assert_eq!(spec.object_size_bytes, 50 << 20);
        assert!(Preset::by_name("gpt-9").unwrap_err().contains("mlperf-ckpt-8b"));
    }
}
