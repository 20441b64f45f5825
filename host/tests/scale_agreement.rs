//! Scale mode agrees with live runs where both can run: the same scenario on 1, 2 and 4
//! nodes of this machine, live (`run_scenario`) and modelled (`run_scale` with every node
//! on this machine), in host and offload mode. The goal is 10 %: the test holds the mean
//! difference over the cases to it ([`GOAL`]), and each case to 20 % ([`TOLERANCE`]).
//!
//! The test goes in rounds: a pass of live runs over every case, a fresh calibration and
//! every case modelled from it, a second pass of live runs. Each figure is the mean over
//! the rounds (bytes over time). The calibration sits between the live runs it is compared
//! with, so that a machine that drifts during a round moves both sides alike. This 2-core
//! VM changes speed by up to 1.5 times from one minute to the next, and a live run's speed
//! is set for the whole process: one node's fan-out read (debug, host mode) ran at 129-168
//! MB/s over twelve runs at 16 MiB and at 141-189 MB/s over six at 64 MiB, so a longer run
//! does not narrow it, more runs do. A C probe run between those runs (1 MiB hashed, one
//! core) took 26.4-29.0 ms, while twenty 1 MiB copies between buffers in cache took 1.49
//! to 1.86 ms (median) from one process to the next: memory, not the cores, is what
//! changes speed. The VM hands idle memory back to its host (virtio-balloon free page
//! reporting), and a page first touched after that waits for the host: 4.3 MB written into
//! the page cache took 0.85-0.94 ms right after other memory was freed and 10.1-13.1 ms
//! after 5-20 s idle. Two runs of the same case seconds apart differ by up to 1.9 times
//! (fan-in read in offload mode 288-555 MB/s over four rounds), more than two
//! calibrations' models of it (363-454 MB/s); hence two live runs per round.
//!
//! The calibration is measured in this same build, so a debug build compares debug
//! kernels with debug kernels. CI runs the debug build, where the kernels set the pace.
//! In a release build the storage ops and memory traffic set it (`cargo test --release`
//! runs this test there in about two minutes). Release, first look, on an AMD EPYC VM:
//! fan-out read +8.6, +27.4 and -5.0 % in host mode on 1, 2 and 4 nodes, +1.4 and +11.4 %
//! in offload mode on 1 and 2; fan-out write +10.3 and +9.5 % in host mode on 1 and 2
//! nodes, +21.1 % in offload mode; fan-in read +4.6 and +14.2 %; a mean of 11.3 %. Before
//! the calibration measured a checkpoint's batched write and handed its page cache back,
//! before fan-out write staged its chunks in resident buffers and before the model marked
//! finished copies in the manifest, the same machine gave a mean of 40.8 %, every case
//! with a local write modelled 45-60 % slow. Two nodes' fan-out read in host mode is the
//! case left: the calibrations in this test's process priced a GET of 0.53 MB at
//! 0.18-0.22 ms and a local write at 0.56-0.67 ms, one in a fresh process (`dpukit
//! calibrate`) at 0.25-0.34 and 0.74-0.91 ms; live, one node's 16 cache fills took 16-38
//! ms from one process to the next (release `dpukit run`), and one node's fan-out read ran
//! at 1161-1881 MB/s as six processes and at 1636-1724 MB/s as six runs of one (issue 7).
//!
//! Fan-out write in offload mode was modelled 20-25 % fast in every release run (four
//! runs): live, the inline device ran only when the host asked for completions, so a
//! checkpoint's first batch of compress jobs waited for the host to generate the whole
//! queue (first checksum done at 5.27 ms, modelled 4.51). With the device fetching a
//! batch when its doorbell rings (`Offload::submit`), one node's live run went from
//! 1195-1393 to 1378-1531 MB/s, and the case to +9.6 %; that run's mean was 8.1 % (8.7 %
//! after the re-measured rounds), 8 of the 10 cases within 10 %. Two nodes' fan-out read
//! in host mode stayed modelled fast (+12 to +31 % in every release run): colocated
//! nodes took turns at one disk for the serial share of their writes, so a node's GET
//! and verification hid in the other's turn. A C probe (threads each writing 0.53 MB and
//! calling fdatasync to their own file, sleeping between ops) showed that writers slow
//! each other whether or not their writes overlap: each other writer added 0.25-0.3 ms to
//! every op with 0 to 1.2 ms between ops (one op alone 0.49-0.57 ms). With that in the
//! model (`crowd_slowdown` in `scale.rs`), six release runs gave means of 7.9, 6.0 (5.0
//! after the re-measured rounds), 9.1, 7.5 (6.3), 9.7 (8.9 %, failed) and 4.8 %; fan-out
//! read in host mode on 2 nodes came out +1.2, -3.6, -16.8, +0.3, -3.5 and -2.9 %, on 4
//! nodes +7.7, +1.3, -12.2, -3.2, +0.8 and -3.7 %. Fan-out write in host mode on one node
//! is the case modelled fast now: +14.9, +20.2, +18.7, +24.1, +31.8 and +16.2 %, its live
//! runs at 536-973 MB/s within one run of this test while its model moved by a tenth. In
//! separate processes it agrees better: a fresh `dpukit calibrate` modelled 1008 MB/s and
//! four `dpukit run`s after it ran at 928-994 MB/s (their generate, compress, checksum and
//! stage loop took 11.1-12.4 ms, the calibration's kernels price it at 10.0).

