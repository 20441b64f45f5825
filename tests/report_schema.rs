//! `docs/result-schema.json` describes what dpukit really writes: real `run`, `compare`
//! and `sweep` output validates against it, and documents with a field missing, renamed
//! or mislabelled do not.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/result-schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> =
        v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).take(10).collect();
    assert!(errors.is_empty(), "{what} does not match the schema:\n{}", errors.join("\n"));
}

fn dpukit(args: &[&str], cwd: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(args)
        .args(["--size", "4m", "--chunk", "256k", "--nodes", "2", "--quiet"])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpukit {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

#[path = "../host/tests/common/azurite.rs"]
mod azurite;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn real_output_matches_the_schema() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    dpukit(&["run", "fan-out-read", "--mode", "offload", "--out", "run.json"], d);
    assert_valid(&v, &read(&d.join("run.json")), "run.json");
    dpukit(&["compare", "fan-in-read", "--repeat", "2", "--log-interval", "20ms", "--out-dir", "rep"], d);
    let repeated = read(&d.join("rep/comparison.json"));
    assert!(repeated["speedup_over_runs"].is_object() && repeated["host"]["repeats"].is_object());
    assert!(repeated["offload"]["timeline"]["total"].is_array());
    assert_valid(&v, &repeated, "a repeated comparison.json");
    dpukit(&["compare", "--out-dir", "cmp"], d);
    let comparison = read(&d.join("cmp/comparison.json"));
    assert_valid(&v, &comparison, "comparison.json");
    dpukit(
        &[
            "sweep",
            "kv-cache",
            "--vary",
            "kv-requests=5,10",
            "--kv-block-tokens",
            "1",
            "--mode",
            "host",
            "--out-dir",
            "sw",
        ],
        d,
    );
    assert_valid(&v, &read(&d.join("sw/sweep.json")), "sweep.json");

    // The schema is strict enough to catch a broken document.
    let mut missing = comparison.clone();
    missing["host"].as_object_mut().unwrap().remove("throughput");
    assert!(!v.is_valid(&missing), "a run without throughput passed");
    let mut bad_source = comparison.clone();
    bad_source["offload"]["throughput"]["source"] = "guessed".into();
    assert!(!v.is_valid(&bad_source), "an unknown source passed");
    let mut swapped = comparison.clone();
    swapped["host"]["mode"] = "offload".into();
    assert!(!v.is_valid(&swapped), "a comparison whose host run is offload passed");
    let mut bad_transport = comparison.clone();
    assert!(bad_transport["host"]["per_node"]["nodes"].as_array().is_some_and(|n| n.len() == 2));
    bad_transport["host"]["per_node"]["transport"] = "carrier-pigeon".into();
    assert!(!v.is_valid(&bad_transport), "an unknown transport passed");
    let mut extra_field = comparison;
    extra_field["offload"]["surprise"] = 1.into();
    assert!(!v.is_valid(&extra_field), "an unknown field passed");
}

/// A comparison against Azurite: valid against the schema, the tier recorded without
/// secrets, every blob figure labelled emulator in the JSON, the CSV, the table and the
/// HTML report, and the local-tier figures not labelled.
#[test]
fn emulator_output_matches_the_schema_and_is_labelled() {
    let Some(url) = azurite::shared_url("emulator_output_matches_the_schema") else { return };
    let container = azurite::container_name("schema");
    azurite::create_container(&url, &container);
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let blob = format!("azure://{container}/runs");
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(["compare", "fan-out-write", "--out-dir", "cmp", "--blob", &blob, "--blob-emulator"])
        .args(["--blob-endpoint", &url, "--size", "4m", "--chunk", "256k", "--nodes", "2", "--quiet"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let c = read(&d.join("cmp/comparison.json"));
    assert_valid(&v, &c, "comparison.json against Azurite");
    for mode in ["host", "offload"] {
        let r = &c[mode];
        assert_eq!(r["blob_tier"]["kind"], "azure");
        assert_eq!(r["blob_tier"]["emulator"], true);
        assert_eq!(r["blob_tier"]["location"], format!("{blob}/fan-out-write-{mode}-seed1"));
        assert_eq!(r["blob_tier"]["endpoint"], format!("{url}/devstoreaccount1"));
        let extra = r["extra"].as_array().unwrap();
        let fig = |name: &str| extra.iter().find(|e| e[0] == name).map(|e| e[1].clone()).unwrap();
        for name in ["blob_copy_throughput", "blob_copy_lag_p50", "blob_copy_lag_p99"] {
            assert_eq!(fig(name)["emulator"], true, "{mode} {name}");
        }
        assert_eq!(fig("blob_copied_chunks")["value"], 32.0, "{mode}: every chunk copied");
        assert!(fig("manifest_chunks").get("emulator").is_none(), "{mode}: a local figure labelled emulator");
        assert_eq!(r["throughput"]["emulator"], true);
    }
    assert!(!c.to_string().contains("Eby8vdM02x"), "the account key leaked into the result");
    assert!(table.contains("blob copy lag p99") && table.contains("[meas] [emulator]"), "{table}");
    let csv = std::fs::read_to_string(d.join("cmp/comparison.csv")).unwrap();
    let mut rows = csv.lines().filter(|l| !l.starts_with('#'));
    assert!(rows.next().unwrap().contains(",blob_copy_lag_p99_ns,blob_copy_lag_p99_source,"), "{csv}");
    assert!(rows.next().unwrap().contains(",azure,true,") && csv.contains("measured (emulator)"), "{csv}");
    let html = std::fs::read_to_string(d.join("cmp/report.html")).unwrap();
    assert!(html.contains("<span class=\"tag emulator\">emulator</span>"));

    // A document claiming a local tier with an endpoint query string fails the schema.
    let mut leaky = c.clone();
    leaky["host"]["blob_tier"]["endpoint"] = "https://a.blob.core.windows.net/?sig=secret".into();
    assert!(!v.is_valid(&leaky), "an endpoint with a query string passed");
}

#[path = "../host/tests/common/fixed_calibration.rs"]
mod fixed_calibration;

/// A scale comparison with its sensitivity (on a calibration written down): valid, and a
/// sensitivity with an unknown confidence or a missing figure list is not.
#[test]
fn sensitivity_output_matches_the_schema() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_calibration::fixed().save(&d.join("cal.json")).unwrap();
    let args = ["compare", "--scale", "--calibration", "cal.json", "--profile", "bluefield-3"];
    dpukit(&[&args[..], &["--sensitivity", "all", "--out-dir", "cmp"]].concat(), d);
    let c = read(&d.join("cmp/comparison.json"));
    assert!(c["sensitivity"]["figures"].as_array().is_some_and(|f| !f.is_empty()), "{c:#}");
    assert_valid(&v, &c, "comparison.json with sensitivity");
    let mut bad = c.clone();
    bad["sensitivity"]["figures"][0]["confidence"] = "guessed".into();
    assert!(!v.is_valid(&bad), "an unknown confidence passed");
    let mut missing = c;
    missing["sensitivity"].as_object_mut().unwrap().remove("figures");
    assert!(!v.is_valid(&missing), "a sensitivity without figures passed");
}
