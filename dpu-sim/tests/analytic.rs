//! Analytic validation: the model against queueing theory (capacity, M/D/1, Little's law)
//! and routing/determinism properties. Each test prints model vs expected.

use dpukit_sim::profile::{Algorithm, Profile};
use dpukit_sim::timing::{ModelError, OpCost, OpKind, Route, SimDuration, SimTime, SplitMix64, TimingModel};

/// One engine, no PCIe hop: service time = `bytes_in` ns exactly (1 GB/s, no setup).
const ONE_SERVER: &str = r#"
schema_version = 1
name = "one-server"
kind = "on-cpu-accelerator"
description = "test fixture: a single deterministic server"
[host]
cpu = "test"
[[accelerators]]
name = "unit"
ops = ["crc32c"]
engines = { value = 1, source = "test fixture", confidence = "assumed" }
bandwidth_bytes_per_s = { value = 1e9, source = "test fixture", confidence = "assumed" }
setup_latency_ns = { value = 0.0, source = "test fixture", confidence = "assumed" }
min_efficient_size_bytes = { value = 0, source = "test fixture", confidence = "assumed" }
"#;

const SERVICE_NS: u64 = 1_000;

fn one_server() -> TimingModel {
    let profile = Profile::from_toml_str(ONE_SERVER, "tests/one-server").unwrap();
    TimingModel::new(&profile).unwrap()
}

fn crc(bytes: u64) -> OpCost {
    OpCost { kind: OpKind::Crc32c, bytes_in: bytes, bytes_out: 0 }
}

fn rel_err(model: f64, expected: f64) -> f64 {
    (model - expected).abs() / expected
}

struct PoissonRun {
    arrivals_ns: Vec<u64>,
    completions_ns: Vec<u64>,
    mean_wait_ns: f64,
    mean_sojourn_ns: f64,
}

/// Poisson arrivals at load `rho` into the one-server model.
fn poisson_run(rho: f64, ops: usize, seed: u64) -> PoissonRun {
    let mut model = one_server();
    let mut rng = SplitMix64::new(seed);
    let mean_gap_ns = SERVICE_NS as f64 / rho;
    let mut t_ns = 0.0f64;
    let (mut wait_sum, mut sojourn_sum) = (0u64, 0u64);
    let mut arrivals_ns = Vec::with_capacity(ops);
    let mut completions_ns = Vec::with_capacity(ops);
    for _ in 0..ops {
        t_ns += rng.next_exp(mean_gap_ns);
        let arrival = SimTime::from_ns(t_ns.round() as u64);
        let timing = model.submit(arrival, &crc(SERVICE_NS)).unwrap();
        assert_eq!(timing.compute.service(), SimDuration::from_ns(SERVICE_NS));
        wait_sum += timing.compute.queue_wait().as_ns();
        sojourn_sum += timing.latency().as_ns();
        arrivals_ns.push(arrival.as_ns());
        completions_ns.push(timing.completion.as_ns());
    }
    PoissonRun {
        arrivals_ns,
        completions_ns,
        mean_wait_ns: wait_sum as f64 / ops as f64,
        mean_sojourn_ns: sojourn_sum as f64 / ops as f64,
    }
}

fn md1_case(rho: f64, ops: usize, seed: u64) {
    let run = poisson_run(rho, ops, seed);
    let mu_per_ns = 1.0 / SERVICE_NS as f64;
    let expected = rho / (2.0 * mu_per_ns * (1.0 - rho));
    let err = rel_err(run.mean_wait_ns, expected);
    println!(
        "M/D/1 rho={rho}: model mean wait {:.1} ns, theory {:.1} ns, error {:.2} % ({ops} ops, seed {seed})",
        run.mean_wait_ns,
        expected,
        err * 100.0
    );
    assert!(err < 0.05, "M/D/1 rho={rho}: error {:.2} % > 5 %", err * 100.0);
}

#[test]
fn md1_mean_wait_rho_0_5() {
    md1_case(0.5, 200_000, 1);
}

#[test]
fn md1_mean_wait_rho_0_8() {
    md1_case(0.8, 200_000, 2);
}

