//! Scale mode on a fixed calibration: deterministic bit for bit, validated to 100,000
//! nodes, every figure modelled, peer serving cuts blob egress, batching keeps results,
//! colocated nodes slow each other's storage ops as much as the calibration measured.

#[path = "common/fixed_calibration.rs"]
mod fixed_calibration;

use dpukit_host::calibrate::{BatchCost, Calibration, DatagenPoint, OpCost, SizedCost, WriteBatchCost};
use dpukit_host::result::{Mode, RunResult, Source};
use dpukit_host::scale::{run_scale, ClusterSpec, ScaleOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;
use fixed_calibration::fixed;

fn options(cluster: impl Fn(&Calibration) -> ClusterSpec) -> ScaleOptions {
    let calibration = fixed();
    ScaleOptions { cluster: cluster(&calibration), calibration, calibration_source: "fixed (test)".into() }
}

fn read_spec(nodes: u32, size: u64) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutRead);
    s.nodes = nodes;
    s.object_size_bytes = size;
    s
}

fn all_modelled(r: &RunResult) {
    for f in [r.wall, r.throughput, r.ops_per_s, r.host_cpu, r.host_cpu_ns_per_byte, r.host_cores_busy] {
        assert_eq!(f.source, Source::Modelled);
    }
    assert!(r.extra.iter().all(|(_, f)| f.source == Source::Modelled), "{:?}", r.extra);
    assert!(r.latency.iter().all(|l| l.source == Source::Modelled));
    assert!(r.latency_of("node_completion").is_some());
    assert!(r.notes.iter().any(|n| n.contains("cluster bottleneck")), "{:?}", r.notes);
    assert!(r.notes.iter().any(|n| n.contains("fixed (test)")), "{:?}", r.notes);
}

#[test]
fn validation_allows_scale_node_counts_only_in_scale_mode() {
    let mut s = read_spec(10_000, 64 << 20);
    assert!(s.validate().is_err());
    s.validate_scale().unwrap();
    s.nodes = 100_001;
    assert_eq!(s.validate_scale().unwrap_err().knob, "nodes");
    s.nodes = 10;
    s.chunk_size_bytes = 100;
    assert_eq!(s.validate_scale().unwrap_err().knob, "chunk_size_bytes");
}

#[test]
fn same_inputs_give_the_same_figures_bit_for_bit() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = options(|c| ClusterSpec::cluster(c, &Profile::builtin("bluefield-2").unwrap()));
    for kind in ScenarioKind::ALL {
        let mut s = read_spec(64, 64 << 20);
        s.kind = kind;
        s.readers = 4;
        s.kv_requests = 50;
        for mode in [Mode::Host, Mode::Offload] {
            let a = run_scale(&s, mode, &profile, &opts).unwrap();
            let b = run_scale(&s, mode, &profile, &opts).unwrap();
            all_modelled(&a);
            assert!(a.bytes > 0, "{kind:?} {mode:?}");
            assert_eq!(a.throughput.value.to_bits(), b.throughput.value.to_bits(), "{kind:?} {mode:?}");
            assert_eq!(a.extra, b.extra);
            assert_eq!(a.latency, b.latency);
            assert_eq!(a.device.is_some(), mode == Mode::Offload);
            if let Some(d) = &a.device {
                assert!(d.bottleneck.is_some(), "{kind:?}");
            }
        }
    }
}