use dpukit_host::calibrate::{calibrate, CalibrateOptions, CodecPlan};
use dpukit_host::result::{Mode, Source};
use dpukit_host::run::{run_scenario, RunOptions};
use dpukit_host::scale::{run_scale, ClusterSpec, ScaleOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;

/// The goal, 10 %, held on the mean over the cases of the modelled throughput's
/// difference from the live one (absolute values). One case alone moves more than that
/// from run to run of this test (see [`TOLERANCE`]); the mean over ten does not, unless
/// the model is off. Seven debug runs here, first look: 3.5, 7.2, 6.7, 6.3, 11.2 (10.0 %
/// after the re-measured rounds), 10.0 (8.6 %) and 8.3 %; on an AMD EPYC VM after the
/// batched write and the staging buffers 6.8 and 5.1 % (4.6 % in clean-clone CI, every case
/// within 10 %), and with the two-writer measurement recycled too 10.0 (fan-out read in host
/// mode on 4 nodes +26.7 % after the re-measured rounds: failed), 7.7 and 5.3 %.
const GOAL: f64 = 0.10;
/// Largest relative difference allowed between modelled and live throughput in any one
/// case. Debug runs of this test here, first look: fan-out read in host mode on one node
/// +7.3, +14.2, +6.2, +10.7 and +11.5 %; fan-in read in offload mode +2.2, +7.3, -4.6,
/// +1.7 and +19.0 %; fan-out write in offload mode +3.4, +0.8, -7.8, +2.8 and +12.7 %.
/// Within one run a case's live figure moves by up to 1.6 times from round to round, and
/// the model's by up to 1.4 times from one calibration to the next (fan-out read, one
/// node, host mode: 141-196 MB/s). Clean-clone CI attempts, which run this test right
/// after the rest of the suite, have seen every case shift the same way at once, the model
/// 15-30 % faster, with every round's load line saying `others 0.00-0.01, steal 0.00`:
/// the live runs were slower without anything else taking the CPUs (issue 7). The bound
/// is 20 %, tight enough to catch a case that drifts.
const TOLERANCE: f64 = 0.20;
/// Rounds of a calibration between two live runs of every case, about 65 s each in a
/// debug build here: both sides' noise shrinks with their number.
const ROUNDS: usize = 4;
/// A case outside the goal is measured again (one more round, for the cases outside it,
/// and the figures over all of them) up to this many times while a case is outside its
/// tolerance or the mean outside the goal: the machine moves one figure by 10 % now and
/// then, a model error does not go away on a second look.
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
            Row { spec, mode, model: Vec::new(), live: Vec::new(), live_runs: Vec::new() }
        })
        .collect();
    let extra = vec![CodecPlan {
        algorithm: dpukit_ffi::Algorithm::Lz4,
        level: 0,
        compressibility: rows[0].spec.compressibility,
        bytes: u64::from(rows[0].spec.chunk_size_bytes),
    }];
    // One round (see the module docs): a pass of live runs over the cases, a fresh
    // calibration and each case modelled from it, a second pass of live runs. Returns
    // which cases it ran.
    let round = |rows: &mut [Row], off_goal_only: bool| -> Vec<usize> {
        let ran: Vec<usize> = (0..rows.len()).filter(|&i| !off_goal_only || !rows[i].within_goal()).collect();
        let mut live = vec![Vec::new(); rows.len()];
        let live_pass = |live: &mut [Vec<f64>]| {
            for &i in &ran {
                let row = &rows[i];
                let run = run_scenario(&row.spec, row.mode, &profile, &RunOptions::default()).unwrap();
                live[i].push(run.throughput.value);
            }
        };
        let start = Load::now();
        live_pass(&mut live);
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
        eprintln!("  {}", key_figures(&cal, &rows[0].spec));
        let calibrated = Load::now();
        let opts = ScaleOptions {
            cluster: ClusterSpec::this_machine(&cal),
            calibration: cal,
            calibration_source: "measured by this test".into(),
        };
        let modelled: Vec<(usize, f64)> = ran
            .iter()
            .map(|&i| {
                let r = run_scale(&rows[i].spec, rows[i].mode, &profile, &opts).unwrap();
                assert_eq!(r.throughput.source, Source::Modelled);
                (i, r.throughput.value)
            })
            .collect();
        live_pass(&mut live);
        for (i, m) in modelled {
            rows[i].model.push(m);
            rows[i].live.push(mean_rate(&live[i]));
            rows[i].live_runs.extend_from_slice(&live[i]);
        }
        eprintln!(
            "  CPU use during the live runs before the calibration: {}; the calibration: {}; the live runs after: {}",
            before.since(&start),
            calibrated.since(&before),
            Load::now().since(&calibrated),
        );
        ran
    };
    for _ in 0..ROUNDS {
        round(&mut rows, false);
    }
    for row in &rows {
        row.print("");
    }
    print_mean(&rows);
    for _ in 0..REMEASURE_ROUNDS {
        if rows.iter().all(Row::within) && mean_abs_diff(&rows) <= GOAL {
            break;
        }
        for i in round(&mut rows, true) {
            rows[i].print("  [re-measured]");
        }
        print_mean(&rows);
    }
    let mut failures: Vec<String> = rows
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
    if mean_abs_diff(&rows) > GOAL {
        failures.push(format!(
            "mean difference over the {} cases {:.1} % (goal {:.0} %)",
            rows.len(),
            mean_abs_diff(&rows) * 100.0,
            GOAL * 100.0
        ));
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// Mean over the cases of the modelled throughput's difference from the live one, in
/// absolute value: what [`GOAL`] bounds.
fn mean_abs_diff(rows: &[Row]) -> f64 {
    rows.iter().map(|r| r.diff().abs()).sum::<f64>() / rows.len().max(1) as f64
}

fn print_mean(rows: &[Row]) {
    let within = rows.iter().filter(|r| r.within_goal()).count();
    eprintln!(
        "mean difference over the {} cases: {:.1} % (goal {:.0} %); {within} of them within {:.0} %",
        rows.len(),
        mean_abs_diff(rows) * 100.0,
        GOAL * 100.0,
        GOAL * 100.0
    );
}

/// One case, and per round its modelled and live throughput (bytes/s).
struct Row {
    spec: ScenarioSpec,
    mode: Mode,
    model: Vec<f64>,
    /// Per round, the mean of its live runs.
    live: Vec<f64>,
    /// Every live run.
    live_runs: Vec<f64>,
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

    fn within_goal(&self) -> bool {
        self.diff().abs() <= GOAL
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
            range(&self.live_runs),
            mean_rate(&self.model) / 1e6,
            range(&self.model),
            self.diff() * 100.0,
            self.live.len(),
        );
        // Round by round, to tell a model that misses from a machine that moved.
        let rounds: Vec<String> = self
            .model
            .iter()
            .zip(&self.live)
            .map(|(m, l)| format!("{:.0}/{:.0} ({:+.0} %)", m / 1e6, l / 1e6, (m - l) / l * 100.0))
            .collect();
        eprintln!("    scale/live per round: {}", rounds.join(", "));
    }
}

