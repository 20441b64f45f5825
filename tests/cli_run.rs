//! The `dpukit` binary end to end at tiny sizes: run, compare, sweep, report in every
//! format, profiles, and the help text of every subcommand.

use std::path::Path;
use std::process::{Command, Output};

/// Small enough to finish in a second or two, even in a debug build.
const TINY: &[&str] = &["--size", "4m", "--chunk", "256k", "--nodes", "2", "--quiet"];

fn dpukit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpukit")).args(args).current_dir(cwd).output().expect("spawn dpukit")
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = dpukit(args, cwd);
    assert!(
        out.status.success(),
        "dpukit {} failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn with_tiny<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(TINY.iter().copied()).collect()
}

#[test]
fn run_writes_json_and_prints_a_tagged_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = ok(&with_tiny(&["run", "fan-out-write", "--mode", "host"]), d);
    assert!(table.contains("throughput") && table.contains("[meas]"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dpukit-result.json")).unwrap()).unwrap();
    assert_eq!(json["mode"], "host");
    assert_eq!(json["scenario"]["nodes"], 2);
    assert_eq!(json["scenario"]["chunk_size_bytes"], 256 * 1024);

    let table = ok(
        &with_tiny(&["run", "-w", "fan-in-read", "--mode", "offload", "--out", "off.json", "--readers", "2"]),
        d,
    );
    assert!(table.contains("[model]") && table.contains("bottleneck"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("off.json")).unwrap()).unwrap();
    assert_eq!((json["mode"].as_str(), json["scenario"]["readers"].as_u64()), (Some("offload"), Some(2)));
    assert_eq!(json["throughput"]["source"], "modelled");
}

#[test]
fn compare_writes_its_files_and_report_renders_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = ok(&with_tiny(&["compare", "--out-dir", "out", "--compress", "zstd:3", "--seed", "7"]), d);
    for want in
        ["host", "offload", "speedup", "host cores freed", "verification", "fallbacks", "simulator lag"]
    {
        assert!(table.contains(want), "missing {want}: {table}");
    }
    for f in ["comparison.json", "comparison.csv", "report.html"] {
        assert!(d.join("out").join(f).is_file(), "{f}");
    }
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/comparison.json")).unwrap()).unwrap();
    assert_eq!(c["host"]["seed"], 7);
    assert_eq!(c["offload"]["scenario"]["compression"]["algorithm"], "zstd");

    let table = ok(&["report", "out/comparison.json"], d);
    assert!(table.contains("speedup"), "{table}");
    let csv = ok(&["report", "out/comparison.json", "--format", "csv"], d);
    let lines: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("schema_version,") && lines[0].contains("throughput_source"));
    let svg = ok(&["report", "out/comparison.json", "--format", "svg"], d);
    assert!(svg.starts_with("<svg") && svg.contains("chart-throughput") && svg.contains("chart-utilization"));
    ok(&["report", "out/comparison.json", "--format", "html", "--out", "r.html"], d);
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("chart-latency-cdf"));
}

