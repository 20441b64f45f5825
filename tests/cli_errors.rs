//! Bad input to the `dpukit` binary: each case must be one line on stderr naming the
//! problem, a non-zero status, and no panic or backtrace. Every input here is rejected
//! before a run starts, so the whole table takes well under a second per case.

mod common;
use common::one_line_error_failures;
use std::path::Path;
use std::process::Command;

/// `dpukit ARGS` in `cwd`: (status, stderr).
fn dpukit(args: &[&str], cwd: &Path) -> (i32, String) {
    let (status, _, stderr) = common::dpukit(args, cwd);
    (status, stderr)
}

/// One table of (arguments, what the error must say), checked alike: long because every bad
/// input the command line knows is a row, not because the check is.
#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("broken.toml"), "kind = [").unwrap();
    std::fs::write(d.join("typo.toml"), "kind = \"fan-in-read\"\nnodez = 8\n").unwrap();
    std::fs::write(d.join("bad-kind.toml"), "kind = \"fan-out-scribble\"\n").unwrap();
    std::fs::write(d.join("bad-value.toml"), "kind = \"fan-out-write\"\nchunk_size_bytes = 100\n").unwrap();
    std::fs::write(d.join("notjson.json"), "this is not json").unwrap();
    std::fs::write(d.join("other.json"), "{\"name\": \"something else\"}").unwrap();
    std::fs::write(d.join("future.json"), "{\"schema_version\": 99, \"mode\": \"host\"}").unwrap();
    std::fs::write(d.join("bad-profile.toml"), "schema_version = 1\nname = \"x\"\nkind = \"dpu\"\n").unwrap();
    std::fs::create_dir(d.join("adir")).unwrap();
    std::fs::write(d.join("afile"), "").unwrap();

    // (arguments, text the one line must contain)
    let cases: &[(&[&str], &str)] = &[
        (&["run", "nope", "--mode", "host"], "unknown scenario `nope`"),
        (&["run", "-w", "nope", "--mode", "host"], "unknown scenario `nope`"),
        (&["run", "--mode", "host", "--profile", "nope"], "unknown profile `nope`"),
        (&["run", "--mode", "host", "--profile", "missing.toml"], "missing.toml: cannot read"),
        (&["run", "--mode", "host", "--chunk", "4q"], "--chunk: `4q` is not a size"),
        (&["run", "--mode", "host", "--bs", "1.5m"], "--chunk: `1.5m` is not a size"),
        (&["run", "--mode", "host", "--size", "lots"], "--size: `lots` is not a size"),
        (&["run", "--mode", "host", "--nodes", "abc"], "--nodes: `abc` is not a whole number"),
        (&["run", "--mode", "host", "--nodes", "0"], "--nodes (nodes): must be 1..=1024"),
        (&["run", "--mode", "host", "--chunk", "100"], "--chunk (chunk_size_bytes)"),
        (&["run", "--mode", "host", "--size", "64k", "--chunk", "1m"], "--size (object_size_bytes)"),
        (&["run", "--mode", "host", "-q", "0"], "--queue-depth (queue_depth)"),
        (
            &["run", "--mode", "host", "-q", "4096", "--bs", "64m", "--size", "64m", "--nodes", "1", "--compress", "none"],
            "the DMA pools of 1 node(s) would pin 512.0 GiB (4096 slots x 2 buffers x 65536 KiB each)",
        ),
        (&["run", "--mode", "host", "--compress", "brotli"], "unknown compression `brotli`"),
        (&["run", "--mode", "host", "--compress", "zstd:99"], "--compress (compression): level 99"),
        (&["run", "--mode", "host", "--skew", "x"], "--skew: `x` is not a number"),
        (&["run", "--mode", "host", "-t", "10"], "-t 10: running for a time is not supported"),
        (
            &["run", "--mode", "host", "--preset", "gpt-9"],
            "--preset: unknown preset `gpt-9` (one of mlperf-ckpt-8b",
        ),
        (
            &["run", "kv-cache", "--mode", "host", "--preset", "mlperf-ckpt-70b"],
            "--preset mlperf-ckpt-70b is a fan-out-write scenario, not kv-cache",
        ),
        (
            &["run", "--mode", "host", "--scenario-file", "nowhere.toml"],
            "cannot read scenario file nowhere.toml",
        ),
        (&["run", "--mode", "host", "--scenario-file", "broken.toml"], "scenario file broken.toml"),
        (&["run", "--mode", "host", "--scenario-file", "typo.toml"], "nodez"),
        (
            &["run", "--mode", "host", "--scenario-file", "bad-kind.toml"],
            "unknown scenario `fan-out-scribble`",
        ),
        (&["run", "--mode", "host", "--scenario-file", "bad-value.toml"], "chunk_size_bytes"),
        (&["run", "kv-cache", "--mode", "host", "--scenario-file", "typo.toml"], "nodez"),
        (&["run", "--mode", "host", "--out", "no/such/dir/r.json"], "directory no/such/dir does not exist"),
        (&["run", "--mode", "host", "--out", "adir"], "--out adir: is a directory"),
        (&["run", "--mode", "host", "--out", "afile/r.json"], "--out afile/r.json: afile is a file, not a directory"),
        (&["run", "--mode", "host", "--out", "/proc/r.json"], "--out /proc/r.json: cannot create the file in /proc"),
        (&["compare", "--out-dir", "/proc/out"], "--out-dir /proc/out: cannot create directory"),
        (&["run", "--mode", "host", "--work-dir", "afile/w"], "--work-dir afile/w: afile is a file, not a directory"),
        (&["run", "--mode", "host", "--work-dir", "/proc/w"], "--work-dir /proc/w: cannot create the directory"),
        (&["sweep", "--vary", "chunk=64k,1m", "--work-dir", "afile"], "--work-dir afile: afile is a file"),
        (&["run", "--mode", "host", "--size", "-1"], "--size: `-1` is not a size"),
        (&["run", "--mode", "host", "--repeat", "0"], "--repeat 0: must be 1..=100"),
        (&["run", "--mode", "host", "--log-interval", "0"], "--log-interval 0: must be 1ms..=1h"),
        (&["run", "--mode", "host", "--log-interval", "2h"], "--log-interval: `2h` is not a duration"),
        (&["compare", "--log-interval", "61m"], "--log-interval 61m: must be 1ms..=1h"),
        (&["run", "--mode", "host", "--scale", "--log-interval", "1s"], "--log-interval: scale mode"),
        (&["compare", "--repeat", "x"], "--repeat `x` is not a whole number"),
        (&["run", "--mode", "host", "--repeat", "101"], "--repeat 101: must be 1..=100"),
        (&["run", "--mode", "host", "--scale", "--repeat", "3"], "--repeat 3: scale mode is deterministic"),
        (&["sweep", "--vary", "chunk=64k,1m", "--repeat", "100"], "400 runs requested (4 points x 100 repetitions)"),
        (&["run", "--mode", "host", "--percentile-list", "101"], "--percentile-list 101: 101 is outside 0..=100"),
        (&["run", "--mode", "host", "--percentile-list", "50:-1"], "-1 is outside 0..=100"),
        (&["run", "--mode", "host", "--percentile-list", "p99"], "--percentile-list p99: `p99` is not a number"),
        (&["compare", "--percentile-list", "::"], "--percentile-list ::: the list is empty"),
        (
            &["sweep", "--vary", "chunk=64k,1m", "--percentile-list", "1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19:20:21"],
            "21 entries, at most 20",
        ),
        (&["run", "--mode", "host", "--scale", "--percentile-list", "50"], "--percentile-list: scale mode"),
        (&["run", "--mode", "host", "--skew", "-0.5"], "--skew"),
        (&["compare", "--out-dir", "afile/sub"], "--out-dir afile/sub: afile is a file, not a directory"),
        (&["compare", "--profile", "nope"], "unknown profile `nope`"),
        (&["sweep", "--vary", "colour=red"], "unknown knob `colour`"),
        (&["sweep", "--vary", "chunk=64k,4q"], "--vary chunk: `4q` is not a size"),
        (&["sweep", "--vary", "chunk"], "expected KNOB=V1,V2"),
        (&["sweep", "--vary", "profile=bluefield-2,nope"], "unknown profile `nope`"),
        (&["sweep", "--vary", "chunk=100,1m"], "sweep point chunk=100"),
        (&["sweep", "--vary", "chunk=4k,8k", "--vary", "bs=16k"], "varied twice"),
        (
            &[
                "sweep",
                "--vary",
                "seed=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
                "--vary",
                "nodes=1,2,3,4,5,6,7,8",
            ],
            "at most 256",
        ),
        (&["report", "missing.json"], "cannot read missing.json"),
        (&["report", "notjson.json"], "notjson.json: not JSON"),
        (&["report", "other.json"], "other.json: not a dpukit result"),
        (&["report", "future.json"], "future.json: result schema version 99 is not supported"),
        (&["profiles", "show", "nope"], "unknown profile `nope`"),
        (&["profiles", "check", "bad-profile.toml"], "bad-profile.toml: "),
        (&["profiles", "check", "missing.toml"], "missing.toml: cannot read"),
        (&["sweep", "--scale", "--vary", "blob=a,b"], "--vary blob: scale mode models the blob tier"),
        (&["sweep", "--vary", "blob=a,gs://b"], "--vary blob: blob tier `gs://b`: scheme `gs://`"),
        (&["run", "--mode", "host", "--blob", "gs://bucket/x"], "--blob: blob tier `gs://bucket/x`: scheme `gs://`"),
        (&["run", "--mode", "host", "--blob", "s3://Bucket"], "--blob: blob tier `s3://Bucket`: bucket name takes only"),
        (&["run", "--mode", "host", "--blob", "s3://ckpt", "--blob-addressing", "sideways"], "--blob-addressing sideways: expected path or virtual-hosted"),
        (&["run", "--mode", "host", "--blob", "s3://ckpt", "--blob-region", "us east"], "--blob-region"),
        (&["run", "--mode", "host", "--blob", "gs://b"], "azure://CONTAINER[/PREFIX]"),
        (&["run", "--mode", "host", "--blob", "azure://Bad_Name"], "container name takes only a-z, 0-9 and -"),
        (&["run", "--mode", "host", "--blob-part-size", "1k"], "--blob-part-size: "),
        (&["run", "--mode", "host", "--blob-part-size", "huge"], "--blob-part-size: `huge` is not a size"),
        (&["run", "--mode", "host", "--blob-retries", "x"], "--blob-retries: `x` is not a whole number"),
        (&["run", "--mode", "host", "--blob-timeout", "5x"], "--blob-timeout: `5x` is not a duration"),
        (&["run", "--mode", "host", "--blob-upload-concurrency", "0"], "--blob-upload-concurrency: "),
        (&["run", "--mode", "host", "--blob-endpoint", "localhost:1"], "--blob-endpoint: "),
        (
            &[
                "run",
                "--mode",
                "host",
                "--size",
                "1m",
                "--blob",
                "azure://ckpt",
                "--blob-emulator",
                "--blob-endpoint",
                "http://127.0.0.1:1",
                "--blob-retries",
                "0",
            ],
            "blob tier azure://ckpt/fan-out-write-host-seed1: cannot reach the blob service at http://127.0.0.1:1",
        ),
        (&["copy", "--work-dir", "adir"], "no run directory here"),
        (&["copy", "--work-dir", "nowhere"], "--work-dir nowhere: not a directory"),
        (&["run", "--mode", "host", "--shift", "4"], "--shift (read_shift): must be 0..nodes (4)"),
        (&["run", "--mode", "host", "--shift", "x"], "--shift: `x` is not a whole number"),
        (&["validate", "--rounds", "0"], "--rounds 0: must be 1..=20"),
        (&["validate", "--rounds", "x"], "--rounds: `x` is not a whole number"),
        (&["validate", "--remeasure", "50"], "--remeasure 50: must be 0..=20"),
        (&["validate", "--scenario", "kv-cache"], "--scenario: kv-cache has no validation cases"),
        (&["validate", "--scenario", "fan-in-read,nope"], "--scenario: unknown scenario `nope`"),
        (&["validate", "--chunk", "100"], "--chunk: must be 512 B..=64 MiB"),
        (&["validate", "--chunk", "8g"], "--chunk 8g: must be at most 64 MiB"),
        (&["validate", "--size", "64k"], "--size: 65536 is smaller than one chunk"),
        (&["validate", "--size", "lots"], "--size: `lots` is not a size"),
        (&["validate", "--profile", "nope"], "unknown profile `nope`"),
        (&["validate", "--out", "no/such/dir/v.json"], "directory no/such/dir does not exist"),
        (&["validate", "--out", "adir"], "--out adir: is a directory"),
        (&["run", "--mode", "host", "--mpi", "--scale"], "--scale models the cluster in one process"),
        (&["run", "--mode", "host", "--scale", "--ioengine", "psync"], "--ioengine: scale mode models the local tier"),
        #[cfg(not(feature = "mpi"))]
        (
            &["run", "--mode", "host", "--mpi"],
            "built without it: build with `cargo build --release --features mpi`",
        ),
        #[cfg(not(feature = "mpi"))]
        (&["compare", "--mpi"], "built without it"),
    ];
    let failures = one_line_error_failures(cases.iter().map(|(a, w)| (a.to_vec(), 1, *w)), d);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A device program that is missing, not executable or not given is a usage error (clap's
/// status 2) naming it, before any work: no result, no work dir.
#[test]
fn a_bad_device_program_is_one_line_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("afile"), "").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--mode", "offload", "--device", "process:/nonexistent/dpu-device"],
            "device program `/nonexistent/dpu-device`: No such file or directory",
        ),
        (&["compare", "--device", "process:afile --flag"], "device program `afile` not found on PATH"),
        (&["compare", "--device", "process:./afile"], "device program `./afile` is not executable"),
        (&["run", "--mode", "offload", "--device", "process:"], "needs a program"),
        (
            &["compare", "--device", "gpu"],
            "unknown device `gpu`: expected `sim`, `thread`, `sim-paced`, `process:CMD [ARGS]` or `dpdk:PMD`",
        ),
    ];
    for (args, want) in cases {
        let (status, stderr) = dpukit(args, d);
        let line = format!("dpukit {}: {stderr}", args.join(" "));
        assert_eq!(status, 2, "{line}");
        assert_eq!(stderr.lines().count(), 1, "{line}");
        assert!(stderr.starts_with("dpukit: error: ") && stderr.contains(want), "{line}");
    }
    let left: Vec<_> = std::fs::read_dir(d).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("afile")], "nothing was written before the error");
}

