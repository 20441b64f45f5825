//! Scale mode agrees with live runs where both can run: the same scenario on 1, 2 and 4
//! nodes of this machine, live (`run_scenario`) and modelled (`run_scale` with every node
//! on this machine), in host and offload mode. The goal is 10 % on throughput; the test
//! holds 20 % (see [`TOLERANCE`] for the measured figures).
//!
//! The test goes in rounds: a fresh calibration, then every case modelled from it and run
//! live once. Each figure is the mean over the rounds (bytes over time). This 2-core VM
//! changes speed by up to 1.5 times from one minute to the next (one node's fan-out read
//! ran live at 110-176 MiB/s in a debug build, in two clusters; the same node thread's CPU
//! at 120 or 165 ms), so a calibration is only compared with the live runs of the minute
//! after it, and four such pairs are averaged. Before this design (one calibration, then
//! the median of three live runs of each case in a row), consecutive runs of this test
//! swung a case by 30 % or more.
//!
//! The calibration is measured in this same build, so a debug build compares debug
//! kernels with debug kernels. CI runs the debug build, where the kernels set the pace.
//! In a release build the storage ops and memory traffic set it; with 64 MiB per node,
//! three calibrations each followed by one live run of every case (`dpukit run`) gave
//! fan-out write on one node -16 to +14 %, on two -15 to +42 %, fan-out read in host mode
//! on one node -32 to -2 %, on two -24 to +10 %, fan-in read in host mode -24 to +8 %, in
//! offload mode -25 to -11 % (issue 7).

use dpukit_host::calibrate::{calibrate, CalibrateOptions, CodecPlan};
use dpukit_host::result::{Mode, Source};
use dpukit_host::run::{run_scenario, RunOptions};
use dpukit_host::scale::{run_scale, ClusterSpec, ScaleOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;

/// Largest relative difference allowed between modelled and live throughput. The goal is
/// 10 %. Two runs of this test on the 2-core VM (debug build, first look), with the blob
/// tier's GETs timed a few per kernel pass: fan-out read in host mode -7.5 and +2.2 % on
/// one node, +3.1 and +5.6 % on two, -4.0 and +2.8 % on four; in offload mode -10.6 and
/// -5.5 % on one, -9.4 and -10.4 % on two; fan-out write in host mode +5.3 and -8.7 % on
/// one, +2.2 and +7.5 % on two, in offload mode -17.1 and +9.4 %; fan-in read -7.0 and
/// +3.0 % in host mode, +4.1 and -0.9 % in offload mode. 17 of the 20 figures were within
/// 10 %. Within one run a case's live figure moves by up to 1.6 times from round to round
/// (fan-in read in host mode 147-244 MB/s), and the model's by up to 1.3 times from one
/// calibration to the next. Clean-clone CI attempts, which run this test right after the
/// rest of the suite, have seen every case shift the same way at once, the model 15-30 %
/// faster (issue 7). Each round prints what the machine's CPUs did: in one such attempt
/// (fan-out read on one node in host mode +24 %, +17 % after two re-measured rounds, live
/// at 116-167 MB/s against 147-217 locally) every round said `others 0.00-0.01, steal
/// 0.00`, so the live runs were slower without anything else taking the CPUs. The bound is
/// 20 %, tight enough to catch a model that drifts.
const TOLERANCE: f64 = 0.20;
/// Rounds of a calibration and one live run of every case, about 40 s each in a debug
/// build here: both sides' noise shrinks with their number.
const ROUNDS: usize = 4;
/// A case outside its tolerance is measured again (one more round, for that case alone,
/// and the figures over all of them) up to this many times before it fails: a busy
/// neighbour on a shared 2-core machine moves one figure by 10 % now and then, a model
/// error does not go away on a second look.
const REMEASURE_ROUNDS: usize = 2;

fn spec(kind: ScenarioKind, nodes: u32) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = nodes;
    s.object_size_bytes = 16 << 20;
    s.chunk_size_bytes = 1 << 20;
    s
}