#[test]
fn littles_law() {
    let rho = 0.8;
    let run = poisson_run(rho, 200_000, 3);
    let lambda_per_ns = rho / SERVICE_NS as f64;
    // Time-average number in system, seen by independent Poisson observers (PASTA).
    let end_ns = *run.arrivals_ns.last().unwrap();
    let mut probe_rng = SplitMix64::new(99);
    let (mut t_ns, mut sum, mut probes) = (0.0f64, 0u64, 0u64);
    loop {
        t_ns += probe_rng.next_exp(SERVICE_NS as f64);
        if t_ns >= end_ns as f64 {
            break;
        }
        let t = t_ns as u64;
        let arrived = run.arrivals_ns.partition_point(|&a| a <= t);
        let left = run.completions_ns.partition_point(|&c| c <= t);
        sum += (arrived - left) as u64;
        probes += 1;
    }
    let l = sum as f64 / probes as f64;
    let lambda_w = lambda_per_ns * run.mean_sojourn_ns;
    let err = rel_err(l, lambda_w);
    println!(
        "Little: L (time average, {probes} probes) = {l:.3}, lambda*W = {lambda_w:.3}, error {:.2} %",
        err * 100.0
    );
    assert!(err < 0.05, "Little's law off by {:.2} %", err * 100.0);
}

/// Throughput at saturation over ops `n/10..n` (past the pipeline's fill).
fn saturated_ops_per_s(model: &mut TimingModel, op: &OpCost, ops: usize) -> f64 {
    let mut compute_ends = Vec::with_capacity(ops);
    for _ in 0..ops {
        let t = model.submit(SimTime::ZERO, op).unwrap();
        compute_ends.push(t.compute.end.as_ns());
    }
    compute_ends.sort_unstable();
    let from = ops / 10;
    let span_ns = compute_ends[ops - 1] - compute_ends[from];
    (ops - 1 - from) as f64 / (span_ns as f64 * 1e-9)
}

#[test]
fn single_engine_reaches_profile_capacity() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let accel = &profile.accelerators[0];
    let op = OpCost { kind: OpKind::Compress(Algorithm::Deflate), bytes_in: 65_536, bytes_out: 56_500 };
    let expected_ops_per_s = f64::from(accel.engines.value)
        / (accel.setup_latency_ns.value * 1e-9 + op.bytes_in as f64 / accel.bandwidth_bytes_per_s.value);
    let mut model = TimingModel::new(&profile).unwrap();
    let got = saturated_ops_per_s(&mut model, &op, 2_000);
    let err = rel_err(got, expected_ops_per_s);
    println!(
        "BF-2 deflate engine at saturation: model {:.0} ops/s ({:.3} GB/s), profile {:.0} ops/s, error {:.2} %",
        got,
        got * op.bytes_in as f64 * 1e-9,
        expected_ops_per_s,
        err * 100.0
    );
    assert!(err < 0.02);
    let hot = model.bottleneck().unwrap();
    println!("bottleneck {} at {:.3}", hot.name, hot.utilization);
    assert_eq!(hot.name, "accel:compress");
    assert!(hot.utilization > 0.98);
}

#[test]
fn dpu_cores_reach_profile_capacity() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let cores = profile.cores.as_ref().unwrap();
    let op = OpCost { kind: OpKind::Compress(Algorithm::Zstd), bytes_in: 65_536, bytes_out: 20_000 };
    let per_op_s =
        cores.per_op_fixed_ns.value * 1e-9 + op.bytes_in as f64 / cores.compress_bytes_per_s.zstd.value;
    let expected = f64::from(cores.count.value) / per_op_s;
    let mut model = TimingModel::new(&profile).unwrap();
    let got = saturated_ops_per_s(&mut model, &op, 2_000);
    let err = rel_err(got, expected);
    println!(
        "BF-2 zstd on {} cores at saturation: model {got:.0} ops/s, profile {expected:.0} ops/s, error {:.2} %",
        cores.count.value,
        err * 100.0
    );
    assert!(err < 0.02);
    assert_eq!(model.bottleneck().unwrap().name, "dpu-cores");
}