#[test]
fn peer_serving_cuts_blob_egress_to_about_one_copy() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = options(|c| ClusterSpec::cluster(c, &Profile::builtin("bluefield-2").unwrap()));
    let mut s = read_spec(256, 256 << 20);
    let with = run_scale(&s, Mode::Offload, &profile, &opts).unwrap();
    s.peer_serving = false;
    let without = run_scale(&s, Mode::Offload, &profile, &opts).unwrap();
    let egress = |r: &RunResult| r.extra_figure("blob_egress_bytes").unwrap().value;
    let stored_object = (256u64 << 20) as f64 / 2.0;
    eprintln!(
        "egress with peers {:.0} MiB, without {:.0} MiB; throughput {:.1} vs {:.1} GB/s",
        egress(&with) / 1048576.0,
        egress(&without) / 1048576.0,
        with.throughput.value / 1e9,
        without.throughput.value / 1e9
    );
    assert!(egress(&with) <= stored_object * 1.01, "{}", egress(&with));
    // Cold pass from the blob tier; the warm pass hits the cache.
    assert!((egress(&without) - stored_object * 256.0).abs() <= stored_object, "{}", egress(&without));
    assert!(with.extra_figure("peer_bytes").unwrap().value > 0.0);
}

/// The live passes are separate phases: every node starts the warm pass when the last is
/// done with the cold one. Three nodes with peer serving split a 16-chunk object 5/5/6, so
/// the third fetches one chunk more from the blob tier (5 ms a request) than the first:
/// without the barrier they completed 7 % apart in host mode (43.2 and 46.6 ms on this
/// calibration); with it, the same warm pass on identical nodes ends together.
#[test]
fn the_warm_pass_starts_on_every_node_when_the_last_cold_pass_ends() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = options(|c| ClusterSpec::cluster(c, &Profile::builtin("bluefield-2").unwrap()));
    for mode in [Mode::Host, Mode::Offload] {
        let r = run_scale(&read_spec(3, 16 << 20), mode, &profile, &opts).unwrap();
        let done = r.latency_of("node_completion").unwrap();
        let first = done.cdf.first().map(|p| p.0).unwrap() as f64;
        let spread = (done.max_ns as f64 - first) / done.max_ns as f64;
        eprintln!("{mode:?}: node completions {:.2}-{:.2} ms", first / 1e6, done.max_ns as f64 / 1e6);
        assert!(spread < 0.01, "{mode:?}: completions {first}-{} ns", done.max_ns);
    }
}

#[test]
fn batching_keeps_the_result_close() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let mut s = read_spec(64, 256 << 20);
    s.peer_serving = false;
    let run = |b: u32| {
        let opts = options(|c| {
            let mut k = ClusterSpec::cluster(c, &Profile::builtin("bluefield-2").unwrap());
            k.batch_chunks = Some(b);
            k
        });
        run_scale(&s, Mode::Offload, &profile, &opts).unwrap()
    };
    let one = run(1);
    let eight = run(8);
    let diff = (eight.throughput.value - one.throughput.value) / one.throughput.value;
    eprintln!(
        "1 chunk per event: {:.2} GB/s; 8: {:.2} GB/s ({:+.2} %)",
        one.throughput.value / 1e9,
        eight.throughput.value / 1e9,
        diff * 100.0
    );
    assert!(diff.abs() < 0.05, "{diff}");
    assert_eq!(one.bytes, eight.bytes);
}

#[test]
fn colocated_nodes_slow_each_others_storage_ops_by_the_calibrated_share() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    // Storage-bound: a cache fill (a write with its flush) takes about 1 ms a chunk.
    let storage_bound = || {
        let mut c = fixed();
        c.local_write = OpCost { op_ns: 500_000.0, ns_per_byte: 1.0, cpu_share: 0.2, ..OpCost::default() };
        c
    };
    let run_on = |nodes: u32, write: Option<f64>, get: Option<f64>| {
        let mut calibration = storage_bound();
        calibration.local_write.serial_share = write;
        calibration.blob_get.serial_share = get;
        let opts = ScaleOptions {
            cluster: ClusterSpec::this_machine(&calibration),
            calibration,
            calibration_source: "fixed (test)".into(),
        };
        run_scale(&read_spec(nodes, 64 << 20), Mode::Host, &profile, &opts).unwrap().throughput.value
    };
    let run = |write, get| run_on(2, write, get);
    // A file without the two-at-once measurement: the share of a write that is not CPU
    // stands in for the measured one.
    assert_eq!(run(None, None).to_bits(), run(Some(0.8), Some(0.0)).to_bits());
    let overlapping = run(Some(0.0), Some(0.0));
    let turns = run(Some(1.0), Some(1.0));
    eprintln!("two colocated nodes: {overlapping:.0} B/s overlapping, {turns:.0} B/s slowing each other");
    assert!(turns < overlapping * 0.95, "{turns} vs {overlapping}");
    // One node has no one to slow it.
    let one = |share: f64| run_on(1, Some(share), Some(share));
    let (a, b) = (one(0.0), one(1.0));
    // (Splitting an op into parts rounds each to the nanosecond.)
    assert!((a - b).abs() <= a * 1e-6, "{a} vs {b}");
}

