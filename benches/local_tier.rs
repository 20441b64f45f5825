//! Write and read throughput of the local tier (`dpukit_host::tier::LocalTier`), buffered and
//! O_DIRECT, with fio beside it as the reference.
//!
//! Parameters (fio names): `DPUKIT_BENCH_BS` (default `1m`), `DPUKIT_BENCH_IODEPTH` (default
//! 16), `DPUKIT_BENCH_SIZE` (default `256m`), `DPUKIT_BENCH_DIR` (default the system temp
//! dir; it must be on the filesystem under test). One iteration writes (or reads) the whole
//! file sequentially in `bs` chunks. Writes go through a `WritePipeline`,
//! [`SYNC_EVERY_CHUNKS`] chunks per batch, one fdatasync per batch pushed once the batch's
//! writes completed, with `DPUKIT_BENCH_BATCHES_IN_FLIGHT` batches (default
//! [`DEFAULT_BATCHES_IN_FLIGHT`]) in flight, so writes keep flowing while a sync runs; `1`
//! gives the unpipelined loop (each batch waits for its sync). Every batch, the last
//! included, is durable before the pass ends.
//!
//! After the criterion groups, a side-by-side table times the tier and fio with the same
//! parameters, runs interleaved (tier, fio, tier, ...), median of 5 each, when `fio` is on PATH:
//!
//! ```text
//! fio --name=local_tier_write --filename=<dir>/fio.dat --size=256m --bs=1m --iodepth=16 \
//!     --ioengine=io_uring --direct=1 --rw=write --fdatasync=64 --end_fsync=1 \
//!     --output-format=json
//! fio --name=local_tier_read --filename=<dir>/fio.dat --size=256m --bs=1m --iodepth=16 \
//!     --ioengine=io_uring --fixedbufs --direct=1 --rw=read --output-format=json
//! ```
//!
//! The buffered rows use `--direct=0 --invalidate=0` (fio otherwise drops the page cache
//! before a job; the tier's buffered reads are page-cache reads). Reads use `--fixedbufs`, as
//! the tier's registered buffers. Writes do not: fio (3.33 here) prepares its fdatasync in the
//! submission entry its io_u last used for a `WRITE_FIXED` without clearing `buf_index`, the
//! kernel refuses an `IORING_OP_FSYNC` with a non-zero `buf_index` (EINVAL), and fio does not
//! check sync completions, so with `--fixedbufs` and iodepth > 1 no fdatasync happens at all
//! (no flush reaches the device; a buffered job leaves all of its data dirty). `--end_fsync=1`
//! syncs the tail, as the tier does. The table prints fio's own sync count and latency, and
//! says so when fio's syncs returned in under 10 us (they failed). `DPUKIT_BENCH_FIO_LEGACY_WRITES=1`
//! puts back the former write reference (`--fixedbufs`, no `--end_fsync`) for comparison.
//! Filter out the criterion groups with `cargo bench --bench local_tier -- compare-only` to
//! get the table alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use dpukit_host::tier::{LocalTier, LocalTierConfig, MAX_BATCHES_IN_FLIGHT};

/// Chunks per batch, i.e. writes per fdatasync (fio `--fdatasync`).
const SYNC_EVERY_CHUNKS: usize = 64;
/// Batches in flight in the tier's write loop unless `DPUKIT_BENCH_BATCHES_IN_FLIGHT` says.
const DEFAULT_BATCHES_IN_FLIGHT: usize = 2;
/// Runs per figure in the side-by-side table.
const COMPARE_RUNS: usize = 5;
/// fio syncs faster than this on average did not reach the device (they failed).
const FIO_SYNC_FAILED_BELOW_NS: f64 = 10_000.0;

#[derive(Debug, Clone)]
struct Params {
    bs_bytes: usize,
    iodepth: u32,
    size_bytes: u64,
    batches_in_flight: usize,
    fio_legacy_writes: bool,
    dir: PathBuf,
}

fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, shift) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 10),
        'm' => (&t[..t.len() - 1], 20),
        'g' => (&t[..t.len() - 1], 30),
        _ => (&t[..], 0),
    };
    digits.parse::<u64>().ok().map(|n| n << shift)
}

fn env_size(name: &str, default: &str) -> u64 {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_string());
    parse_size(&text).unwrap_or_else(|| {
        eprintln!("{name}={text}: not a size (examples: 4k, 1m, 256m)");
        std::process::exit(2)
    })
}

fn params() -> Params {
    let bs_bytes = env_size("DPUKIT_BENCH_BS", "1m") as usize;
    let iodepth = env_size("DPUKIT_BENCH_IODEPTH", "16") as u32;
    let size_bytes = env_size("DPUKIT_BENCH_SIZE", "256m");
    if bs_bytes == 0 || !bs_bytes.is_multiple_of(4096) || !size_bytes.is_multiple_of(bs_bytes as u64) {
        eprintln!("DPUKIT_BENCH_BS must be a multiple of 4096 dividing DPUKIT_BENCH_SIZE");
        std::process::exit(2);
    }
    let batches_in_flight =
        env_size("DPUKIT_BENCH_BATCHES_IN_FLIGHT", &DEFAULT_BATCHES_IN_FLIGHT.to_string());
    if batches_in_flight == 0 || batches_in_flight > MAX_BATCHES_IN_FLIGHT as u64 {
        eprintln!("DPUKIT_BENCH_BATCHES_IN_FLIGHT must be 1..={MAX_BATCHES_IN_FLIGHT}");
        std::process::exit(2);
    }
    let fio_legacy_writes = std::env::var("DPUKIT_BENCH_FIO_LEGACY_WRITES").is_ok_and(|v| v == "1");
    let base = std::env::var_os("DPUKIT_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("dpukit-local-tier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create bench directory");
    Params {
        bs_bytes,
        iodepth,
        size_bytes,
        batches_in_flight: batches_in_flight as usize,
        fio_legacy_writes,
        dir,
    }
}

fn open_tier(p: &Params, direct: bool) -> LocalTier {
    let config = LocalTierConfig {
        iodepth: p.iodepth,
        direct,
        buffer_size_bytes: p.bs_bytes,
        max_inflight_bytes: p.bs_bytes as u64 * p.iodepth as u64,
        ..LocalTierConfig::default()
    };
    LocalTier::open(&p.dir, config).unwrap_or_else(|e| panic!("open local tier: {e}"))
}

/// Writes the whole file in batches of [`SYNC_EVERY_CHUNKS`], `batches_in_flight` at a time;
/// returns once every batch is acknowledged (durable).
fn write_file(tier: &mut LocalTier, p: &Params, data: &Bytes) {
    let chunks = (p.size_bytes / p.bs_bytes as u64) as usize;
    let mut pipe = tier.write_pipeline(p.batches_in_flight).expect("write pipeline");
    let mut next = 0;
    while next < chunks {
        if pipe.is_full() {
            pipe.wait().expect("batch durable").expect("a batch is in flight");
        }
        let n = SYNC_EVERY_CHUNKS.min(chunks - next);
        let batch: Vec<(u64, Bytes)> =
            (next..next + n).map(|i| ((i * p.bs_bytes) as u64, data.clone())).collect();
        pipe.submit("bench", batch).expect("submit batch");
        next += n;
    }
    while pipe.wait().expect("batch durable").is_some() {}
}

fn read_file(tier: &mut LocalTier, p: &Params, bufs: &mut [Vec<u8>]) {
    let chunks = (p.size_bytes / p.bs_bytes as u64) as usize;
    let mut next = 0;
    while next < chunks {
        let n = bufs.len().min(chunks - next);
        let mut reqs: Vec<(u64, &mut [u8])> = bufs[..n]
            .iter_mut()
            .enumerate()
            .map(|(i, b)| (((next + i) * p.bs_bytes) as u64, page_aligned(b, p.bs_bytes)))
            .collect();
        tier.read_chunks("bench", &mut reqs).expect("read_chunks");
        next += n;
    }
}

/// The page-aligned `len` bytes of `buf` (allocated `len` + one page). fio's buffers are
/// page-aligned; a copy out of the page cache into a destination 16 bytes off a page
/// boundary (where a large `Vec` starts) runs slower.
fn page_aligned(buf: &mut [u8], len: usize) -> &mut [u8] {
    let start = buf.as_ptr().align_offset(4096);
    &mut buf[start..start + len]
}

fn mode_name(direct: bool) -> &'static str {
    if direct {
        "direct"
    } else {
        "buffered"
    }
}

