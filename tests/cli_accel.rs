//! `dpukit accel` end to end: bad input is one line naming the flag, status 1 (2 for a
//! usage error), before any work (no result file appears); a short run of both sides writes
//! a result whose offload figures are labelled modelled and whose host figures are
//! measured, and on a measured device (`--device thread`) measured; `sweep accel` runs every
//! point of its cross product. Plugin ops (`-w user:NAME --plugin`) are in cli_plugin.rs,
//! beside the plugin they build.

mod common;
use common::{dpukit, one_line_error_failures};

/// Every bad input the issue lists, and the other bounds of the command: one row each.
#[test]
fn bad_accel_input_is_one_line_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.bin"), b"").unwrap();
    std::fs::create_dir(d.join("adir")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["accel", "-w", "crc64"], "-w `crc64`: unknown op (copy, crc32c,"),
        (&["accel", "-w", "user:xor"], "-w user:xor: a plugin op needs its plugin: give --plugin PATH.so"),
        (&["accel", "--mode", "host", "--device", "thread"], "--device: --mode host runs no offload side"),
        (&["accel", "--dpdk-burst", "4"], "--dpdk-burst applies to --device dpdk:PMD only"),
        (&["accel", "--device", "thread", "--dpdk-eal", "-l 0"], "--dpdk-eal applies to --device dpdk:PMD only"),
        (
            &["accel", "-w", "lookup", "--profile", "intel-dsa-iaa"],
            "-w lookup: profile `intel-dsa-iaa` cannot run it: no accelerator runs cache_lookup (engines: dsa, iaa) and it has no DPU cores",
        ),
        (
            &["accel", "-w", "compress", "--algorithm", "zstd", "--profile", "intel-dsa-iaa"],
            "no accelerator runs compress zstd",
        ),
        (&["accel", "--profile", "host-only"], "profile `host-only` cannot run it: it has no device"),
        (&["accel", "-o", "0"], "-o 0: the transfer size must be at least 1 byte"),
        (&["accel", "-o", "4q"], "-o `4q` is not a size"),
        (&["accel", "-o", "1g"], "-o 1073741824: at most 64 MiB per buffer"),
        (&["accel", "-q", "0"], "-q 0: the queue depth must be at least 1"),
        (&["accel", "-q", "lots"], "-q lots: not a whole number"),
        (&["accel", "-t", "4k"], "-t 4k: a duration in seconds (e.g. 5, 0.5, 500ms), not a byte count"),
        (&["accel", "-t", "0"], "-t 0: a run lasts more than 0 seconds"),
        (&["accel", "--input", "nowhere.bin"], "--input nowhere.bin: cannot read it"),
        (&["accel", "--input", "empty.bin"], "--input empty.bin: the file is empty"),
        (&["accel", "--input", "adir"], "--input adir: is a directory"),
        (&["accel", "-w", "compress", "--algorithm", "zstd", "-l", "20"], "-l 20: out of range for zstd (1..=19)"),
        (&["accel", "-w", "decompress", "--algorithm", "gzip", "-l", "0"], "-l 0: out of range for gzip (1..=9)"),
        (&["accel", "-w", "compress", "--algorithm", "lz4", "-l", "3"], "-l 3: out of range for lz4 (0..=0)"),
        (&["accel", "-w", "compress", "--algorithm", "brotli"], "--algorithm `brotli`: unknown"),
        (&["accel", "-w", "crc32c", "-l", "3"], "-l: applies to compress and decompress only"),
        (&["accel", "-w", "compress", "-C", "2"], "-C 2: several buffers per op apply to copy, crc32c"),
        (&["accel", "-C", "8"], "-C 8: at most 4 buffers per op"),
        (&["accel", "-T", "2"], "-T 2: the offload side drives one queue on one device"),
        (&["accel", "--batch", "64", "-q", "32"], "--batch 64: 1..=queue depth"),
        (&["accel", "--compressibility", "9"], "--compressibility 9: 1.0 (incompressible) ..= 8.0"),
        (&["accel", "--log-interval", "1s"], "--log-interval: accel prints one summary per side"),
        (&["accel", "--out", "adir"], "--out adir: is a directory"),
        (&["accel", "--vary", "colour=red"], "--vary: unknown accel knob `colour`"),
        (&["sweep", "accel"], "sweep accel: give at least one --vary"),
        (&["sweep", "accel", "--vary", "o=4k,0"], "sweep point o=0: -o 0: the transfer size must be at least 1 byte"),
        (
            &["sweep", "accel", "--vary", "profile=bluefield-2,intel-dsa-iaa", "-w", "insert"],
            "sweep point profile=intel-dsa-iaa: -w insert: profile `intel-dsa-iaa` cannot run it",
        ),
    ];
    let failures = one_line_error_failures(cases.iter().map(|(a, w)| (a.to_vec(), 1, *w)), d);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!d.join("dpukit-accel.json").exists(), "no run started, so no result was written");
    assert!(!d.join("dpukit-out").exists(), "no sweep started, so no out dir was made");
}