/// `--device dpdk:PMD` in a build without the `dpdk` feature, and the DPDK flags without a
/// DPDK device: one line each, exit 2, nothing written.
#[test]
fn dpdk_options_without_dpdk_are_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // (arguments, exit status: 2 for a usage error, 1 for a refused combination, the line)
    let mut cases: Vec<(&[&str], i32, &str)> = vec![
        (&["compare", "--dpdk-burst", "4"], 1, "--dpdk-burst applies to --device dpdk:PMD only"),
        (
            &["run", "--mode", "offload", "--device", "thread", "--dpdk-eal", "-l 0"],
            1,
            "--dpdk-eal applies to",
        ),
    ];
    if cfg!(not(feature = "dpdk")) {
        cases.push((
            &["compare", "--device", "dpdk:compress_isal"],
            2,
            "this dpukit was built without DPDK: cargo build --features dpdk",
        ));
    } else {
        cases.push((
            &["compare", "--device", "dpdk:compress_isal", "--dpdk-burst", "0"],
            1,
            "--dpdk-burst 0 out of range",
        ));
    }
    let failures = one_line_error_failures(cases.into_iter().map(|(a, c, w)| (a.to_vec(), c, w)), d);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "nothing was written before the error");
}

/// A work dir whose name is not UTF-8 cannot be recorded in the result: refused before the run.
#[test]
fn a_non_utf8_work_dir_is_refused_before_the_run() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"w\xff");
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(["run", "--mode", "host", "--work-dir"])
        .arg(bad)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    assert!(!dir.path().join(std::ffi::OsStr::from_bytes(b"w\xff")).exists(), "the run started");
}