#[test]
fn sweep_runs_the_cross_product() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = with_tiny(&[
        "sweep",
        "--vary",
        "chunk=256k,512k",
        "--vary",
        "profile=bluefield-2,bluefield-3",
        "--mode",
        "offload",
        "--out-dir",
        "sw",
    ]);
    let table = ok(&args, d);
    let rows = table.lines().filter(|l| l.starts_with("256k") || l.starts_with("512k")).count();
    assert_eq!(rows, 4, "{table}");
    for f in ["sweep.json", "sweep.csv", "sweep.svg", "sweep.html"] {
        assert!(d.join("sw").join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(d.join("sw/sweep.csv")).unwrap();
    // Provenance comment lines, then the header and one row per run.
    assert!(csv.starts_with("# started: "), "{csv}");
    let rows: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(rows[0].starts_with("chunk,profile,schema_version,"), "{csv}");
    assert_eq!(rows.len(), 5);
    let svg = std::fs::read_to_string(d.join("sw/sweep.svg")).unwrap();
    assert_eq!(svg.matches("<rect class=\"bar").count(), 4);
    // A sweep file is itself a report input.
    let again = ok(&["report", "sw/sweep.json"], d);
    assert!(again.contains("512k"), "{again}");
}

#[test]
fn profiles_list_show_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = ok(&["profiles", "list"], d);
    for name in ["host-only", "bluefield-2", "bluefield-3"] {
        assert!(list.contains(name), "{list}");
    }
    let show = ok(&["profiles", "show", "bluefield-2"], d);
    assert!(
        show.contains("pcie.lanes = 16") && show.contains("[vendor]") && show.contains("source: "),
        "{show}"
    );
    assert!(show.contains("assumed"), "{show}");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("dpu-sim/profiles/bluefield-3.toml");
    let check = ok(&["profiles", "check", shipped.to_str().unwrap()], d);
    assert!(check.contains(": ok: profile `bluefield-3`"), "{check}");
    // `show` takes a path as well as a name.
    let by_path = ok(&["profiles", "show", shipped.to_str().unwrap()], d);
    assert!(by_path.starts_with("bluefield-3"));
}

#[test]
fn presets_list_and_a_preset_run_says_how_it_was_scaled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = ok(&["presets"], d);
    for want in ["mlperf-ckpt-70b", "64 x 13.3 GiB", "MLPerf Storage v2.0", "model-load-100g"] {
        assert!(list.contains(want), "{list}");
    }
    // Flags after the preset win; the status line compares the run with the full size.
    let out = dpukit(
        &["run", "--preset", "mlperf-ckpt-8b", "--mode", "host", "--size", "4m", "--chunk", "256k"],
        d,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("preset mlperf-ckpt-8b")
            && stderr.contains("this run is smaller: 8 of 8 nodes, 4 MiB per node instead of 12.2 GiB"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dpukit-result.json")).unwrap()).unwrap();
    assert_eq!(
        (json["scenario"]["kind"].as_str(), json["scenario"]["nodes"].as_u64()),
        (Some("fan-out-write"), Some(8))
    );
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for sub in [
        &["run"][..],
        &["compare"],
        &["sweep"],
        &["profiles"],
        &["presets"],
        &["report"],
        &["profiles", "show"],
        &["validate"],
    ] {
        let mut args = sub.to_vec();
        args.push("--help");
        let help = ok(&args, dir.path());
        assert!(help.contains("Example"), "dpukit {} --help: {help}", sub.join(" "));
    }
    let run_help = ok(&["run", "--help"], dir.path());
    for flag in ["--iodepth", "--bs", "--numjobs", "-q", "-o", "-y", "--compress", "powers of 1024", "-t"] {
        assert!(run_help.contains(flag), "run --help lacks {flag}");
    }
}

#[test]
fn quiet_prints_nothing_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dpukit(&with_tiny(&["run", "--mode", "host"]), dir.path());
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// O_DIRECT on the local tier with compressed chunks, whose lengths are not multiples of
/// 4 KiB: every scenario that writes or reads the local tier runs and verifies.
#[test]
fn direct_io_runs_every_scenario_with_compressed_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for scenario in ["fan-out-write", "fan-out-read", "fan-in-read", "kv-cache"] {
        for mode in ["host", "offload"] {
            let out = format!("{scenario}-{mode}.json");
            let mut args =
                with_tiny(&["run", scenario, "--mode", mode, "--direct", "--compress", "lz4", "--out", &out]);
            // A few KV requests of small blocks (the request count, not --size, sets its work).
            args.extend(["--kv-requests", "20", "--kv-block-tokens", "1"]);
            ok(&args, d);
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(d.join(&out)).unwrap()).unwrap();
            assert_eq!(json["scenario"]["direct"], true, "{scenario} {mode}");
            assert_eq!(json["verification"]["ok"], true, "{scenario} {mode}: {}", json["verification"]);
        }
    }
}