/// A short run of both sides, verified: every op checked, none failed; the host side is
/// measured, the offload side's rates and latencies modelled and its host costs measured.
#[test]
fn both_sides_run_verified_and_say_where_each_figure_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8 ^ (i / 997) as u8).collect();
    std::fs::write(d.join("shard.bin"), &data).unwrap();
    let args = [
        "accel",
        "-w",
        "copy_crc32c",
        "-o",
        "2k",
        "-C",
        "2",
        "-q",
        "4",
        "-t",
        "0.05",
        "--warmup",
        "0.01",
        "-y",
        "--input",
        "shard.bin",
        "--profile",
        "bluefield-3",
        "--out",
        "r.json",
        "--quiet",
    ];
    let (status, stdout, stderr) = dpukit(&args, d);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains("Transfers") && stdout.contains("Miscompares"),
        "accel_perf's summary:\n{stdout}"
    );
    assert!(stdout.contains("host cost of offloading per op: prepare"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(r["op_name"], "copy_crc32c");
    assert!(r["data"].as_str().unwrap().starts_with("file shard.bin"));
    let sides = r["sides"].as_array().unwrap();
    assert_eq!(sides.len(), 2);
    for s in sides {
        assert!(s["total"]["ops"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["total"]["failed"], 0);
        assert_eq!(s["total"]["miscompares"], 0);
        assert_eq!(s["host_cpu_ns_per_op"]["source"], "measured");
    }
    let (host, off) = (&sides[0], &sides[1]);
    assert_eq!(host["mode"], "host");
    assert_eq!(host["total"]["ops_per_s"]["source"], "measured");
    assert_eq!(host["latency"]["source"], "measured");
    assert_eq!(host["timer_ns"]["source"], "measured", "the clock's cost taken off: {host}");
    assert_eq!(off["mode"], "offload");
    assert_eq!(off["total"]["ops_per_s"]["source"], "modelled");
    assert_eq!(off["latency"]["source"], "modelled");
    assert_eq!(off["offload_cost"]["poll_ns_per_op"]["source"], "measured");
    assert!(off["bottleneck"].is_string(), "{off}");
    assert_eq!(off["fallbacks"]["unsupported_ops"], 0);
    // The inline simulator's wall time per descriptor is the simulator's, the host's cost
    // of offloading and the loop's rest: nothing unaccounted.
    let sim = &off["simulator"];
    let f = |v: &serde_json::Value| v["value"].as_f64().unwrap();
    let descriptors = sim["descriptors"].as_f64().unwrap();
    assert!(descriptors >= off["total"]["ops"].as_f64().unwrap(), "{sim}");
    let wall = 1e9 / f(&sim["descriptors_per_wall_s"]);
    let parts = 1e9 / f(&sim["descriptors_per_sim_s"])
        + f(&off["offload_cost"]["total_ns_per_op"]) * off["total"]["ops"].as_f64().unwrap() / descriptors
        + f(&sim["loop_ns_per_descriptor"]);
    assert!((parts - wall).abs() <= 0.02 * wall, "parts {parts} ns against {wall} ns of wall time: {sim}");
    assert_eq!(sim["loop_ns_per_descriptor"]["source"], "measured");
}

/// `sweep accel` runs each point and writes one CSV row per side and point.
#[test]
fn sweep_accel_varies_transfer_size_and_profile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "sweep",
        "accel",
        "-w",
        "crc32c",
        "-q",
        "2",
        "-t",
        "0.02",
        "--warmup",
        "0",
        "--vary",
        "o=1k,4k",
        "--vary",
        "profile=bluefield-2,intel-dsa-iaa",
        "--out-dir",
        "out",
        "--quiet",
        "--output-format",
        "csv",
    ];
    let (status, stdout, stderr) = dpukit(&args, d);
    assert_eq!(status, 0, "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(rows[0].starts_with("o,profile,mode,op,transfer_bytes"), "{}", rows[0]);
    assert_eq!(rows.len(), 1 + 4 * 2, "4 points x 2 sides:\n{stdout}");
    assert!(rows
        .iter()
        .any(|r| r.starts_with("4k,intel-dsa-iaa,offload,crc32c,4096") && r.contains("accel:dsa")));
    assert!(d.join("out/accel-sweep.json").exists() && d.join("out/accel-sweep.csv").exists());
}

/// `--device` is parsed as run and compare parse it: an unknown device, and a DPDK device
/// in a build without DPDK, are usage errors (status 2), one line, nothing written.
#[test]
fn device_specs_that_cannot_be_parsed_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cases: Vec<(&[&str], &str)> = vec![
        (&["accel", "--device", "warp"], "unknown device `warp`"),
        (&["sweep", "accel", "--vary", "o=4k,8k", "--device", "warp"], "unknown device `warp`"),
    ];
    if cfg!(not(feature = "dpdk")) {
        cases.push((
            &["accel", "--device", "dpdk:compress_isal"],
            "this dpukit was built without DPDK: cargo build --features dpdk",
        ));
    }
    for (args, want) in cases {
        let (status, _, stderr) = dpukit(args, d);
        let line = format!("dpukit {}: {stderr}", args.join(" "));
        assert_eq!(status, 2, "{line}");
        assert_eq!(stderr.lines().count(), 1, "{line}");
        assert!(stderr.starts_with("dpukit: error: ") && stderr.contains(want), "{line}");
    }
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "nothing was written before the error");
}