#[test]
fn missing_engines_route_to_dpu_cores() {
    let bf2 = TimingModel::new(&Profile::builtin("bluefield-2").unwrap()).unwrap();
    assert_eq!(bf2.route(&OpKind::Compress(Algorithm::Deflate)).unwrap(), Route::Accelerator(0));
    assert_eq!(bf2.route(&OpKind::Compress(Algorithm::Lz4)).unwrap(), Route::DpuCores);
    assert_eq!(bf2.route(&OpKind::Decompress(Algorithm::Lz4)).unwrap(), Route::DpuCores);
    let bf3 = TimingModel::new(&Profile::builtin("bluefield-3").unwrap()).unwrap();
    assert_eq!(bf3.route(&OpKind::Compress(Algorithm::Deflate)).unwrap(), Route::DpuCores);
    assert_eq!(bf3.route(&OpKind::Decompress(Algorithm::Lz4)).unwrap(), Route::Accelerator(0));
    let intel = TimingModel::new(&Profile::builtin("intel-dsa-iaa").unwrap()).unwrap();
    assert_eq!(intel.route(&OpKind::CopyCrc32c).unwrap(), Route::Accelerator(0));
    let err = intel.route(&OpKind::Compress(Algorithm::Zstd)).unwrap_err();
    println!("{err}");
    assert!(matches!(err, ModelError::NoRoute { .. }));
}

#[test]
fn host_only_has_no_device() {
    let err = TimingModel::new(&Profile::builtin("host-only").unwrap()).unwrap_err();
    println!("{err}");
    assert!(matches!(err, ModelError::NoDevice { .. }));
    assert!(err.to_string().contains("no device"));
}

#[test]
fn fence_delays_start() {
    let mut model = TimingModel::new(&Profile::builtin("bluefield-2").unwrap()).unwrap();
    let (_, first) = model.submit_single(SimTime::ZERO, &crc(4096)).unwrap();
    let second = model.submit_fenced(SimTime::ZERO, first.completion, &crc(4096)).unwrap();
    assert!(second.start >= first.completion);
    assert!(second.completion > first.completion);
}

#[test]
fn stages_are_ordered_and_batched_doorbell_is_cheaper() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let op = OpCost { kind: OpKind::Decompress(Algorithm::Deflate), bytes_in: 2_000, bytes_out: 4_096 };
    let mut model = TimingModel::new(&profile).unwrap();
    let t = model.submit(SimTime::ZERO, &op).unwrap();
    assert!(t.source_read.done <= t.compute.start);
    assert!(t.compute.end <= t.result_write.start);
    assert!(t.result_write.end <= t.completion_write.start);
    assert!(t.completion >= t.completion_write.end);
    assert!(t.below_min_efficient_size == (op.bytes_out < 948));

    // 32 descriptors: one doorbell and one 2 KiB fetch vs 32 of each.
    let mut batched = TimingModel::new(&profile).unwrap();
    let b = batched.doorbell(SimTime::ZERO, 32).unwrap();
    let mut single = TimingModel::new(&profile).unwrap();
    let mut last = SimTime::ZERO;
    for _ in 0..32 {
        last = last.max(single.doorbell(SimTime::ZERO, 1).unwrap().descriptors_ready);
    }
    println!("32 descriptors ready: batched {}, one by one {}", b.descriptors_ready, last);
    assert!(b.descriptors_ready < last);
    assert!(batched.doorbell(SimTime::ZERO, 0).is_err());
}

#[test]
fn same_inputs_same_timings() {
    let run = || {
        let mut model = TimingModel::new(&Profile::builtin("fungible-f1").unwrap()).unwrap();
        let mut rng = SplitMix64::new(42);
        let mut t_ns = 0u64;
        let mut out = Vec::new();
        for i in 0..2_000u64 {
            t_ns += rng.next_u64() % 500;
            let kind = match i % 4 {
                0 => OpKind::Crc32c,
                1 => OpKind::Compress(Algorithm::Deflate),
                2 => OpKind::CacheLookup,
                _ => OpKind::Decompress(Algorithm::Zstd),
            };
            let op = OpCost {
                kind,
                bytes_in: 512 + rng.next_u64() % 65_536,
                bytes_out: 512 + rng.next_u64() % 65_536,
            };
            out.push(model.submit(SimTime::from_ns(t_ns), &op).unwrap());
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn short_op_overtakes_long_one_on_another_path() {
    // A long compress on the engine must not hold up a later CRC's result write.
    let mut model = TimingModel::new(&Profile::builtin("bluefield-2").unwrap()).unwrap();
    let long = OpCost { kind: OpKind::Compress(Algorithm::Deflate), bytes_in: 1 << 20, bytes_out: 1 << 20 };
    let short = OpCost { kind: OpKind::Copy, bytes_in: 4096, bytes_out: 4096 };
    let a = model.submit(SimTime::ZERO, &long).unwrap();
    let b = model.submit(SimTime::ZERO, &short).unwrap();
    println!("long completes {}, short completes {}", a.completion, b.completion);
    assert!(b.completion < a.compute.end);
}