/// Usage errors (clap's) are one line too, naming the argument, with status 2; help and
/// version still print in full.
#[test]
fn usage_errors_are_clap_errors_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["frobnicate"][..],
        &["run"],
        &["run", "--mode", "fast"],
        &["run", "--mode", "host", "--bogus"],
        &["report"],
        &["report", "x.json", "--format", "pdf"],
        &["sweep"],
        &["run", "--mode", "host", "-y", "--no-verify"],
        &["validate", "--quick", "--bogus"],
        &["run", "--mode", "host", "--ioengine", "libaio"],
        &["run", "--mode", "host", "--output-format", "yaml"],
        &["report", "x.json", "--format", "yaml"],
    ] {
        let (status, stderr) = dpukit(args, dir.path());
        assert_eq!(status, 2, "dpukit {}: {stderr}", args.join(" "));
        assert!(stderr.starts_with("dpukit: error: "), "dpukit {}: {stderr}", args.join(" "));
        assert_eq!(stderr.lines().count(), 1, "dpukit {}: {stderr}", args.join(" "));
        assert!(!stderr.contains("Usage:") && !stderr.contains("panicked"));
    }
    let (_, stderr) = dpukit(&["run", "--mode", "host", "--ioengine", "libaio"], dir.path());
    assert!(stderr.contains("'libaio' for '--ioengine") && stderr.contains("io_uring, psync"), "{stderr}");
    let (_, stderr) = dpukit(&["run", "--mode", "host", "--bogus"], dir.path());
    assert!(stderr.contains("'--bogus'") && !stderr.contains("to pass"), "{stderr}");
    let help = Command::new(env!("CARGO_BIN_EXE_dpukit")).args(["run", "--help"]).output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--ioengine"));
}

