//! `compare --sensitivity` and `profiles show --scenario` through the binary: the section
//! in the table, the HTML page and the JSON, the defaults per mode, and bad input as one
//! line with a non-zero status. Scale mode runs on a calibration written down, so
//! nothing here measures this machine.

use serde_json::Value;
use std::path::Path;
mod common;

#[path = "../host/tests/common/fixed_calibration.rs"]
mod fixed_calibration;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn dpukit(args: &[&str], cwd: &Path) -> Out {
    let (code, stdout, stderr) = common::dpukit(args, cwd);
    Out { code, stdout, stderr }
}

fn with_calibration() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fixed_calibration::fixed().save(&dir.path().join("cal.json")).unwrap();
    dir
}

const SCALE: &[&str] = &[
    "compare",
    "--scale",
    "--calibration",
    "cal.json",
    "--profile",
    "bluefield-3",
    "--nodes",
    "4",
    "--size",
    "4m",
    "--quiet",
];

#[test]
fn scale_compare_ranks_the_figures_in_table_html_and_json() {
    let dir = with_calibration();
    let d = dir.path();
    let out = dpukit(&[SCALE, &["--out-dir", "top"]].concat(), d);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // On by default in scale mode.
    assert!(out.stdout.contains("sensitivity [model]:"), "{}", out.stdout);
    assert!(out.stdout.contains("cores.compress_bytes_per_s.lz4 [derived] moves it up to"), "{}", out.stdout);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("top/comparison.json")).unwrap()).unwrap();
    let s = &json["sensitivity"];
    assert_eq!(s["level"], "top");
    let figures = s["figures"].as_array().unwrap();
    assert!(figures.len() > 3, "the JSON keeps every perturbed figure, not the top 3");
    assert_eq!(figures[0]["key"], "cores.compress_bytes_per_s.lz4", "{s:#}");
    assert_eq!(figures[0]["confidence"], "derived");
    let effects: Vec<f64> = figures.iter().map(|f| f["effect"].as_f64().unwrap()).collect();
    assert!(effects.windows(2).all(|w| w[0] >= w[1]), "{effects:?}");
    assert!(s["not_perturbed"].as_array().unwrap().iter().any(|n| n["key"] == "memory.size_gib"));
    let html = std::fs::read_to_string(d.join("top/report.html")).unwrap();
    assert!(html.contains("<h2>Sensitivity</h2>") && html.contains("cores.compress_bytes_per_s.lz4"));

    // all: every figure perturbed, none left out; off: no section at all.
    let all = dpukit(&[SCALE, &["--out-dir", "all", "--sensitivity", "all"]].concat(), d);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("all/comparison.json")).unwrap()).unwrap();
    assert_eq!(json["sensitivity"]["not_perturbed"].as_array().unwrap().len(), 0);
    assert!(all.stdout.contains("memory.size_gib [vendor] moves it up to 0 %"), "{}", all.stdout);
    let off = dpukit(&[SCALE, &["--out-dir", "off", "--sensitivity", "off"]].concat(), d);
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert!(!off.stdout.contains("sensitivity"), "{}", off.stdout);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("off/comparison.json")).unwrap()).unwrap();
    assert!(json.get("sensitivity").is_none());
}

#[test]
fn profiles_show_counts_confidence_and_lists_what_matters_for_a_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = dpukit(&["profiles", "show", "bluefield-3"], d);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(plain.stdout.contains(" measured, ") && plain.stdout.contains(" assumed"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("Figures that matter"));
    let out = dpukit(&["profiles", "show", "bluefield-3", "--scenario", "fan-out-read"], d);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = &out.stdout;
    assert!(text.contains("Figures that matter for fan-out-read on bluefield-3"), "{text}");
    // Reads decompress LZ4 on BlueField-3's engine and look up the cache on its cores.
    assert!(text.contains("accelerators[decompress].bandwidth_bytes_per_s"), "{text}");
    assert!(text.contains("Not used by this scenario:"), "{text}");
    let unused = text.split("Not used by this scenario:").nth(1).unwrap();
    assert!(unused.contains("cores.compress_bytes_per_s.lz4"), "{text}");
    let host = dpukit(&["profiles", "show", "host-only", "--scenario", "kv-cache"], d);
    assert_eq!(host.code, 0, "{}", host.stderr);
    assert!(host.stdout.contains("No figure of `host-only` matters for kv-cache"), "{}", host.stdout);
}