/// The calibration turns the slowdown `r` of a write while another runs back to back into
/// a serial share `r / 2` (`serial_share` in `calibrate/measure.rs`), and two colocated
/// writers here slow each other's writes by that `r` again: each write takes
/// `2 * share - 1` of its wall more per other writer, so `max(1, 2 * share)` times as
/// long as alone.
/// (A fan-out write node syncs its shard file one batch at a time, as the live write
/// pipeline does, so one node is one writer however many batches it has handed over.)
#[test]
fn two_colocated_writers_slow_down_by_twice_their_serial_share() {
    let node_time = |nodes: u32, share: f64| {
        let write = OpCost {
            op_ns: 1_000_000.0,
            ns_per_byte: 0.0,
            cpu_share: 0.2,
            serial_share: Some(share),
            serial_share_small: Some(share),
        };
        let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        s.nodes = nodes;
        s.object_size_bytes = 64 << 20;
        s.batch = 1;
        s.compression = None;
        write_wall(&s, 0.0, write, None)
    };
    for share in [0.3, 0.5, 0.6, 0.8, 1.0] {
        let slowdown = node_time(2, share) / node_time(1, share);
        let expected = (2.0 * share).max(1.0);
        eprintln!("serial share {share}: two writers {slowdown:.3} times as long per write (expected {expected:.3})");
        assert!((slowdown - expected).abs() < 0.03 * expected, "share {share}: {slowdown} vs {expected}");
    }
}

/// Colocated writers slow each other's writes whether or not those overlap in time, as
/// writers to one file system do on this kit's VM (`crowd_slowdown` in `scale/costs.rs`): with a
/// fan-out read's cache fill a small part of each chunk's time (1 ms in 6), two nodes
/// still add `2s - 1` of a fill to every fill of the other's cold pass. Taking turns at one
/// disk (the model before), the second node cost 0.8 ms here instead of 9.6.
#[test]
fn colocated_writers_slow_each_other_when_their_writes_do_not_overlap() {
    const FILL_NS: f64 = 1_000_000.0;
    let profile = Profile::builtin("bluefield-2").unwrap();
    let node_time = |nodes: u32| {
        let mut c = fixed();
        c.local_write = OpCost {
            op_ns: FILL_NS,
            ns_per_byte: 0.0,
            cpu_share: 0.2,
            serial_share: Some(0.8),
            serial_share_small: Some(0.8),
        };
        // 5 ms of CPU per chunk besides the fill (its CRC32C), on eight cores.
        c.crc32c = vec![SizedCost { bytes: 1 << 20, ns_per_byte: 5_000_000.0 / f64::from(1u32 << 19) }];
        let opts = ScaleOptions {
            cluster: ClusterSpec::this_machine(&c),
            calibration: c,
            calibration_source: "fixed (test)".into(),
        };
        // Every chunk from the blob tier: a peer's copy would cost less than a GET.
        let mut s = read_spec(nodes, 16 << 20);
        s.peer_serving = false;
        run_scale(&s, Mode::Host, &profile, &opts).unwrap().wall.value
    };
    let (one, two) = (node_time(1), node_time(2));
    // 16 fills in the cold pass, each 0.6 of a fill longer.
    let expected = 16.0 * 0.6 * FILL_NS / 1e9;
    eprintln!(
        "one node {:.2} ms, two {:.2} ms: {:.2} ms more (expected {:.2})",
        one * 1e3,
        two * 1e3,
        (two - one) * 1e3,
        expected * 1e3
    );
    assert!(((two - one) - expected).abs() < 0.05 * expected, "{one} {two}");
}