/// The calibration's figures the cases' models move most with, at the cases' chunk: the
/// kernels per byte, one blob GET and a batch of them, one local write. Printed per round
/// so a log shows which side moved when a case is off.
fn key_figures(cal: &dpukit_host::calibrate::Calibration, spec: &ScenarioSpec) -> String {
    let chunk = u64::from(spec.chunk_size_bytes);
    let (compress, decompress, ratio) = cal
        .codec("lz4", 0)
        .map(|c| cal.codec_at(c, spec.compressibility, chunk))
        .unwrap_or((f64::NAN, f64::NAN, 1.0));
    let stored = (chunk as f64 / ratio).round() as u64;
    let batch = cal
        .blob_get_batch
        .map(|b| format!("{} at once {:.2} ms", b.requests, b.wall_ns(stored) / 1e6))
        .unwrap_or_else(|| "no batch".into());
    format!(
        "per byte at {} KiB: datagen {:.2} ns, lz4 {:.2}/{:.2} ns, crc32c {:.2} ns; GET of {:.2} MB {:.2} ms, {batch}; \
         local write {:.2} ms",
        chunk >> 10,
        cal.datagen_ns_per_byte(spec.compressibility, chunk),
        compress,
        decompress,
        cal.crc32c_ns_per_byte(chunk),
        stored as f64 / 1e6,
        cal.blob_get.wall_ns(stored) / 1e6,
        cal.local_write.wall_ns(stored) / 1e6,
    )
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
