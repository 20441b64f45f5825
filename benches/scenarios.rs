//! Scenario benchmarks: each scenario in both modes at a small size, and the stages of a
//! fan-out write run alone (data generation, compression, CRC32C, the local tier, the blob
//! copy), so the end-to-end figure can be read as a fraction of its slowest stage. The
//! two storage stages run twice: rewriting the same chunks (pages already cached) and,
//! as a run does, writing new ones (`_new_pages`, `_new_objects`).
//!
//! In offload mode the wall time measured here includes the simulator's own work (the
//! kernels run on this CPU too); the modelled figures come from `dpukit compare`.
//!
//! Parameters (env): DPUKIT_BENCH_SIZE (bytes per node, default 16m),
//! DPUKIT_BENCH_CHUNK (default 1m), DPUKIT_BENCH_NODES (default 2),
//! DPUKIT_BENCH_PROFILE (default bluefield-2).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dpukit_host::result::Mode;
use dpukit_host::run::{run_scenario, RunOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_host::tier::{LocalTier, LocalTierConfig};
use dpukit_kernels::compress::{compress, max_compressed_len, Algorithm, Codec};
use dpukit_kernels::crc32c::crc32c;
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_sim::profile::Profile;
use std::hint::black_box;
use std::time::Duration;

fn size_env(name: &str, default: u64) -> u64 {
    let Ok(v) = std::env::var(name) else { return default };
    let v = v.trim().to_ascii_lowercase();
    let (num, mult) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1u64 << 10),
        Some('m') => (&v[..v.len() - 1], 1 << 20),
        Some('g') => (&v[..v.len() - 1], 1 << 30),
        _ => (&v[..], 1),
    };
    num.parse::<u64>().unwrap_or_else(|_| panic!("{name}: not a size: {v}")) * mult
}

fn spec(kind: ScenarioKind) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = size_env("DPUKIT_BENCH_NODES", 2) as u32;
    s.readers = 1;
    s.object_size_bytes = size_env("DPUKIT_BENCH_SIZE", 16 << 20);
    s.chunk_size_bytes = size_env("DPUKIT_BENCH_CHUNK", 1 << 20) as u32;
    s.verify = false;
    s.kv_requests = 32;
    s
}

fn scenarios(c: &mut Criterion) {
    let name = std::env::var("DPUKIT_BENCH_PROFILE").unwrap_or_else(|_| "bluefield-2".into());
    let profile = Profile::builtin(&name).expect("DPUKIT_BENCH_PROFILE: a built-in profile");
    let mut g = c.benchmark_group("scenario_wall");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(4));
    for kind in ScenarioKind::ALL {
        let s = spec(kind);
        // One run tells the byte count for the throughput figure.
        let probe = run_scenario(&s, Mode::Host, &profile, &RunOptions::default()).expect("scenario runs");
        g.throughput(Throughput::Bytes(probe.bytes));
        for mode in [Mode::Host, Mode::Offload] {
            g.bench_with_input(BenchmarkId::new(kind.name(), mode.name()), &mode, |b, &mode| {
                b.iter(|| run_scenario(&s, mode, &profile, &RunOptions::default()).expect("scenario runs"))
            });
        }
    }
    g.finish();
}

fn write_stages(c: &mut Criterion) {
    let s = spec(ScenarioKind::FanOutWrite);
    let chunk = s.chunk_size_bytes as usize;
    let gen = DataGen::new(s.compressibility, ByteStyle::Bf16).unwrap();
    let codec = Codec::with_default_level(Algorithm::Lz4);
    let mut raw = vec![0u8; chunk];
    gen.fill(1, 0, &mut raw);
    let mut out = vec![0u8; max_compressed_len(&codec, chunk)];
    let clen = compress(&codec, &raw, &mut out).unwrap();

    let mut g = c.benchmark_group("fan_out_write_stage_alone");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Bytes(chunk as u64));
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    g.bench_function("datagen", |b| {
        b.iter(|| {
            off += chunk as u64;
            gen.fill(1, off, &mut buf)
        })
    });
    g.bench_function("lz4_compress", |b| b.iter(|| compress(&codec, black_box(&raw), &mut out).unwrap()));
    g.bench_function("crc32c_stored", |b| b.iter(|| crc32c(black_box(&out[..clen]))));
    g.bench_function("memcpy_reference", |b| b.iter(|| buf.copy_from_slice(black_box(&raw))));
    let dir = tempfile::tempdir().unwrap();
    let batch = s.batch as usize;
    let mut tier = LocalTier::open(
        dir.path(),
        LocalTierConfig { buffer_size_bytes: chunk.div_ceil(4096) * 4096, ..LocalTierConfig::default() },
    )
    .unwrap();
    let stored: Vec<u8> = out[..clen].to_vec();
    let mut i = 0u64;
    g.throughput(Throughput::Bytes((chunk * batch) as u64));
    g.bench_function("local_tier_write_batch_fdatasync", |b| {
        b.iter(|| {
            let writes: Vec<(u64, &[u8])> =
                (0..batch as u64).map(|k| (((i + k) % 64) * (chunk as u64 + 4096), &stored[..])).collect();
            i += batch as u64;
            tier.write_chunks("bench", &writes).unwrap()
        })
    });
    // The same, as a run does it: every chunk at a new offset of a growing file, so each
    // write takes new page-cache pages instead of overwriting pages already cached. (On
    // a VM whose host backs guest memory lazily, new pages cost a host fault each.)
    let mut grown = 0u64;
    g.bench_function("local_tier_write_batch_fdatasync_new_pages", |b| {
        b.iter(|| {
            let writes: Vec<(u64, &[u8])> =
                (0..batch as u64).map(|k| ((grown + k) * (chunk as u64 + 4096), &stored[..])).collect();
            grown += batch as u64;
            tier.write_chunks("grown", &writes).unwrap()
        })
    });
    // The background copy to the blob tier (object_store's local store, fsync on put):
    // per stored chunk, so read it against the raw chunk size like the stages above.
    let blob_dir = tempfile::tempdir().unwrap();
    let blob = dpukit_host::tier::BlobTier::local(blob_dir.path()).unwrap();
    let stored_chunk = bytes::Bytes::copy_from_slice(&out[..clen]);
    let mut k = 0u64;
    g.throughput(Throughput::Bytes(chunk as u64));
    g.bench_function("blob_put_stored_chunk", |b| {
        b.iter(|| {
            k += 1;
            blob.put_chunk("bench", k % 256, stored_chunk.clone()).unwrap()
        })
    });
    // New objects every time, as a run's copy makes them (see the local tier's twin above).
    g.bench_function("blob_put_stored_chunk_new_objects", |b| {
        b.iter(|| {
            k += 1;
            blob.put_chunk("grown", k, stored_chunk.clone()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, write_stages, scenarios);
criterion_main!(benches);