/// A fan-out write node hands each batch to the local tier's write pipeline and generates
/// the next while it is written and synced, as the live node does (`commit` in
/// `live/fan_out_write.rs`): with a batch's generation and its write costing the same,
/// eight batches take ten of those times, not sixteen. The pipeline pushes a batch's sync at the node's
/// next call (once it has reaped the batch's writes), one sync per shard file at a time, so
/// each batch syncs while the one after it is generated, and the last two one after the
/// other.
#[test]
fn a_writer_generates_the_next_batch_while_one_is_written() {
    const BATCH_NS: f64 = 8_000_000.0;
    let batch_bytes = 8.0 * f64::from(1u32 << 20);
    let write = OpCost {
        op_ns: 0.0,
        ns_per_byte: BATCH_NS / batch_bytes,
        cpu_share: 0.0,
        serial_share: Some(1.0),
        serial_share_small: Some(1.0),
    };
    let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
    s.nodes = 1;
    s.object_size_bytes = 64 << 20;
    s.chunk_size_bytes = 1 << 20;
    s.batch = 8;
    s.queue_depth = 16;
    s.compression = None;
    let wall = write_wall(&s, BATCH_NS / batch_bytes, write, None);
    let batches = wall * 1e9 / BATCH_NS;
    eprintln!("eight batches in {batches:.2} batch times");
    assert!((batches - 10.0).abs() < 0.1, "{batches} batch times");
}

/// A checkpoint writes a batch of chunks in one local-tier call with one sync: the call's
/// first chunk costs what the calibration's write of one chunk does, each byte after it
/// what a byte past the first chunk of its batched write does. A calibration without the
/// batched write prices every byte as in a call of one chunk.
#[test]
fn a_checkpoint_batch_costs_what_the_calibrated_batched_write_does() {
    const ONE_NS: f64 = 1_000_000.0;
    const EIGHT_NS: f64 = 3_000_000.0;
    let write = OpCost {
        op_ns: ONE_NS,
        ns_per_byte: 0.0,
        cpu_share: 0.0,
        serial_share: Some(1.0),
        serial_share_small: Some(1.0),
    };
    let batched = WriteBatchCost { chunks: 8, chunk_bytes: 1 << 20, wall_ns: EIGHT_NS, cpu_share: 0.0 };
    let run = |batch: u32, measured: Option<WriteBatchCost>| {
        let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        s.nodes = 1;
        s.object_size_bytes = 64 << 20;
        s.chunk_size_bytes = 1 << 20;
        s.batch = batch;
        s.compression = None;
        // Nothing but the writes costs anything: they follow one another on the shard file.
        write_run(&s, 0.0, write, measured)
    };
    let wall = |batch, measured| run(batch, measured).wall.value * 1e9;
    let says = |r: RunResult| r.notes.iter().any(|n| n.contains("no batched local write"));
    assert!(says(run(8, None)), "{:?}", run(8, None).notes);
    assert!(!says(run(8, Some(batched))));
    let per_more = (EIGHT_NS - ONE_NS) / 7.0;
    let cases = [
        (8, Some(batched), 8.0 * EIGHT_NS),
        (4, Some(batched), 16.0 * (ONE_NS + 3.0 * per_more)),
        (1, Some(batched), 64.0 * ONE_NS),
        (8, None, 8.0 * ONE_NS),
    ];
    for (batch, measured, expected) in cases {
        let got = wall(batch, measured);
        eprintln!(
            "batch {batch}, batched write measured: {}: {:.2} ms (expected {:.2})",
            measured.is_some(),
            got / 1e6,
            expected / 1e6
        );
        assert!((got - expected).abs() < 0.01 * expected, "batch {batch}: {got} vs {expected}");
    }
}

