//! What the DPDK path costs on the host: gzip compress and decompress through a compressdev
//! software PMD (`--device dpdk:compress_isal`, through the offload layer, the device's
//! queue pair and thread, the mbuf copies and the PMD) beside the kit's host baseline (the
//! kernels' libdeflate, called directly on this thread), at 4 KiB, 64 KiB and 1 MiB, one
//! op at a time (burst 1: its time is the op's latency) and 32 at a time (burst 32).
//! Needs the `dpdk` feature: `cargo bench --features dpdk --bench compressdev`.
//!
//! Parameters (env): DPUKIT_BENCH_SIZES (bytes, default "4096,65536,1048576"),
//! DPUKIT_BENCH_PMD (default "compress_isal").

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dpukit_ffi::Algorithm;
use dpukit_host::device::DeviceChoice;
use dpukit_host::dpdk::DpdkSpec;
use dpukit_host::offload::{Buf, Offload, OffloadConfig, RanOn, SlotOp};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::compress::{self, Codec};
use dpukit_kernels::datagen::{DataGen, Preset};
use dpukit_kernels::registry::Registry;
use dpukit_sim::profile::Profile;

const LEVEL: u8 = 1;
const BURSTS: [usize; 2] = [1, 32];

fn sizes() -> Vec<usize> {
    std::env::var("DPUKIT_BENCH_SIZES")
        .unwrap_or_else(|_| "4096,65536,1048576".to_owned())
        .split(',')
        .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("DPUKIT_BENCH_SIZES: not a number: {s:?}")))
        .collect()
}

fn pmd() -> String {
    std::env::var("DPUKIT_BENCH_PMD").unwrap_or_else(|_| "compress_isal".into())
}

/// An offload whose device is the PMD, with `burst` slots rung together.
fn device(size: usize, burst: usize) -> Offload {
    let mut spec = DpdkSpec::parse(&pmd()).expect("a PMD name");
    spec.burst = burst as u16;
    spec.queue_pairs = 4;
    let cfg = OffloadConfig {
        slots: burst,
        in_bytes: size + size / 8 + 4096,
        out_bytes: size + size / 8 + 4096,
        spare_bytes: 0,
        batch: burst,
        device_timeout_ns: 60_000_000_000,
        engine: Default::default(),
    };
    let registry = Registry::new(Arc::new(CacheIndex::new(64).expect("index")));
    Offload::with_choice(
        registry,
        &cfg,
        &Profile::builtin("host-only").expect("profile"),
        &DeviceChoice::Dpdk(spec),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", pmd()))
}

/// Runs `burst` copies of `op` on `input` and takes them all back.
fn run_burst(off: &mut Offload, input: &[u8], op: SlotOp, burst: usize) -> usize {
    for i in 0..burst {
        let slot = off.take_slot().expect("a slot per op of the burst");
        off.slot(slot).expect("slot").0[..input.len()].copy_from_slice(input);
        off.submit(slot, i as u64, &[op]).expect("submit");
    }
    let mut bytes = 0;
    for _ in 0..burst {
        let f = off.next_finished().expect("next").expect("a job in flight");
        assert_eq!(f.results[0].ran_on, RanOn::Device, "{:?}", off.stats().fallbacks);
        bytes += f.results[0].result as usize;
        off.release(f.slot);
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let codec = Codec::new(Algorithm::Gzip, LEVEL as i32).expect("level");
    for size in sizes() {
        let mut data = vec![0u8; size];
        DataGen::preset(Preset::CheckpointLike).fill(0x5eed, 0, &mut data);
        let mut packed = vec![0u8; size + size / 8 + 4096];
        let n = compress::compress(&codec, &data, &mut packed).expect("compress");
        packed.truncate(n);
        let mut out = vec![0u8; size + size / 8 + 4096];

        let mut group = c.benchmark_group(format!("gzip-compress/{size}"));
        group
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(20);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("host-kernel", |b| {
            b.iter(|| compress::compress(&codec, black_box(&data), &mut out))
        });
        for burst in BURSTS {
            let mut off = device(size, burst);
            let op = SlotOp::Compress { algorithm: Algorithm::Gzip, level: LEVEL, len: size as u32 };
            group.throughput(Throughput::Bytes((size * burst) as u64));
            group.bench_function(format!("{}-burst{burst}", pmd()), |b| {
                b.iter(|| run_burst(&mut off, black_box(&data), op, burst))
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("gzip-decompress/{size}"));
        group
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(20);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("host-kernel", |b| {
            b.iter(|| compress::decompress(Algorithm::Gzip, black_box(&packed), &mut out))
        });
        for burst in BURSTS {
            let mut off = device(size, burst);
            let op =
                SlotOp::Decompress { algorithm: Algorithm::Gzip, src: Buf::In, dst: Buf::Out, len: n as u32 };
            group.throughput(Throughput::Bytes((size * burst) as u64));
            group.bench_function(format!("{}-burst{burst}", pmd()), |b| {
                b.iter(|| run_burst(&mut off, black_box(&packed), op, burst))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