#[test]
fn every_result_says_what_produced_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("wd")).unwrap();
    ok(
        &with_tiny(&[
            "run",
            "fan-out-write",
            "--mode",
            "host",
            "--ioengine",
            "psync",
            "--work-dir",
            "wd",
            "--out",
            "r.json",
        ]),
        d,
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    let p = &r["provenance"];
    assert_eq!(p["io_engine"], "psync", "{p}");
    assert_eq!(p["io_engine_requested"], "psync", "{p}");
    assert_eq!(p["blob_tier"], "local", "{p}");
    assert_eq!(p["profile"], "bluefield-2");
    let args: Vec<&str> = p["command_line"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&args[1..4], ["run", "fan-out-write", "--mode"], "{p}");
    assert!(args.contains(&"psync") && args.contains(&"r.json"), "{p}");
    assert!(p["started_utc"].as_str().unwrap().ends_with('Z'), "{p}");
    assert!(p["work_dir"].as_str().unwrap().ends_with("wd"), "{p}");
    assert!(p["work_dir_fs"].is_string(), "{p}");
    // The shipped profile's hash is the hash of its TOML text.
    let toml = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("dpu-sim/profiles/bluefield-2.toml"))
        .unwrap();
    assert_eq!(p["profile_sha256"], sha256_hex(&toml), "{p}");
    // A profile file: the hash of its bytes, which changes with them.
    let text = String::from_utf8(toml).unwrap();
    std::fs::write(d.join("mine.toml"), text.replace("name = \"bluefield-2\"", "name = \"mine\"")).unwrap();
    ok(
        &with_tiny(&["run", "fan-in-read", "--mode", "offload", "--profile", "mine.toml", "--out", "k.json"]),
        d,
    );
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("k.json")).unwrap()).unwrap();
    let mine = std::fs::read(d.join("mine.toml")).unwrap();
    assert_eq!(k["provenance"]["profile_sha256"], sha256_hex(&mine));
    assert_ne!(k["provenance"]["profile_sha256"], p["profile_sha256"]);
    // `report` shows it.
    let table = ok(&["report", "r.json"], d);
    assert!(
        table.contains("provenance of r.json:") && table.contains("io engine: psync (asked: psync)"),
        "{table}"
    );
    let csv = ok(&["report", "r.json", "--format", "csv"], d);
    assert!(csv.lines().any(|l| l.starts_with("# command: ") && l.contains("--ioengine psync")), "{csv}");
    let html = ok(&["report", "r.json", "--format", "html"], d);
    assert!(
        html.contains("<footer>") && html.contains("io engine: psync"),
        "provenance missing from the footer"
    );
}

/// SHA-256 through the library, so the test checks the files hashed, not the hash code.
fn sha256_hex(bytes: &[u8]) -> String {
    dpukit_host::provenance::sha256_hex(bytes)
}

#[test]
fn output_formats_and_percentiles_follow_fio() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = ok(
        &with_tiny(&[
            "run",
            "fan-in-read",
            "--mode",
            "host",
            "--output-format",
            "json",
            "--percentile-list",
            "99:50:90",
        ]),
        d,
    );
    let printed: serde_json::Value = serde_json::from_str(&json).expect("stdout is the JSON result");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dpukit-result.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    let e2e = &printed["latency"][0];
    assert_eq!(e2e["stage"], "end_to_end");
    let asked: Vec<f64> =
        e2e["percentiles"].as_array().unwrap().iter().map(|p| p["percentile"].as_f64().unwrap()).collect();
    assert_eq!(asked, [50.0, 90.0, 99.0], "sorted, as given");
    let at = |i: usize| e2e["percentiles"][i]["ns"].as_u64().unwrap();
    let (min, max) = (e2e["min_ns"].as_u64().unwrap(), e2e["max_ns"].as_u64().unwrap());
    assert!(min <= at(0) && at(0) <= at(1) && at(1) <= at(2) && at(2) <= max, "{e2e}");
    assert_eq!(at(0), e2e["p50_ns"].as_u64().unwrap());
    assert!(e2e["stdev_ns"].as_f64().unwrap() >= 0.0);
    // The CDF ends at 1: every sample is at or below the largest latency.
    let cdf = e2e["cdf"].as_array().unwrap();
    assert_eq!(cdf.last().unwrap()[1], 1.0, "{e2e}");

    let csv = ok(&with_tiny(&["run", "fan-in-read", "--mode", "host", "--output-format", "csv"]), d);
    let rows: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].starts_with("schema_version,") && rows[0].contains(",latency_percentiles_ns"), "{csv}");
    assert!(rows[1].contains("50=") && rows[1].contains("99.99="), "default list: {csv}");

    let table = ok(&with_tiny(&["run", "fan-in-read", "--mode", "host", "--percentile-list", "50:99"]), d);
    assert!(
        table.contains("latency min/mean/stdev/max") && table.contains("p50 ") && table.contains("p99 "),
        "{table}"
    );

    // report --format json gives back the document; several are an array.
    let again: serde_json::Value =
        serde_json::from_str(&ok(&["report", "dpukit-result.json", "--format", "json"], d)).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dpukit-result.json")).unwrap()).unwrap();
    assert_eq!(again, written);
    let two: serde_json::Value = serde_json::from_str(&ok(
        &["report", "dpukit-result.json", "dpukit-result.json", "--format", "json"],
        d,
    ))
    .unwrap();
    assert_eq!(two.as_array().map(Vec::len), Some(2));
}