/// Modelled run of a fan-out write in host mode on this machine, on a calibration
/// where only generating the data (`datagen_ns_per_byte`) and the local-tier writes cost
/// anything.
fn write_run(
    spec: &ScenarioSpec,
    datagen_ns_per_byte: f64,
    local_write: OpCost,
    local_write_batch: Option<WriteBatchCost>,
) -> RunResult {
    write_run_with(spec, datagen_ns_per_byte, |c| {
        c.local_write = local_write;
        c.local_write_batch = local_write_batch;
    })
}

/// [`write_run`] on a calibration where generating the data costs `datagen_ns_per_byte`
/// and `cost` sets what else costs anything.
fn write_run_with(
    spec: &ScenarioSpec,
    datagen_ns_per_byte: f64,
    cost: impl FnOnce(&mut Calibration),
) -> RunResult {
    let mut c = fixed();
    c.crc32c = vec![SizedCost { bytes: 1 << 20, ns_per_byte: 0.0 }];
    c.memcpy = c.crc32c.clone();
    c.datagen = vec![DatagenPoint { compressibility: 2.0, bytes: 1 << 20, ns_per_byte: datagen_ns_per_byte }];
    c.host_job_ns = 0.0;
    // (With no CPU share, a manifest append's share of the disk would be all of it: an op
    // of no cost must book nothing, or it would hold another node's writes.)
    c.manifest_append = OpCost::default();
    c.blob_put = OpCost::default();
    c.local_write = OpCost::default();
    cost(&mut c);
    let opts = ScaleOptions {
        cluster: ClusterSpec::this_machine(&c),
        calibration: c,
        calibration_source: "fixed (test)".into(),
    };
    let profile = Profile::builtin("bluefield-2").unwrap();
    run_scale(spec, Mode::Host, &profile, &opts).unwrap()
}

/// A fan-out write node marks the background copies finished since its last
/// acknowledgement in its manifest (one more append, with its sync) when it acknowledges
/// a batch, as the live `acknowledge` does: with copies done before each next batch is
/// acknowledged, seven of eight acknowledgements mark the one before, and cost one more
/// append each; with copies still running at the end, none do.
#[test]
fn a_writer_marks_finished_copies_in_its_manifest() {
    const APPEND_NS: f64 = 1_000_000.0;
    let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
    s.nodes = 1;
    s.object_size_bytes = 64 << 20;
    s.chunk_size_bytes = 1 << 20;
    s.batch = 8;
    s.compression = None;
    let wall_ns = |put_ns: f64| {
        let r = write_run_with(&s, 1.0, |c| {
            c.manifest_append =
                OpCost { op_ns: APPEND_NS, ns_per_byte: 0.0, cpu_share: 1.0, ..OpCost::default() };
            c.blob_put = OpCost { op_ns: put_ns, ns_per_byte: 0.0, cpu_share: 0.0, ..OpCost::default() };
        });
        r.wall.value * 1e9
    };
    // Copies of a microsecond, and of a thousand seconds.
    let (fast, slow) = (wall_ns(1_000.0), wall_ns(1e12));
    let marks = (fast - slow) / APPEND_NS;
    eprintln!("copies done before the next acknowledgement: {marks:.3} more appends");
    assert!((marks - 7.0).abs() < 0.01, "{marks}");
}

/// [`write_run`]'s modelled wall (s).
fn write_wall(
    spec: &ScenarioSpec,
    datagen_ns_per_byte: f64,
    local_write: OpCost,
    local_write_batch: Option<WriteBatchCost>,
) -> f64 {
    write_run(spec, datagen_ns_per_byte, local_write, local_write_batch).wall.value
}

