//! The blob tier on a real FUSE mount (bindfs over a directory, the way a BlobFuse2 or
//! JuiceFS mount is a directory served by a daemon): a fan-out write copies its checkpoint
//! through the mount and the fan-in read reads it back; both verify, the result records the
//! mount (`fuse`, its source, its mount point, fsync taken) and says in a note what a FUSE
//! tier means for the figures. Needs bindfs (scripts/install-deps.sh) and /dev/fuse; skipped
//! with a printed reason where the machine has no /dev/fuse or refuses the mount.

#[path = "../host/tests/common/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

fn dpukit(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(args)
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

/// A bindfs mount, unmounted when dropped (also when the test fails).
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("fusermount").arg("-u").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

#[test]
fn a_checkpoint_goes_through_a_fuse_mount_and_the_result_says_so() {
    let test = "a_checkpoint_goes_through_a_fuse_mount";
    if !Path::new("/dev/fuse").exists() {
        eprintln!("{test}: skipped: this machine has no /dev/fuse");
        return;
    }
    if !tools::available(test, "bindfs", tools::on_path("bindfs")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, mnt) = (dir.path().join("src"), dir.path().join("mnt"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    let out = Command::new("bindfs").arg(&src).arg(&mnt).output().expect("run bindfs");
    if !out.status.success() {
        eprintln!("{test}: skipped: bindfs could not mount: {}", String::from_utf8_lossy(&out.stderr).trim());
        return;
    }
    let _mount = Mount(mnt.clone());
    let blob = mnt.to_str().unwrap();

    let args = ["run", "fan-out-write", "--mode", "host", "--size", "4m", "--chunk", "256k", "--nodes", "2"];
    let mut args = args.to_vec();
    args.extend(["--blob", blob, "--quiet", "--out", "w.json"]);
    let (status, stdout, stderr) = dpukit(&args, dir.path());
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("verification                      ok: 32 chunks"), "{stdout}");
    assert!(stdout.contains("blob tier: a FUSE mount (fuse, "), "{stdout}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("w.json")).unwrap()).unwrap();
    let mount = &result["blob_tier"]["mount"];
    assert_eq!(mount["fstype"], "fuse", "{mount}");
    assert_eq!(mount["mount_point"], mnt.canonicalize().unwrap().to_str().unwrap(), "{mount}");
    assert_eq!(mount["fsync"], true, "{mount}");
    // The objects went through the mount into the directory under it.
    let stored = walk(&src.join("fan-out-write-host-seed1"));
    assert_eq!(stored, 32, "objects under the bindfs source");

    let args = ["run", "fan-in-read", "--mode", "offload", "--size", "2m", "--chunk", "256k", "--nodes", "2"];
    let mut args = args.to_vec();
    args.extend(["--blob", blob, "--quiet"]);
    let (status, stdout, stderr) = dpukit(&args, dir.path());
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("verification                      ok: "), "{stdout}");
    assert!(stdout.contains("blob tier: a FUSE mount"), "{stdout}");
}

/// Files under `dir`, recursively.
fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}