#[test]
fn logs_follow_verbosity_and_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |extra: &[&str], rust_log: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dpukit"));
        cmd.args(with_tiny(&["run", "fan-out-read", "--mode", "host"])).args(extra).current_dir(d);
        match rust_log {
            Some(v) => cmd.env("RUST_LOG", v),
            None => cmd.env_remove("RUST_LOG"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    };
    let quiet = run(&[], None);
    assert!(!quiet.contains("INFO") && !quiet.contains("DEBUG"), "{quiet}");
    let v = run(&["-v"], None);
    assert!(v.contains("run starting") && v.contains("timed phase done") && !v.contains("DEBUG"), "{v}");
    let vv = run(&["-vv"], None);
    assert!(vv.contains("node starting") && vv.contains("node=1"), "{vv}");
    let env = run(&[], Some("dpukit_host::live=debug"));
    assert!(env.contains("node starting") && env.contains("run starting"), "{env}");
    // The result counts the blob tier's retries (none against a local directory).
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dpukit-result.json")).unwrap()).unwrap();
    let retries =
        r["extra"].as_array().unwrap().iter().find(|e| e[0] == "blob_retries").expect("blob_retries");
    assert_eq!(retries[1]["value"], 0.0);
}

#[test]
fn repeats_keep_every_run_and_sweeps_run_each_host_configuration_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&with_tiny(&["run", "fan-in-read", "--mode", "host", "--repeat", "3", "--out", "r.json"]), d);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    let reps = &r["repeats"];
    assert_eq!(reps["count"], 3);
    let tp = reps["figures"].as_array().unwrap().iter().find(|f| f["name"] == "throughput").unwrap();
    let values: Vec<f64> = tp["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(values.len(), 3);
    let (min, max, median) =
        (tp["min"].as_f64().unwrap(), tp["max"].as_f64().unwrap(), tp["median"].as_f64().unwrap());
    assert!(values.iter().all(|v| (min..=max).contains(v)) && (min..=max).contains(&median), "{tp}");
    // The result's own figures are the median run's.
    assert_eq!(r["throughput"]["value"].as_f64().unwrap(), median);
    assert_eq!(values[reps["median_run"].as_u64().unwrap() as usize], median);

    let table = ok(&with_tiny(&["compare", "fan-in-read", "--repeat", "2", "--out-dir", "c"]), d);
    assert!(
        table.contains("throughput over 2 runs") && table.contains("speedup over 2 run pairs"),
        "{table}"
    );

    // Two profiles, both modes: the host configuration is the same at both points, so it
    // runs once and both host rows carry the same figures.
    ok(
        &with_tiny(&[
            "sweep",
            "fan-in-read",
            "--vary",
            "profile=bluefield-2,bluefield-3",
            "--mode",
            "both",
            "--out-dir",
            "sw",
        ]),
        d,
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("sw/sweep.json")).unwrap()).unwrap();
    let hosts: Vec<&serde_json::Value> = s["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["result"])
        .filter(|r| r["mode"] == "host")
        .collect();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["throughput"], hosts[1]["throughput"]);
    assert_eq!(hosts[1]["profile"], "bluefield-3");
    assert!(hosts[1]["notes"].to_string().contains("host run shared with sweep point profile=bluefield-2"));
}