#[test]
fn scale_mode_agrees_with_live_runs() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let cases: &[(ScenarioKind, u32, Mode)] = &[
        (ScenarioKind::FanOutRead, 1, Mode::Host),
        (ScenarioKind::FanOutRead, 2, Mode::Host),
        (ScenarioKind::FanOutRead, 4, Mode::Host),
        (ScenarioKind::FanOutRead, 1, Mode::Offload),
        (ScenarioKind::FanOutRead, 2, Mode::Offload),
        (ScenarioKind::FanOutWrite, 1, Mode::Host),
        (ScenarioKind::FanOutWrite, 2, Mode::Host),
        (ScenarioKind::FanOutWrite, 1, Mode::Offload),
        (ScenarioKind::FanInRead, 2, Mode::Host),
        (ScenarioKind::FanInRead, 2, Mode::Offload),
    ];
    let mut rows: Vec<Row> = cases
        .iter()
        .map(|&(kind, nodes, mode)| {
            let spec = spec(kind, nodes);
            Row { spec, mode, model: Vec::new(), live: Vec::new() }
        })
        .collect();
    let extra = vec![CodecPlan {
        algorithm: dpukit_ffi::Algorithm::Lz4,
        level: 0,
        compressibility: rows[0].spec.compressibility,
        bytes: u64::from(rows[0].spec.chunk_size_bytes),
    }];
    // One round (see the module docs): a fresh calibration, then each case modelled from
    // it and run live once. Returns which cases it ran.
    let round = |rows: &mut [Row], only_failing: bool| -> Vec<usize> {
        let before = Load::now();
        let cal =
            calibrate(&CalibrateOptions { extra: extra.clone(), ..CalibrateOptions::default() }).unwrap();
        let shares = |op: &dpukit_host::calibrate::OpCost| {
            format!(
                "{:.2} at 64 KiB, {:.2} at 1 MiB",
                op.serial_share_small.unwrap_or(f64::NAN),
                op.serial_share.unwrap_or(f64::NAN)
            )
        };
        eprintln!(
            "calibration: {:.2} effective cores; serial share of a local write {}, of a blob GET {}",
            cal.effective_cores,
            shares(&cal.local_write),
            shares(&cal.blob_get)
        );
        let calibrated = Load::now();
        let opts = ScaleOptions {
            cluster: ClusterSpec::this_machine(&cal),
            calibration: cal,
            calibration_source: "measured by this test".into(),
        };
        let ran: Vec<usize> = (0..rows.len()).filter(|&i| !only_failing || !rows[i].within()).collect();
        for &i in &ran {
            let row = &mut rows[i];
            let modelled = run_scale(&row.spec, row.mode, &profile, &opts).unwrap();
            assert_eq!(modelled.throughput.source, Source::Modelled);
            row.model.push(modelled.throughput.value);
            let live = run_scenario(&row.spec, row.mode, &profile, &RunOptions::default()).unwrap();
            row.live.push(live.throughput.value);
        }
        eprintln!(
            "  CPU use during the calibration: {}; during the cases: {}",
            calibrated.since(&before),
            Load::now().since(&calibrated)
        );
        ran
    };
    for _ in 0..ROUNDS {
        round(&mut rows, false);
    }
    for row in &rows {
        row.print("");
    }
    for _ in 0..REMEASURE_ROUNDS {
        if rows.iter().all(Row::within) {
            break;
        }
        for i in round(&mut rows, true) {
            rows[i].print("  [re-measured]");
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .filter(|r| !r.within())
        .map(|r| {
            format!(
                "{} {} nodes {}: {:+.1} % (tolerance ±{:.0} %)",
                r.spec.kind.name(),
                r.spec.nodes,
                r.mode.name(),
                r.diff() * 100.0,
                TOLERANCE * 100.0
            )
        })
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
}

/// One case, and per round its modelled and live throughput (bytes/s).
struct Row {
    spec: ScenarioSpec,
    mode: Mode,
    model: Vec<f64>,
    live: Vec<f64>,
}

/// Bytes over time across runs that each move the same bytes: what a calibration measures
/// too, a mean cost over a stretch of time. A median would pick one of this VM's speeds
/// (a one-node fan-out read ran at 110-176 MiB/s in a debug build, in two clusters,
/// minutes apart).
fn mean_rate(rates: &[f64]) -> f64 {
    rates.len() as f64 / rates.iter().map(|t| 1.0 / t).sum::<f64>()
}

impl Row {
    fn diff(&self) -> f64 {
        let live = mean_rate(&self.live);
        (mean_rate(&self.model) - live) / live
    }

    fn within(&self) -> bool {
        self.diff().abs() <= TOLERANCE
    }

    fn print(&self, tag: &str) {
        let range = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            format!("{:.1}-{:.1}", lo / 1e6, hi / 1e6)
        };
        eprintln!(
            "{:<14} {} nodes {:<7}: live {:7.1} MB/s ({})  scale {:7.1} MB/s ({})  {:+.1} % over {} rounds{tag}",
            self.spec.kind.name(),
            self.spec.nodes,
            self.mode.name(),
            mean_rate(&self.live) / 1e6,
            range(&self.live),
            mean_rate(&self.model) / 1e6,
            range(&self.model),
            self.diff() * 100.0,
            self.live.len(),
        );
    }
}

/// What the machine's CPUs did over a stretch of the test, from `/proc/stat` and this
/// process's rusage: a calibration and the live runs after it only agree if the machine
/// ran at the same speed for both, so each round prints how much CPU this process, the
/// rest of the machine and the hypervisor (steal) took during each.
struct Load {
    at: std::time::Instant,
    own_ns: u64,
    /// (busy, steal) clock ticks of all CPUs, if `/proc/stat` could be read.
    ticks: Option<(u64, u64)>,
}

impl Load {
    fn now() -> Load {
        let ticks = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
            // user nice system idle iowait irq softirq steal
            let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?;
            Some((busy, *v.get(7)?))
        });
        Load { at: std::time::Instant::now(), own_ns: dpukit_host::metrics::process_cpu_ns(), ticks }
    }

    /// "this test 1.62 CPUs, others 0.03, steal 0.00 over 21.4 s".
    fn since(&self, start: &Load) -> String {
        let wall = self.at.duration_since(start.at).as_secs_f64().max(1e-9);
        let own = self.own_ns.saturating_sub(start.own_ns) as f64 / 1e9 / wall;
        // /proc/stat counts in USER_HZ, 100 per second on every Linux ABI.
        let hz = 100.0;
        match (start.ticks, self.ticks) {
            (Some((b0, s0)), Some((b1, s1))) => {
                let busy = b1.saturating_sub(b0) as f64 / hz / wall;
                let steal = s1.saturating_sub(s0) as f64 / hz / wall;
                format!(
                    "this test {own:.2} CPUs, others {:.2}, steal {steal:.2} over {wall:.1} s",
                    (busy - own).max(0.0)
                )
            }
            _ => format!("this test {own:.2} CPUs over {wall:.1} s"),
        }
    }
}