/// gzip level 1 on the dedicated-thread device, verified: the offload side names the
/// device, says its clock is the wall clock, and labels every figure measured.
#[test]
fn a_measured_device_runs_verified_and_its_figures_are_measured() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "accel",
        "-w",
        "compress",
        "--algorithm",
        "gzip",
        "-l",
        "1",
        "--device",
        "thread",
        "-t",
        "0.2",
        "--warmup",
        "0.02",
        "-q",
        "4",
        "-y",
        "--out",
        "r.json",
        "--quiet",
    ];
    let (status, stdout, stderr) = dpukit(&args, d);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("offload side: host thread"), "{stdout}");
    assert!(!stdout.contains("[model]"), "nothing is modelled on a measured device:\n{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    let off = &r["sides"][1];
    assert_eq!(off["mode"], "offload");
    assert!(off["engine"].as_str().unwrap().starts_with("host thread"), "{off}");
    assert!(off["clock"].as_str().unwrap().starts_with("wall"), "{off}");
    assert!(off["total"]["ops"].as_u64().unwrap() > 0, "{off}");
    assert_eq!(off["total"]["failed"], 0);
    assert_eq!(off["total"]["miscompares"], 0);
    assert_eq!(off["fallbacks"]["unsupported_ops"], 0);
    assert!(off["simulator"].is_null(), "{off}");
    for figure in [
        &off["window_s"],
        &off["total"]["ops_per_s"],
        &off["total"]["bandwidth"],
        &off["latency"],
        &off["device_latency"],
        &off["host_cpu_ns_per_op"],
        &off["offload_cost"]["total_ns_per_op"],
    ] {
        assert_eq!(figure["source"], "measured", "{figure}");
    }
}