#[test]
fn bad_sensitivity_input_is_one_line() {
    let dir = with_calibration();
    let d = dir.path();
    std::fs::write(d.join("junk.json"), "not a calibration").unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["compare", "--sensitivity", "most"], 2, "invalid value 'most' for '--sensitivity <off|top|all>'"),
        (
            &["compare", "--sensitivity-pct", "0"],
            1,
            "--sensitivity-pct 0: must be a percentage above 0 and below 100",
        ),
        (&["compare", "--sensitivity-pct", "150"], 1, "--sensitivity-pct 150: must be a percentage"),
        (&["compare", "--sensitivity-pct", "NaN"], 1, "--sensitivity-pct NaN: must be a percentage"),
        (&["compare", "--sensitivity-pct", "x"], 2, "invalid value 'x' for '--sensitivity-pct <PCT>'"),
        (
            &["compare", "--scale", "--calibration", "cal.json", "--sensitivity-calibration", "cal.json"],
            1,
            "--sensitivity-calibration is for a live compare",
        ),
        (
            &["compare", "--sensitivity", "top", "--sensitivity-calibration", "missing.json"],
            1,
            "--sensitivity-calibration: ",
        ),
        (
            &["compare", "--sensitivity", "top", "--sensitivity-calibration", "junk.json"],
            1,
            "--sensitivity-calibration: ",
        ),
        (
            &["compare", "--sensitivity", "off", "--sensitivity-calibration", "cal.json"],
            1,
            "--sensitivity-calibration given with --sensitivity off",
        ),
        (&["compare", "--sensitivity-calibration", "junk.json"], 1, "--sensitivity-calibration: "),
        (&["profiles", "show", "bluefield-3", "--scenario", "nope"], 1, "unknown scenario `nope`"),
        (&["profiles", "show", "nope", "--scenario", "kv-cache"], 1, "unknown profile `nope`"),
    ];
    for (args, code, want) in cases {
        let started = std::time::Instant::now();
        let out = dpukit(args, d);
        let what = args.join(" ");
        assert_eq!(out.code, *code, "dpukit {what}: {}", out.stderr);
        assert!(out.stderr.contains(want), "dpukit {what}: wanted `{want}` in:\n{}", out.stderr);
        assert!(!out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"), "{}", out.stderr);
        if *code == 1 {
            assert_eq!(out.stderr.trim_end().lines().count(), 1, "dpukit {what}: {}", out.stderr);
        }
        // Refused before any run starts.
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "dpukit {what} ran first");
        assert!(!d.join("dpukit-out/comparison.json").exists(), "dpukit {what} wrote a result");
    }
}

/// A live compare given a calibration file: the proxy runs, says what it is, and records
/// scale mode's own figures beside the live run's.
#[test]
fn live_compare_with_a_calibration_file_gets_the_labelled_proxy() {
    let dir = with_calibration();
    let d = dir.path();
    let out = dpukit(
        &[
            "compare",
            "--profile",
            "bluefield-3",
            "--nodes",
            "2",
            "--size",
            "4m",
            "--chunk",
            "256k",
            "--quiet",
            "--sensitivity-calibration",
            "cal.json",
        ],
        d,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("applied to this live run's figures"), "{}", out.stdout);
    assert!(
        out.stdout.contains("scale mode's own figures for this scenario on this machine"),
        "{}",
        out.stdout
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dpukit-out/comparison.json")).unwrap())
            .unwrap();
    let s = &json["sensitivity"];
    assert_eq!(s["level"], "top");
    assert!(s["proxy_baseline"]["speedup"].as_f64().is_some_and(|x| x > 0.0), "{s:#}");
    // The baseline is the live run's own speedup, not the proxy's.
    assert_eq!(s["baseline"]["speedup"], json["speedup"]["value"]);
    assert!(!s["figures"].as_array().unwrap().is_empty());
}
