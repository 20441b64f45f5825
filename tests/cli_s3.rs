//! The command line against an S3-compatible server (moto, started by scripts/s3.sh): a
//! missing bucket is one line naming the tier; a fan-out write lands its checkpoint in the
//! bucket (multipart uploads from the command line's knobs) and `dpukit copy` finds nothing
//! left to upload; the read scenarios fetch from the bucket and verify; the result records
//! the tier as S3, its endpoint and that it is an emulator.
//! Needs `DPUKIT_S3_URL` (scripts/test.sh); skipped without it.

#[path = "../host/tests/common/s3.rs"]
mod s3;

use std::path::Path;
use std::process::Command;

fn dpukit(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .current_dir(cwd)
        .output()
        .expect("spawn dpukit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_bucket_is_one_line() {
    let Some(url) = s3::shared_url("a_missing_bucket_is_one_line") else { return };
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--mode",
        "host",
        "--size",
        "1m",
        "--blob",
        "s3://no-such-bucket",
        "--blob-emulator",
        "--blob-endpoint",
    ];
    let mut args = args.to_vec();
    args.push(&url);
    let (status, _, stderr) = dpukit(&args, dir.path());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        status == 1
            && lines.len() == 1
            && lines[0].starts_with("dpukit: error: ")
            && lines[0].contains("bucket not found")
            && !stderr.contains("panicked"),
        "status {status}; stderr:\n{stderr}"
    );
}

#[test]
fn a_checkpoint_lands_in_the_bucket_and_nothing_is_left_to_copy() {
    let Some(url) = s3::shared_url("a_checkpoint_lands_in_the_bucket") else { return };
    let bucket = s3::bucket_name("cli-s3-run");
    s3::create_bucket(&url, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let blob = format!("s3://{bucket}/ckpt");
    let common = ["--blob-emulator", "--blob-endpoint", &url];
    // Uncompressed 6 MiB chunks at a 6 MiB threshold: every chunk is a multipart upload of
    // two parts (5 MiB, S3's smallest, and 1 MiB).
    let mut args = vec!["run", "fan-out-write", "--mode", "host", "--size", "24m", "--chunk", "6m"];
    args.extend(["--nodes", "2", "--work-dir", "wd", "--blob", &blob, "--quiet", "--compress", "none"]);
    args.extend(["--blob-multipart-threshold", "6m", "--blob-part-size", "5m", "--out", "w.json"]);
    args.extend(common);
    let (status, stdout, stderr) = dpukit(&args, dir.path());
    assert_eq!(status, 0, "{stderr}");
    // 24 MiB per node, two nodes: eight chunks.
    assert!(stdout.contains("blob copied chunks                8 [meas]"), "{stdout}");
    assert!(stdout.contains("blob multipart uploads            8 [meas]"), "{stdout}");
    assert!(stdout.contains("verification                      ok: 8 chunks"), "{stdout}");
    assert!(stdout.contains("blob tier: an S3 emulator at"), "{stdout}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("w.json")).unwrap()).unwrap();
    let tier = &result["blob_tier"];
    assert_eq!(tier["kind"], "s3", "{tier}");
    assert_eq!(tier["emulator"], true, "{tier}");
    assert_eq!(tier["endpoint"], url.as_str(), "{tier}");

    for scenario in ["fan-out-read", "fan-in-read"] {
        let mut args = vec!["run", scenario, "--mode", "offload", "--size", "2m", "--chunk", "256k"];
        args.extend(["--nodes", "2", "--blob", &blob, "--quiet"]);
        args.extend(common);
        let (status, stdout, stderr) = dpukit(&args, dir.path());
        assert_eq!(status, 0, "{scenario}: {stderr}");
        assert!(stdout.contains("verification                      ok: "), "{scenario}: {stdout}");
        assert!(stdout.contains("[emulator]"), "{scenario}: {stdout}");
    }

    let args = vec!["copy", "--work-dir", "wd", "--quiet", "--blob-retries", "2"];
    let (status, stdout, stderr) = dpukit(&args, dir.path());
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains("8 acknowledged chunks, 8 already copied, 0 uploaded now (0 bytes) to ")
            && stdout.contains(&format!("{blob}/fan-out-write-host-seed1")),
        "{stdout}"
    );
}

#[test]
fn a_sweep_over_tiers_puts_a_directory_and_a_bucket_side_by_side() {
    let Some(url) = s3::shared_url("a_sweep_over_tiers") else { return };
    let bucket = s3::bucket_name("cli-s3-sweep");
    s3::create_bucket(&url, &bucket);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("local")).unwrap();
    let vary = format!("blob=local,s3://{bucket}/t");
    let mut args = vec!["sweep", "fan-out-write", "--mode", "host", "--size", "2m", "--chunk", "256k"];
    args.extend(["--nodes", "2", "--vary", &vary, "--out-dir", "out", "--quiet"]);
    args.extend(["--blob-emulator", "--blob-endpoint", &url]);
    let (status, stdout, stderr) = dpukit(&args, dir.path());
    assert_eq!(status, 0, "{stderr}");
    let header = stdout.lines().find(|l| l.starts_with("blob ")).expect("table header");
    assert!(header.contains("tier") && header.contains("copy lag p99"), "{stdout}");
    let row =
        |tier: &str| stdout.lines().find(|l| l.contains(tier)).unwrap_or_else(|| panic!("{tier}: {stdout}"));
    assert!(row("local (").contains(" ok "), "{stdout}");
    assert!(row("s3 (emulator)").contains(" ok "), "{stdout}");
    let sweep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/sweep.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = sweep["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["result"]["blob_tier"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["local", "s3"]);
}
