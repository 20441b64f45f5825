//! Acknowledged writes survive a crash: a fan-out write killed with SIGKILL at a seeded
//! random point leaves every chunk its manifests record present and valid.

use dpukit_host::tier::{verify, LocalTier, LocalTierConfig, Manifest};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kill_at(work: &std::path::Path, after: Duration, mode: &str) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args([
            "run",
            "fan-out-write",
            "--quiet",
            "--mode",
            mode,
            "--nodes",
            "2",
            "--size",
            "512m",
            "--bs",
            "1m",
        ])
        .args(["--compress", "lz4", "--batch", "4", "--out"])
        .arg(work.join("r.json"))
        .arg("--work-dir")
        .arg(work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dpukit runs");
    // Wait for the first acknowledgement, then kill `after` later.
    let manifest = work.join(format!("fan-out-write-{mode}")).join("node0000").join("manifest.jsonl");
    let start = Instant::now();
    while std::fs::metadata(&manifest).map_or(0, |m| m.len()) == 0 {
        assert!(start.elapsed() < Duration::from_secs(120), "no chunk acknowledged within 2 minutes");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before acknowledging a chunk");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(after);
    assert!(child.try_wait().unwrap().is_none(), "the run finished before the kill: make it bigger");
    // SIGKILL: no destructor, no flush, no cleanup runs.
    child.kill().unwrap();
    child.wait().unwrap();

    let mut acked = 0;
    let run_dir = work.join(format!("fan-out-write-{mode}"));
    for node in ["node0000", "node0001"] {
        let dir = run_dir.join(node);
        let state = Manifest::load(dir.join("manifest.jsonl")).expect("the manifest loads after a crash");
        let mut local =
            LocalTier::open(&dir, LocalTierConfig { buffer_size_bytes: 2 << 20, ..Default::default() })
                .expect("the local tier opens after a crash");
        let report = verify(&mut local, &state);
        assert!(
            report.is_clean(),
            "{node}: acknowledged chunks lost or corrupt after SIGKILL: missing {:?}, corrupt {:?}",
            report.missing,
            report.corrupt
        );
        acked += report.ok.len() as u64;
    }
    acked
}

#[test]
fn acknowledged_chunks_survive_sigkill() {
    // Seeded "random" kill points (xorshift), in both modes.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut total = 0;
    for (i, mode) in ["host", "offload", "host"].iter().enumerate() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let after = Duration::from_millis(x % 400);
        let work = tempfile::tempdir().unwrap();
        let acked = kill_at(work.path(), after, mode);
        eprintln!("kill {i} ({mode}) after {after:?}: {acked} acknowledged chunks verified");
        total += acked;
    }
    assert!(total > 0, "the kills came after some chunks were acknowledged");
}