#[test]
fn under_an_mpi_launcher_only_run_and_compare_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["sweep", "--vary", "chunk=64k,1m"][..], &["calibrate"], &["validate", "--quick"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
            .args(args)
            .current_dir(dir.path())
            .env("OMPI_COMM_WORLD_SIZE", "2")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dpukit {}: {stderr}", args.join(" "));
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("only `run` and `compare` run one node per rank"), "{stderr}");
    }
}

/// A measured device (a host thread, a device process) injects no faults: a profile with
/// `[faults]` given with one is refused with one line and status 2, not silently run clean.
#[test]
fn faults_with_a_measured_device_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("dpu-sim/profiles/bluefield-2.toml");
    let text = std::fs::read_to_string(shipped).unwrap();
    let faulty = dir.path().join("faulty.toml");
    std::fs::write(&faulty, format!("{text}\n[faults]\nerror_completion_rate = 0.1\n")).unwrap();
    let profile = faulty.to_str().unwrap();
    for device in ["thread", "process:/bin/true"] {
        let run = ["run", "fan-out-write", "--mode", "offload", "--device", device, "--profile", profile];
        let compare = ["compare", "fan-out-write", "--device", device, "--profile", profile];
        for args in [&run[..], &compare[..]] {
            let (code, stderr) = dpukit(args, dir.path());
            assert_eq!(code, 2, "dpukit {}: {stderr}", args.join(" "));
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains(&format!(
                    "--device {device} injects no faults, and profile `bluefield-2` has a [faults] section"
                )),
                "{stderr}"
            );
        }
    }
}
