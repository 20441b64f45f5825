//! Write and read throughput of the local tier (`dpukit_host::tier::LocalTier`), buffered and
//! O_DIRECT, with fio beside it as the reference.
//!
//! Parameters (fio names): `DPUKIT_BENCH_BS` (default `1m`), `DPUKIT_BENCH_IODEPTH` (default
//! 16), `DPUKIT_BENCH_SIZE` (default `256m`), `DPUKIT_BENCH_DIR` (default the system temp
//! dir; it must be on the filesystem under test). One iteration writes (or reads) the whole
//! file sequentially in `bs` chunks, [`SYNC_EVERY_CHUNKS`] chunks per `write_chunks` call, and
//! each call ends with one drained fdatasync before it returns: fio's `--fdatasync=64`.
//!
//! After the criterion groups, a side-by-side table times the tier and fio with the same
//! parameters, runs interleaved (tier, fio, tier, ...), median of 5 each, when `fio` is on PATH:
//!
//! ```text
//! fio --name=local_tier_write --filename=<dir>/fio.dat --size=256m --bs=1m --iodepth=16 \
//!     --ioengine=io_uring --fixedbufs --direct=1 --rw=write --fdatasync=64 \
//!     --output-format=terse --terse-version=3
//! fio --name=local_tier_read --filename=<dir>/fio.dat --size=256m --bs=1m --iodepth=16 \
//!     --ioengine=io_uring --fixedbufs --direct=1 --rw=read \
//!     --output-format=terse --terse-version=3
//! ```
//!
//! The buffered rows use `--direct=0 --invalidate=0` (fio otherwise drops the page cache
//! before a job; the tier's buffered reads are page-cache reads). `--fixedbufs` matches the
//! tier's registered buffers. Filter out the criterion groups with
//! `cargo bench --bench local_tier -- compare-only` to get the table alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use dpukit_host::tier::{LocalTier, LocalTierConfig};

/// Chunks per `write_chunks` call, i.e. writes per fdatasync (fio `--fdatasync`).
const SYNC_EVERY_CHUNKS: usize = 64;
/// Runs per figure in the side-by-side table.
const COMPARE_RUNS: usize = 5;

#[derive(Debug, Clone)]
struct Params {
    bs_bytes: usize,
    iodepth: u32,
    size_bytes: u64,
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
    let base = std::env::var_os("DPUKIT_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("dpukit-local-tier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create bench directory");
    Params { bs_bytes, iodepth, size_bytes, dir }
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

fn write_file(tier: &mut LocalTier, p: &Params, data: &[u8]) {
    let chunks = (p.size_bytes / p.bs_bytes as u64) as usize;
    let mut next = 0;
    while next < chunks {
        let n = SYNC_EVERY_CHUNKS.min(chunks - next);
        let batch: Vec<(u64, &[u8])> = (next..next + n).map(|i| ((i * p.bs_bytes) as u64, data)).collect();
        tier.write_chunks("bench", &batch).expect("write_chunks");
        next += n;
    }
}

fn read_file(tier: &mut LocalTier, p: &Params, bufs: &mut [Vec<u8>]) {
    let chunks = (p.size_bytes / p.bs_bytes as u64) as usize;
    let mut next = 0;
    while next < chunks {
        let n = bufs.len().min(chunks - next);
        let mut reqs: Vec<(u64, &mut [u8])> = bufs[..n]
            .iter_mut()
            .enumerate()
            .map(|(i, b)| (((next + i) * p.bs_bytes) as u64, &mut b[..]))
            .collect();
        tier.read_chunks("bench", &mut reqs).expect("read_chunks");
        next += n;
    }
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
    let data: Vec<u8> = (0..p.bs_bytes).map(|i| (i as u64).wrapping_mul(0x9E37_79B9) as u8).collect();
    // Reads land in iodepth buffers, as fio's do (iodepth x bs of io buffers): the copies
    // out of the page cache go to memory of the same size, so the same caches hold it.
    let mut bufs: Vec<Vec<u8>> = (0..p.iodepth as usize).map(|_| vec![0u8; p.bs_bytes]).collect();
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
fn tier_mib_per_s(tier: &mut LocalTier, p: &Params, write: bool, data: &[u8], bufs: &mut [Vec<u8>]) -> f64 {
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
        "--fixedbufs".to_string(),
        format!("--direct={}", u8::from(direct)),
        format!("--rw={}", if write { "write" } else { "read" }),
    ];
    if write {
        args.push(format!("--fdatasync={SYNC_EVERY_CHUNKS}"));
    }
    if !direct {
        // The tier's buffered reads hit the page cache the write left; so must fio's.
        args.push("--invalidate=0".to_string());
    }
    args.extend(["--output-format=terse".to_string(), "--terse-version=3".to_string()]);
    args
}

/// fio's bandwidth in MiB/s (terse v3: read KiB/s is field 7, write KiB/s field 48).
fn fio_mib_per_s(p: &Params, direct: bool, write: bool) -> Option<f64> {
    let args = fio_args(p, &p.dir.join("fio.dat"), direct, write);
    let out = Command::new("fio").args(&args).output().ok()?;
    if !out.status.success() {
        eprintln!("fio failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("3;"))?;
    let fields: Vec<&str> = line.split(';').collect();
    let kib_per_s: f64 = fields.get(if write { 47 } else { 6 })?.parse().ok()?;
    Some(kib_per_s / 1024.0)
}

fn compare_with_fio(p: &Params, data: &[u8], bufs: &mut [Vec<u8>]) {
    println!();
    println!(
        "local tier vs fio: bs={} iodepth={} size={} fdatasync every {SYNC_EVERY_CHUNKS} writes, median of {COMPARE_RUNS}",
        p.bs_bytes, p.iodepth, p.size_bytes
    );
    println!("{:<18} {:>14} {:>14} {:>8}", "workload", "tier MiB/s", "fio MiB/s", "ratio");
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
                fio_runs.extend(fio_mib_per_s(p, direct, write));
            }
            let tier = median(tier_runs);
            let fio = (fio_runs.len() == COMPARE_RUNS).then(|| median(fio_runs));
            let name = format!("{}/{}", if write { "write" } else { "read" }, mode_name(direct));
            match fio {
                Some(f) => println!("{name:<18} {tier:>14.0} {f:>14.0} {:>7.0}%", 100.0 * tier / f),
                None => println!("{name:<18} {tier:>14.0} {:>14} {:>8}", "(no fio)", "-"),
            }
        }
    }
    println!("fio command (write): fio {}", fio_args(p, &p.dir.join("fio.dat"), true, true).join(" "));
    println!("fio command (read):  fio {}", fio_args(p, &p.dir.join("fio.dat"), true, false).join(" "));
}

criterion_group!(benches, bench_local_tier);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