fn bench_local_tier(c: &mut Criterion) {
    let p = params();
    let data: Bytes = (0..p.bs_bytes).map(|i| (i as u64).wrapping_mul(0x9E37_79B9) as u8).collect();
    // Reads land in iodepth page-aligned buffers, as fio's do (iodepth x bs of io buffers):
    // the copies out of the page cache go to memory of the same size and alignment.
    let mut bufs: Vec<Vec<u8>> = (0..p.iodepth as usize).map(|_| vec![0u8; p.bs_bytes + 4096]).collect();
    let label = format!("bs={} iodepth={} size={}", p.bs_bytes, p.iodepth, p.size_bytes);

    let mut group = c.benchmark_group("local_tier");
    group.throughput(Throughput::Bytes(p.size_bytes));
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for direct in [false, true] {
        let mut tier = open_tier(&p, direct);
        group.bench_function(BenchmarkId::new(format!("write/{}", mode_name(direct)), &label), |b| {
            b.iter(|| write_file(&mut tier, &p, &data))
        });
        group.bench_function(BenchmarkId::new(format!("read/{}", mode_name(direct)), &label), |b| {
            b.iter(|| read_file(&mut tier, &p, &mut bufs))
        });
    }
    group.finish();
    compare_with_fio(&p, &data, &mut bufs);
    let _ = std::fs::remove_dir_all(&p.dir);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One timed pass of the tier over the whole file, in MiB/s.
fn tier_mib_per_s(tier: &mut LocalTier, p: &Params, write: bool, data: &Bytes, bufs: &mut [Vec<u8>]) -> f64 {
    let start = Instant::now();
    if write {
        write_file(tier, p, data);
    } else {
        read_file(tier, p, bufs);
    }
    p.size_bytes as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64()
}

fn fio_args(p: &Params, file: &Path, direct: bool, write: bool) -> Vec<String> {
    let mut args = vec![
        format!("--name=local_tier_{}", if write { "write" } else { "read" }),
        format!("--filename={}", file.display()),
        format!("--size={}", p.size_bytes),
        format!("--bs={}", p.bs_bytes),
        format!("--iodepth={}", p.iodepth),
        "--ioengine=io_uring".to_string(),
    ];
    if !write || p.fio_legacy_writes {
        // See the module docs: with `--fixedbufs`, fio's fdatasyncs fail unseen.
        args.push("--fixedbufs".to_string());
    }
    args.push(format!("--direct={}", u8::from(direct)));
    args.push(format!("--rw={}", if write { "write" } else { "read" }));
    if write {
        args.push(format!("--fdatasync={SYNC_EVERY_CHUNKS}"));
        if !p.fio_legacy_writes {
            args.push("--end_fsync=1".to_string());
        }
    }
    if !direct {
        // The tier's buffered reads hit the page cache the write left; so must fio's.
        args.push("--invalidate=0".to_string());
    }
    args.push("--output-format=json".to_string());
    args
}

/// One fio run: bandwidth in MiB/s, and its syncs (count, mean latency in ns).
struct FioRun {
    mib_per_s: f64,
    syncs: u64,
    sync_mean_ns: f64,
}

fn fio_run(p: &Params, direct: bool, write: bool) -> Option<FioRun> {
    let args = fio_args(p, &p.dir.join("fio.dat"), direct, write);
    let out = Command::new("fio").args(&args).output().ok()?;
    if !out.status.success() {
        eprintln!("fio failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let job = &doc["jobs"][0];
    // fio's `bw` is in KiB/s.
    let kib_per_s = job[if write { "write" } else { "read" }]["bw"].as_f64()?;
    let sync = &job["sync"]["lat_ns"];
    Some(FioRun {
        mib_per_s: kib_per_s / 1024.0,
        syncs: sync["N"].as_u64().unwrap_or(0),
        sync_mean_ns: sync["mean"].as_f64().unwrap_or(0.0),
    })
}

fn compare_with_fio(p: &Params, data: &Bytes, bufs: &mut [Vec<u8>]) {
    println!();
    println!(
        "local tier vs fio: bs={} iodepth={} size={} fdatasync every {SYNC_EVERY_CHUNKS} writes, tier batches in flight {}, fio write reference {}, median of {COMPARE_RUNS}",
        p.bs_bytes,
        p.iodepth,
        p.size_bytes,
        p.batches_in_flight,
        if p.fio_legacy_writes { "legacy (--fixedbufs, no --end_fsync)" } else { "--end_fsync=1, no --fixedbufs" }
    );
    println!(
        "{:<18} {:>14} {:>14} {:>8}   fio syncs/run, mean latency",
        "workload", "tier MiB/s", "fio MiB/s", "ratio"
    );
    let mut failed_syncs = false;
    for direct in [true, false] {
        for write in [true, false] {
            let mut tier = open_tier(p, direct);
            if !write {
                write_file(&mut tier, p, data);
                // fio lays out its own file on its first read run.
            }
            // Interleaved, so both see the same background load on a shared machine.
            let mut tier_runs = Vec::new();
            let mut fio_runs = Vec::new();
            for _ in 0..COMPARE_RUNS {
                tier_runs.push(tier_mib_per_s(&mut tier, p, write, data, bufs));
                fio_runs.extend(fio_run(p, direct, write));
            }
            let tier = median(tier_runs);
            let name = format!("{}/{}", if write { "write" } else { "read" }, mode_name(direct));
            let syncs = if write && !fio_runs.is_empty() {
                let n = fio_runs.iter().map(|r| r.syncs).sum::<u64>() / fio_runs.len() as u64;
                let mean_ns = fio_runs.iter().map(|r| r.sync_mean_ns).sum::<f64>() / fio_runs.len() as f64;
                let failed = n > 0 && mean_ns < FIO_SYNC_FAILED_BELOW_NS;
                failed_syncs |= failed;
                format!(
                    "   {n}, {:.3} ms{}",
                    mean_ns / 1e6,
                    if failed { " (failed: nothing synced)" } else { "" }
                )
            } else {
                String::new()
            };
            if fio_runs.len() == COMPARE_RUNS {
                let fio = median(fio_runs.iter().map(|r| r.mib_per_s).collect());
                println!("{name:<18} {tier:>14.0} {fio:>14.0} {:>7.0}%{syncs}", 100.0 * tier / fio);
            } else {
                println!("{name:<18} {tier:>14.0} {:>14} {:>8}", "(no fio)", "-");
            }
        }
    }
    if failed_syncs {
        println!(
            "note: fio's fdatasyncs returned in under {} us: with --fixedbufs they fail (EINVAL) unseen, so that fio row is not a durable write",
            FIO_SYNC_FAILED_BELOW_NS / 1e3
        );
    }
    println!("fio command (write): fio {}", fio_args(p, &p.dir.join("fio.dat"), true, true).join(" "));
    println!("fio command (read):  fio {}", fio_args(p, &p.dir.join("fio.dat"), true, false).join(" "));
}

criterion_group!(benches, bench_local_tier);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