#[test]
fn a_timeline_follows_each_modes_clock_and_adds_up_to_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&with_tiny(&["compare", "fan-out-write", "--log-interval", "10ms", "--out-dir", "c"]), d);
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("c/comparison.json")).unwrap()).unwrap();
    for (mode, clock) in [("host", "measured"), ("offload", "modelled")] {
        let r = &c[mode];
        let t = &r["timeline"];
        assert_eq!(t["interval_ns"], 10_000_000);
        assert_eq!(t["clock"], clock, "{mode}");
        let total = t["total"].as_array().unwrap();
        let sum = |k: &str| total.iter().map(|i| i[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(sum("bytes"), r["bytes"].as_u64().unwrap(), "{mode}: intervals add up to the run");
        assert_eq!(sum("ops"), r["ops"].as_u64().unwrap(), "{mode}");
        let nodes = t["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 2);
        let node_bytes: u64 = nodes
            .iter()
            .flat_map(|n| n["intervals"].as_array().unwrap().iter().map(|i| i["bytes"].as_u64().unwrap()))
            .sum();
        assert_eq!(node_bytes, sum("bytes"), "{mode}: nodes add up to the total");
        for (k, iv) in total.iter().enumerate() {
            assert_eq!(iv["start_ns"].as_u64().unwrap(), k as u64 * 10_000_000);
            assert!(iv["latency_p50_ns"].as_u64() <= iv["latency_p99_ns"].as_u64());
        }
    }
    let csv = std::fs::read_to_string(d.join("c/timeline.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(rows[0].starts_with("mode,profile,node,start_s,bytes,ops,"), "{csv}");
    assert!(
        rows.iter().any(|r| r.starts_with("offload,bluefield-2,all,") && r.ends_with(",modelled")),
        "{csv}"
    );
    let html = std::fs::read_to_string(d.join("c/report.html")).unwrap();
    assert!(
        html.contains("id=\"chart-timeline\"")
            && html.contains("timeline-host")
            && html.contains("timeline-offload")
    );
    // run writes its timeline CSV beside the JSON.
    ok(&with_tiny(&["run", "fan-in-read", "--mode", "host", "--log-interval", "5ms", "--out", "r.json"]), d);
    assert!(std::fs::read_to_string(d.join("r.timeline.csv")).unwrap().contains("host,bluefield-2,all,0,"));
}

#[test]
fn copy_removes_the_partial_uploads_a_killed_run_left() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&with_tiny(&["run", "fan-out-write", "--mode", "host", "--work-dir", "wd"]), d);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("wd/fan-out-write-host/blob-tier.json")).unwrap(),
    )
    .unwrap();
    let location = Path::new(record["location"].as_str().unwrap()).to_path_buf();
    let location = if location.is_absolute() { location } else { d.join(location) };
    let objects: Vec<_> = std::fs::read_dir(&location).unwrap().collect();
    assert!(!objects.is_empty(), "the run stored nothing in {}", location.display());
    // What an upload killed midway leaves: object_store's staging file.
    std::fs::write(location.join("node0000-chunk7#1"), b"half").unwrap();
    std::fs::create_dir_all(location.join("deeper")).unwrap();
    std::fs::write(location.join("deeper/x#12"), b"half").unwrap();
    let out = ok(&["copy", "--work-dir", "wd"], d);
    assert!(out.contains("removed 2 partial upload(s)"), "{out}");
    assert!(!location.join("node0000-chunk7#1").exists() && !location.join("deeper/x#12").exists());
    let again = ok(&["copy", "--work-dir", "wd"], d);
    assert!(!again.contains("partial upload"), "{again}");
}
