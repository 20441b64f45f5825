//! BlueField-3 figures derived from published tables (dpu-sim/VALIDATION.md, sections 4 to
//! 7): each is recomputed here from the table's rows and the profile is held to it, so an
//! edit that drifts from its source fails.

use dpukit_sim::profile::{Confidence, Profile};

const TOLERANCE: f64 = 0.01;

/// sbc-bench single-threaded 7-zip MIPS and the core's measured clock (GHz).
const A72_RUNS: [(f64, f64); 2] = [(1732.0, 1.798), (1911.0, 2.014)];
const A78AE_RUN: (f64, f64) = (2379.0, 1.725);
/// One A78AE core's memcpy (sbc-bench, tinymembench), bytes/s.
const A78AE_MEMCPY: f64 = 6861.5e6;
/// takashimakazuki/dpdk_compression: 100,000,000 B on one BF-2 A72 core.
const BF2_ZLIB_S: f64 = 9.028;
const BF2_ZSTD_S: f64 = 0.3517;
/// BlueField-3 user manual: DDR5, 128-bit data path, 5200 MT/s (the lower grade).
const BF3_DDR5_BYTES_PER_TRANSFER: f64 = 16.0;
const BF3_DDR5_TRANSFERS_PER_S: f64 = 5.2e9;
/// ocxtal/insn_bench_aarch64 results/: crc32cx latency (cycles) and issue rate (per cycle).
const CRC32CX_LATENCY_AND_RATE: [(&str, f64, f64); 5] = [
    ("Cortex-A72 (NXP LX2160A)", 2.0, 1.0),
    ("Neoverse N1 (Graviton 2)", 2.0, 1.0),
    ("Neoverse N1 (Ampere Altra)", 2.0, 1.0),
    ("Cortex-X1 (Snapdragon 8cx Gen 3)", 2.0, 1.0),
    ("Neoverse V1 (Graviton 3)", 2.0, 1.0),
];
const CRC32CX_BYTES: f64 = 8.0;
/// corsix/fast-crc32 README: Chromium's scalar crc32x loop on one Ampere Altra core, GB/s,
/// and that core's clock as insn_bench_aarch64 measured it (mean of three runs), GHz.
const ALTRA_CHROMIUM_SCALAR_GB_S: f64 = 22.68;
const CHROMIUM_SCALAR_ACCUMULATORS: f64 = 3.0;
const ALTRA_GHZ: f64 = (2.98273 + 2.98495 + 2.98318) / 3.0;
/// lz4/lz4 pull request 707, lzbench on one AWS Graviton (Cortex-A72) core, the rows before
/// its change: Silesia file, compressed bytes, compressed size in percent, compress and
/// decompress MB/s (lzbench's MB is 10^6 bytes).
const GRAVITON_LZ4: [(&str, f64, f64, f64, f64); 6] = [
    ("dickens", 6_428_742.0, 63.07, 148.0, 1335.0),
    ("mozilla", 26_435_667.0, 51.61, 229.0, 1503.0),
    ("mr", 5_440_937.0, 54.57, 216.0, 1350.0),
    ("nci", 5_533_040.0, 16.49, 406.0, 1686.0),
    ("ooffice", 4_338_918.0, 70.53, 190.0, 1314.0),
    ("osdb", 5_256_666.0, 52.12, 198.0, 1238.0),
];
/// AWS Graviton's fixed clock, GHz.
const GRAVITON_GHZ: f64 = 2.3;

