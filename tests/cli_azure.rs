//! The command line against Azurite: a wrong key and a missing container are each one
//! line naming the tier and the problem, exit status 1, no panic, no backtrace; a run that
//! completes leaves its checkpoint in the container (multipart uploads from the command
//! line's knobs) and `dpukit copy` finds nothing left to upload; the read scenarios fetch
//! from the container and verify. Needs `DPUKIT_AZURITE_URL` (scripts/test.sh); skipped without it.

#[path = "../host/tests/common/azurite.rs"]
mod azurite;

use std::path::Path;
use std::process::Command;

fn dpukit(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .current_dir(cwd)
        .output()
        .expect("spawn dpukit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line(status: i32, stderr: &str, want: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        status == 1
            && lines.len() == 1
            && lines[0].starts_with("dpukit: error: ")
            && lines[0].contains(want)
            && !stderr.contains("panicked")
            && !stderr.contains("backtrace"),
        "status {status}, want 1 and `{want}`; stderr:\n{stderr}"
    );
}

#[test]
fn wrong_key_and_missing_container_are_one_line() {
    let Some(url) = azurite::shared_url("wrong_key_and_missing_container_are_one_line") else { return };
    let container = azurite::container_name("cli-errors");
    azurite::create_container(&url, &container);
    let dir = tempfile::tempdir().unwrap();
    let blob = format!("azure://{container}/x");
    let base = ["run", "--mode", "host", "--size", "1m", "--blob-emulator", "--blob-endpoint", &url];

    let mut args = base.to_vec();
    args.extend(["--blob", &blob]);
    // A valid base64 key that is not the account's.
    let (status, _, stderr) =
        dpukit(&args, &[("AZURE_STORAGE_ACCOUNT_KEY", "d3Jvbmcta2V5LXdyb25nLWtleQ==")], dir.path());
    assert_one_line(status, &stderr, &format!("blob tier {blob}/fan-out-write-host-seed1: access denied"));
    assert!(!stderr.contains("d3Jvbmc"), "the key leaked: {stderr}");

    let mut args = base.to_vec();
    args.extend(["--blob", "azure://no-such-container"]);
    let (status, _, stderr) = dpukit(&args, &[], dir.path());
    assert_one_line(status, &stderr, "container not found");
}

#[test]
fn a_checkpoint_lands_in_the_container_and_nothing_is_left_to_copy() {
    let Some(url) = azurite::shared_url("a_checkpoint_lands_in_the_container") else { return };
    let container = azurite::container_name("cli-run");
    azurite::create_container(&url, &container);
    let dir = tempfile::tempdir().unwrap();
    let blob = format!("azure://{container}/ckpt");
    let common = ["--blob-emulator", "--blob-endpoint", &url];
    // Uncompressed 128 KiB chunks at a 128 KiB threshold: every chunk is a multipart
    // upload of two 64 KiB blocks.
    let mut args = vec!["run", "fan-out-write", "--mode", "host", "--size", "2m", "--chunk", "128k"];
    args.extend(["--nodes", "2", "--work-dir", "wd", "--blob", &blob, "--quiet", "--compress", "none"]);
    args.extend(["--blob-multipart-threshold", "128k", "--blob-part-size", "64k"]);
    args.extend(common);
    let (status, stdout, stderr) = dpukit(&args, &[], dir.path());
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("blob copied chunks                32 [meas]"), "{stdout}");
    assert!(stdout.contains("blob multipart uploads            32 [meas]"), "{stdout}");
    assert!(stdout.contains("verification                      ok: 32 chunks"), "{stdout}");

    // The read scenarios fetch from the same container (their own prefixes) and verify.
    for scenario in ["fan-out-read", "fan-in-read"] {
        let mut args = vec!["run", scenario, "--mode", "offload", "--size", "1m", "--chunk", "128k"];
        args.extend(["--nodes", "2", "--blob", &blob, "--quiet"]);
        args.extend(common);
        let (status, stdout, stderr) = dpukit(&args, &[], dir.path());
        assert_eq!(status, 0, "{scenario}: {stderr}");
        assert!(stdout.contains("verification                      ok: "), "{scenario}: {stdout}");
        assert!(stdout.contains("[emulator]"), "{scenario}: {stdout}");
    }

    // The endpoint and emulator switch come from the run's record; a flag changes one option.
    let args = vec!["copy", "--work-dir", "wd", "--quiet", "--blob-retries", "2"];
    let (status, stdout, stderr) = dpukit(&args, &[], dir.path());
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains("32 acknowledged chunks, 32 already copied, 0 uploaded now (0 bytes) to ")
            && stdout.contains(&format!("{blob}/fan-out-write-host-seed1")),
        "{stdout}"
    );
}