/// A fan-in reader fetches `read_concurrency` chunks at once, as the live reader does:
/// each batch costs what the calibration measured for that many GETs at once, and a
/// smaller batch lies on the straight line from one GET to the measured batch. A
/// calibration without the measurement fetches one after another, and says so.
#[test]
fn a_reader_fetches_read_concurrency_chunks_at_once_at_the_calibrated_cost() {
    const ONE_NS: f64 = 1_000_000.0;
    const FOUR_NS: f64 = 2_500_000.0;
    let profile = Profile::builtin("bluefield-2").unwrap();
    let run = |read_concurrency: u32, batch: Option<BatchCost>| {
        let mut c = fixed();
        // Nothing but the GETs costs anything.
        c.crc32c = vec![SizedCost { bytes: 1 << 20, ns_per_byte: 0.0 }];
        c.memcpy = c.crc32c.clone();
        c.host_job_ns = 0.0;
        c.blob_get = OpCost { op_ns: ONE_NS, ns_per_byte: 0.0, cpu_share: 1.0, ..OpCost::default() };
        c.blob_get_batch = batch;
        let mut s = ScenarioSpec::defaults(ScenarioKind::FanInRead);
        s.nodes = 2;
        s.object_size_bytes = 16 << 20;
        s.chunk_size_bytes = 1 << 20;
        s.compression = None;
        s.blob_options.read_concurrency = read_concurrency;
        let opts = ScaleOptions {
            cluster: ClusterSpec::this_machine(&c),
            calibration: c,
            calibration_source: "fixed (test)".into(),
        };
        let r = run_scale(&s, Mode::Host, &profile, &opts).unwrap();
        (r.wall.value, r.notes)
    };
    let four = Some(BatchCost { requests: 4, op_ns: FOUR_NS, ns_per_byte: 0.0 });
    let (one, _) = run(1, four);
    // 32 chunks: one at a time, in batches of four, of two (1.5 GETs' time each), of
    // eight (4.5 GETs' time, past the measured four).
    for (rc, expected) in
        [(4, 8.0 * FOUR_NS / (32.0 * ONE_NS)), (2, 16.0 * 1.5 / 32.0), (8, 4.0 * 4.5 / 32.0)]
    {
        let (wall, notes) = run(rc, four);
        eprintln!("read_concurrency {rc}: {:.3} of one at a time (expected {expected:.3})", wall / one);
        assert!((wall / one - expected).abs() < 1e-6, "read_concurrency {rc}: {} vs {expected}", wall / one);
        assert!(!notes.iter().any(|n| n.contains("GETs at once")), "{notes:?}");
    }
    let (without, notes) = run(4, None);
    assert!((without / one - 1.0).abs() < 1e-6, "{without} vs {one}");
    assert!(notes.iter().any(|n| n.contains("no GETs at once")), "{notes:?}");
}

/// The device fetches a job when its doorbell rings (every `batch` jobs, or when the
/// host waits for a completion), as a live DPU does: a fan-in reader that rings once per
/// full queue leaves the device idle while it fetches, one that rings per GET batch does
/// not. In host mode `batch` changes nothing.
#[test]
fn device_jobs_start_at_their_doorbell() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = options(ClusterSpec::this_machine);
    let run = |mode: Mode, batch: u32| {
        let mut s = ScenarioSpec::defaults(ScenarioKind::FanInRead);
        s.nodes = 2;
        s.object_size_bytes = 16 << 20;
        s.chunk_size_bytes = 1 << 20;
        s.queue_depth = 16;
        s.blob_options.read_concurrency = 4;
        s.batch = batch;
        run_scale(&s, mode, &profile, &opts).unwrap().wall.value
    };
    let (per_get, per_queue) = (run(Mode::Offload, 4), run(Mode::Offload, 16));
    eprintln!("offload: rung every 4 jobs {:.3} ms, every 16 {:.3} ms", per_get * 1e3, per_queue * 1e3);
    assert!(per_queue > per_get * 1.02, "{per_get} {per_queue}");
    assert_eq!(run(Mode::Host, 4).to_bits(), run(Mode::Host, 16).to_bits());
}
