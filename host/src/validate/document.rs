//! The validation document (`dpukit validate --out`) and the table the command prints.

#![forbid(unsafe_code)]

use super::case_label;
use super::load::Load;
use crate::report::{fmt_bytes, fmt_rate, source_tag};
use crate::result::{Figure, MachineInfo, Mode};
use serde::{Deserialize, Serialize};

/// Version of the validation document; bump on any incompatible change.
pub const VALIDATION_SCHEMA_VERSION: u32 = 1;

/// The validation document (`dpukit validate --out`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub schema_version: u32,
    pub kit_version: String,
    /// `debug` or `release`: the live runs and the calibration ran in this build.
    pub build: String,
    pub machine: MachineInfo,
    pub profile: String,
    pub object_size_bytes: u64,
    pub chunk_size_bytes: u32,
    pub rounds: usize,
    pub goal: f64,
    pub tolerance: f64,
    pub cases: Vec<CaseResult>,
    /// Every round, the extra ones included.
    pub round_records: Vec<RoundRecord>,
    /// Mean over the cases of |modelled - live| / live.
    pub mean_abs_difference: f64,
    /// Cases within the goal.
    pub within_goal: usize,
    /// The mean within the goal and every case within its tolerance.
    pub passed: bool,
    /// Why it did not pass, one line each (empty when it passed).
    pub failures: Vec<String>,
    /// Wall time of the whole validation.
    pub took_s: f64,
}

/// One case: both figures, their difference, and the machine's load during its live runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub scenario: String,
    pub nodes: u32,
    pub mode: Mode,
    /// Mean rate over every live run.
    pub live: Figure,
    /// Mean rate over every round's model.
    pub modelled: Figure,
    /// (modelled - live) / live.
    pub difference: f64,
    pub within_goal: bool,
    pub within_tolerance: bool,
    /// Rounds the case ran in (the extra rounds included).
    pub rounds: usize,
    /// Per round: the model's rate and the mean rate of that round's two live runs, B/s.
    pub modelled_per_round: Vec<f64>,
    pub live_per_round: Vec<f64>,
    /// Every live run's rate, B/s.
    pub live_runs: Vec<f64>,
    /// What the rest of the machine and the hypervisor took while this case ran live.
    pub load: Load,
}

/// One round: which cases ran, the calibration's key figures and the load of each phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// False for a round that re-measured the cases outside the goal.
    pub full: bool,
    pub cases: Vec<String>,
    pub effective_cores: Figure,
    /// Serial shares (64 KiB, 1 MiB) of a local write and of a blob GET.
    pub local_write_serial_share: (Option<f64>, Option<f64>),
    pub blob_get_serial_share: (Option<f64>, Option<f64>),
    /// The calibration's figures the cases' models move most with, at the cases' chunk.
    pub key_figures: String,
    pub load_live_before: Load,
    pub load_calibration: Load,
    pub load_live_after: Load,
}

impl Validation {
    /// The table `dpukit validate` prints: per case the live figure, the modelled one,
    /// their difference and the rest of the machine's load during its live runs, then the
    /// mean and the verdict.
    pub fn render_table(&self) -> String {
        let header = ["case", "live", "modelled", "difference", "others' load (steal) during its live runs"];
        let rows: Vec<[String; 5]> = self
            .cases
            .iter()
            .map(|c| {
                let load = match (c.load.others, c.load.steal) {
                    (Some(o), Some(s)) => format!("{:.2} ({:.2}) cores [meas]", o.value, s.value),
                    _ => "n/a".into(),
                };
                let mark = if c.within_tolerance { "" } else { " !" };
                [
                    case_label(&c.scenario, c.nodes, c.mode),
                    format!("{} {}", fmt_rate(c.live.value), source_tag(c.live.source)),
                    format!("{} {}", fmt_rate(c.modelled.value), source_tag(c.modelled.source)),
                    format!("{:+.1} %{mark}", c.difference * 100.0),
                    load,
                ]
            })
            .collect();
        let mut w = header.map(str::len);
        for r in &rows {
            for (i, cell) in r.iter().enumerate() {
                w[i] = w[i].max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}\n",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            )
        };
        let mut out = format!(
            "scale mode against live runs: {} build, {} ({} logical CPUs), profile {}, {} round(s), {} per node in {} chunks\n\n",
            self.build,
            self.machine.cpu_model,
            self.machine.logical_cpus,
            self.profile,
            self.rounds,
            fmt_bytes(self.object_size_bytes),
            fmt_bytes(u64::from(self.chunk_size_bytes)),
        );
        out.push_str(&line(header));
        for r in &rows {
            out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        }
        out.push_str(&format!(
            "\nmean |difference| {:.1} % over {} cases (goal {:.0} %), {} within {:.0} %, tolerance per case ±{:.0} %: {}\n",
            self.mean_abs_difference * 100.0,
            self.cases.len(),
            self.goal * 100.0,
            self.within_goal,
            self.goal * 100.0,
            self.tolerance * 100.0,
            if self.passed { "pass" } else { "FAIL" }
        ));
        for f in &self.failures {
            out.push_str(&format!("  failed: {f}\n"));
        }
        out.push_str(
            "[meas] measured on this machine, [model] modelled by scale mode from a calibration of it\n",
        );
        out
    }
}