#[test]
fn bluefield3_derived_figures_follow_their_tables() {
    let bf2 = Profile::builtin("bluefield-2").unwrap();
    let bf3 = Profile::builtin("bluefield-3").unwrap();
    let clock = |p: &Profile| p.cores.as_ref().unwrap().clock_ghz.value;
    let a72 = A72_RUNS.iter().map(|(mips, ghz)| mips / ghz).sum::<f64>() / A72_RUNS.len() as f64;
    let a78 = A78AE_RUN.0 / A78AE_RUN.1;
    let per_core = a78 / a72 * clock(&bf3) / clock(&bf2);
    println!("A72 {a72:.0} MIPS/GHz, A78AE {a78:.0} MIPS/GHz, BF-3/BF-2 per core {per_core:.3}");
    assert!((per_core - 1.154).abs() < 0.001, "{per_core}");

    // CRC32C: the measured loop's bytes per cycle, which the instruction's issue rate bounds;
    // its independent accumulators cover the latency on every measured core.
    for (core, latency, rate) in CRC32CX_LATENCY_AND_RATE {
        assert!(CHROMIUM_SCALAR_ACCUMULATORS >= latency * rate, "{core}");
    }
    let crc_bound =
        CRC32CX_LATENCY_AND_RATE.iter().map(|(_, _, rate)| rate * CRC32CX_BYTES).fold(f64::MAX, f64::min);
    let crc_per_cycle = ALTRA_CHROMIUM_SCALAR_GB_S / ALTRA_GHZ;
    println!("crc32cx loop {crc_per_cycle:.2} B/cycle of at most {crc_bound} B/cycle");
    assert!(crc_per_cycle <= crc_bound, "{crc_per_cycle}");

    // LZ4 on one A72: the six files' bytes over the summed times, then the A78/A72 factor.
    let original = |(_, compressed, pct, _, _): &(&str, f64, f64, f64, f64)| compressed / (pct / 100.0);
    let bytes: f64 = GRAVITON_LZ4.iter().map(original).sum();
    let seconds = |rate: fn(&(&str, f64, f64, f64, f64)) -> f64| {
        GRAVITON_LZ4.iter().map(|row| original(row) / (rate(row) * 1e6)).sum::<f64>()
    };
    let (lz4_c, lz4_d) = (bytes / seconds(|r| r.3), bytes / seconds(|r| r.4));
    let from_graviton = a78 / a72 * clock(&bf3) / GRAVITON_GHZ;
    println!(
        "A72 LZ4 on {:.1} MB: compress {:.1} MB/s, decompress {:.1} MB/s; x {from_graviton:.3}",
        bytes / 1e6,
        lz4_c / 1e6,
        lz4_d / 1e6
    );

    let expected = [
        ("cores.crc32c_bytes_per_s", crc_per_cycle * clock(&bf3) * 1e9),
        ("cores.compress_bytes_per_s.lz4", lz4_c * from_graviton),
        ("cores.decompress_bytes_per_s.lz4", lz4_d * from_graviton),
        ("cores.compress_bytes_per_s.deflate", 1e8 / BF2_ZLIB_S * per_core),
        ("cores.compress_bytes_per_s.zstd", 1e8 / BF2_ZSTD_S * per_core),
        ("cores.copy_bytes_per_s", A78AE_MEMCPY),
        ("memory.bandwidth_bytes_per_s", BF3_DDR5_BYTES_PER_TRANSFER * BF3_DDR5_TRANSFERS_PER_S),
    ];
    for (key, want) in expected {
        let f = bf3.figure(key).unwrap();
        let err = (f.value - want).abs() / want;
        println!("{key}: profile {:.4e}, from the table {want:.4e}, error {:.2} %", f.value, err * 100.0);
        assert!(err < TOLERANCE, "{key}: profile {} vs {want}", f.value);
        assert_eq!(f.confidence, Confidence::Derived, "{key}");
        assert!(
            f.source.contains("VALIDATION.md") || f.source.contains("user manual"),
            "{key}: {}",
            f.source
        );
    }
    // Counted here so the count in the docs stays true.
    let figs = bf3.figures();
    let assumed = figs.iter().filter(|f| f.confidence == Confidence::Assumed).count();
    println!("bluefield-3: {assumed} of {} figures assumed", figs.len());
    assert_eq!((assumed, figs.len()), (13, 31));
}

/// doca_bench, BlueField-3 deflate decompress at queue depth 64, decompressed Gib/s at 4 KiB
/// and 2 MiB chunks, and the one-in-flight rate against the deep-queue one (section M2 of
/// BeenLi/Auto-claude-code-research-in-sleep refine-logs/EXPERIMENT_LOG.md).
const DECOMPRESS_4K_GIB_S: f64 = 6.07;
const DECOMPRESS_2M_GIB_S: f64 = 174.9;
const DECOMPRESS_DEEP_GIB_S: f64 = 170.0;
const DECOMPRESS_ONE_IN_FLIGHT_GIB_S: f64 = 21.0;

#[test]
fn bluefield3_decompress_engine_follows_doca_bench() {
    let bytes_per_s = |gib_s: f64| gib_s * (1u64 << 30) as f64 / 8.0;
    // Per-job time of the whole pool at saturation: a fixed part plus bytes over bandwidth.
    let (s1, s2) = (4096.0, 2_097_152.0);
    let (t1, t2) = (s1 / bytes_per_s(DECOMPRESS_4K_GIB_S), s2 / bytes_per_s(DECOMPRESS_2M_GIB_S));
    let pool_bandwidth = (s2 - s1) / (t2 - t1);
    let pool_fixed_s = t1 - s1 / pool_bandwidth;
    let engines = (DECOMPRESS_DEEP_GIB_S / DECOMPRESS_ONE_IN_FLIGHT_GIB_S).round();
    println!(
        "pool: {:.3} us + S / {:.2} GB/s per job; {engines} engines",
        pool_fixed_s * 1e6,
        pool_bandwidth / 1e9
    );
    let bf3 = Profile::builtin("bluefield-3").unwrap();
    let expected = [
        ("accelerators[decompress].engines", engines),
        ("accelerators[decompress].bandwidth_bytes_per_s", pool_bandwidth / engines),
        ("accelerators[decompress].setup_latency_ns", pool_fixed_s * engines * 1e9),
        ("accelerators[decompress].min_efficient_size_bytes", pool_fixed_s * pool_bandwidth),
    ];
    for (key, want) in expected {
        let f = bf3.figure(key).unwrap();
        let err = (f.value - want).abs() / want;
        println!("{key}: profile {:.4e}, from the table {want:.4e}, error {:.2} %", f.value, err * 100.0);
        assert!(err < TOLERANCE, "{key}: profile {} vs {want}", f.value);
        assert_eq!(f.confidence, Confidence::Derived, "{key}");
        assert!(f.source.contains("VALIDATION.md") || key.ends_with("min_efficient_size_bytes"), "{key}");
    }
}
