//! Runs under MPI (feature `mpi`; needs OpenMPI's `mpirun`): each rank is one node.
//!
//! - Equivalence: on the same seed, `mpirun -n 4 dpukit run SCENARIO` produces the same
//!   manifests (chunks, checksums, stored bytes) as one process with `--nodes 4`, for each
//!   scenario in host and offload mode; peer serving moves the same bytes between ranks as
//!   between threads, and the blob tier's egress is the same.
//! - `compare` under MPI writes one comparison for the cluster, per-rank times included.
//! - Failure: a rank that fails (here: a file size limit on one rank, mid-write) ends the
//!   job with one line naming the rank; no result is written; every chunk any rank
//!   acknowledged before the abort still verifies.
//! - An Azure blob tier (Azurite, when `DPUKIT_AZURITE_URL` is set): every rank copies to
//!   the same container and the one result counts every rank's copy.
#![cfg(feature = "mpi")]

#[path = "../host/tests/common/azurite.rs"]
mod azurite;
use azurite::tools;

use dpukit_host::tier::{verify, LocalTier, LocalTierConfig, Manifest};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// 4 ranks x 4 MiB in 256 KiB chunks: a few seconds per run in a debug build, oversubscribed.
const SMALL: &[&str] =
    &["--size", "4m", "--chunk", "256k", "--seed", "11", "--kv-requests", "20", "--kv-block-tokens", "1"];

fn mpirun(ranks: u32) -> Command {
    let mut c = Command::new("mpirun");
    // Allowed as root (CI runs as root); harmless otherwise.
    c.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    c.args(["--oversubscribe", "-n", &ranks.to_string()]);
    c
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn extra(doc: &Value, name: &str) -> Option<f64> {
    doc["extra"].as_array()?.iter().find(|e| e[0] == name).and_then(|e| e[1]["value"].as_f64())
}

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/result-schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

/// Every acknowledged chunk of every node directory under `run_dir` (shard, index,
/// offset, stored length, CRC32C), after checking each reads back and verifies.
fn verified_chunks(run_dir: &Path, nodes: u32) -> Vec<(String, u64, u64, u64, u32)> {
    let mut all = Vec::new();
    for node in 0..nodes {
        let dir = run_dir.join(format!("node{node:04}"));
        let Ok(state) = Manifest::load(dir.join("manifest.jsonl")) else { continue };
        let mut local =
            LocalTier::open(&dir, LocalTierConfig { buffer_size_bytes: 1 << 20, ..Default::default() })
                .expect("the local tier opens");
        let report = verify(&mut local, &state);
        assert!(
            report.is_clean(),
            "node {node}: acknowledged chunks missing {:?} or corrupt {:?}",
            report.missing,
            report.corrupt
        );
        for e in state.chunks.values() {
            let r = &e.record;
            all.push((r.shard.clone(), r.chunk_index, r.offset_bytes, r.stored_len_bytes, r.crc32c));
        }
    }
    all.sort();
    all
}

#[test]
fn four_ranks_produce_the_manifests_of_one_process_with_four_nodes() {
    if !tools::available(
        "four_ranks_produce_the_manifests_of_one_process_with_four_nodes",
        "mpirun (Debian package `openmpi-bin`)",
        tools::on_path("mpirun"),
    ) {
        return;
    }
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for scenario in ["fan-out-write", "fan-out-read", "fan-in-read", "kv-cache"] {
        for mode in ["host", "offload"] {
            let what = format!("{scenario} {mode}");
            let args = |work: &str, out: &str| -> Vec<String> {
                let mut a: Vec<String> = ["run", scenario, "--mode", mode, "--quiet", "--readers", "2"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                a.extend(SMALL.iter().map(|s| s.to_string()));
                a.extend([
                    "--work-dir".into(),
                    d.join(work).display().to_string(),
                    "--out".into(),
                    out.into(),
                ]);
                a
            };
            check(
                mpirun(4)
                    .arg(env!("CARGO_BIN_EXE_dpukit"))
                    .args(args("mpi", "mpi.json"))
                    .current_dir(d)
                    .output()
                    .unwrap(),
                &format!("mpirun -n 4 {what}"),
            );
            check(
                Command::new(env!("CARGO_BIN_EXE_dpukit"))
                    .args(args("one", "one.json"))
                    .args(["--nodes", "4"])
                    .current_dir(d)
                    .output()
                    .unwrap(),
                &format!("one process {what}"),
            );
            let (m, o) = (read(&d.join("mpi.json")), read(&d.join("one.json")));
            let errors: Vec<String> =
                v.iter_errors(&m).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{what}: MPI result does not match the schema: {errors:?}");
            for figure in
                ["manifest_digest", "manifest_chunks", "stored_bytes", "peer_bytes", "blob_egress_bytes"]
            {
                assert_eq!(extra(&m, figure), extra(&o, figure), "{what}: {figure}");
            }
            assert!(extra(&m, "manifest_chunks").unwrap() > 0.0, "{what}: no chunks");
            assert_eq!(m["bytes"], o["bytes"], "{what}");
            assert_eq!(m["verification"]["ok"], true, "{what}");
            assert_eq!(m["scenario"]["nodes"], 4, "{what}: the node count is the world size");
            let per = &m["per_node"];
            assert_eq!(
                (per["transport"].as_str(), per["processes"].as_u64()),
                (Some("mpi"), Some(4)),
                "{what}"
            );
            let working = if scenario == "fan-in-read" { 2 } else { 4 };
            assert_eq!(per["nodes"].as_array().unwrap().len(), working, "{what}");
            assert_eq!(o["per_node"]["transport"], "threads", "{what}");
            if scenario == "fan-out-write" {
                let run_dir = format!("fan-out-write-{mode}");
                let chunks = verified_chunks(&d.join("mpi").join(&run_dir), 4);
                assert_eq!(chunks.len(), 64, "{what}: 4 nodes x 16 chunks acknowledged");
                assert_eq!(
                    chunks,
                    verified_chunks(&d.join("one").join(&run_dir), 4),
                    "{what}: per-node manifests"
                );
            }
        }
    }
}

#[test]
fn peer_serving_between_ranks_cuts_blob_egress_and_compare_covers_the_cluster() {
    if !tools::available(
        "peer_serving_between_ranks_cuts_blob_egress_and_compare_covers_the_cluster",
        "mpirun (Debian package `openmpi-bin`)",
        tools::on_path("mpirun"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |extra_args: &[&str], out: &str| {
        check(
            mpirun(4)
                .arg(env!("CARGO_BIN_EXE_dpukit"))
                .args(["run", "fan-out-read", "--mode", "host", "--quiet", "--out", out])
                .args(SMALL)
                .args(extra_args)
                .current_dir(d)
                .output()
                .unwrap(),
            &format!("fan-out-read {extra_args:?}"),
        );
        read(&d.join(out))
    };
    let peers = run(&[], "peers.json");
    let no_peers = run(&["--no-peers"], "no-peers.json");
    let shifted = run(&["-C"], "shifted.json");
    let model = extra(&peers, "stored_bytes").unwrap_or_else(|| extra(&peers, "blob_egress_bytes").unwrap());
    // With peers the blob tier serves the model once; each other rank gets it over MPI.
    assert_eq!(extra(&peers, "blob_egress_bytes").unwrap(), model);
    assert_eq!(extra(&peers, "peer_bytes").unwrap(), 3.0 * model);
    // Without, every rank fetches it from the blob tier.
    assert_eq!(extra(&no_peers, "blob_egress_bytes").unwrap(), 4.0 * model);
    assert_eq!(extra(&no_peers, "peer_bytes").unwrap(), 0.0);
    // IOR's -C moves who reads what first, never what is read.
    assert_eq!(extra(&shifted, "manifest_digest"), extra(&peers, "manifest_digest"));
    assert_eq!(shifted["scenario"]["read_shift"], 1);

    let out = check(
        mpirun(4)
            .arg(env!("CARGO_BIN_EXE_dpukit"))
            .args(["compare", "fan-out-read", "--quiet", "--out-dir", "cmp"])
            .args(SMALL)
            .current_dir(d)
            .output()
            .unwrap(),
        "compare under mpirun",
    );
    // One table for the cluster, from rank 0 only, with the per-rank spread.
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(table.matches("node time min/median/max").count(), 1, "{table}");
    assert!(table.contains("4 (4 MPI ranks)") && table.contains("stragglers"), "{table}");
    let c = read(&d.join("cmp/comparison.json"));
    assert_eq!(c["equivalent"], true);
    for mode in ["host", "offload"] {
        assert_eq!(c[mode]["per_node"]["processes"], 4, "{mode}");
        assert_eq!(c[mode]["per_node"]["nodes"].as_array().unwrap().len(), 4, "{mode}");
    }
}

#[test]
fn a_failing_rank_aborts_the_job_with_one_line_and_acknowledged_chunks_verify() {
    if !tools::available(
        "a_failing_rank_aborts_the_job_with_one_line_and_acknowledged_chunks_verify",
        "mpirun (Debian package `openmpi-bin`)",
        tools::on_path("mpirun"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    let bin = env!("CARGO_BIN_EXE_dpukit");
    let run = format!(
        "run fan-out-write --mode host --quiet --size 8m --chunk 256k --batch 2 --queue-depth 4 --work-dir {} --out {}",
        work.display(),
        d.join("r.json").display()
    );
    // Rank 3 runs with a file size limit of 2048 blocks (1 or 2 MiB by the shell's block
    // size), as a quota would impose: its local tier refuses a write part-way through its
    // shard (SIGXFSZ ignored, so the write fails with EFBIG instead of killing the
    // process). The other ranks run normally. Paths here have no spaces (a temp dir).
    // Two batches in flight (queue depth 4, batch 2): a batch is written only once the
    // one two before it is acknowledged, so the batch that meets the limit comes after
    // an acknowledged one. With more in flight, every batch that fits can still be
    // unacknowledged (written, its sync pending) when a later one fails.
    let limited = format!("trap '' XFSZ; ulimit -f 2048; exec {bin} {run}");
    let out = mpirun(3)
        .arg(bin)
        .args(run.split(' '))
        .args([":", "-n", "1", "sh", "-c", &limited])
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job succeeded despite a failing rank:\n{stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("dpukit:")).collect();
    assert_eq!(ours.len(), 1, "one line from dpukit, naming the rank:\n{stderr}");
    assert!(ours[0].starts_with("dpukit: rank 3: "), "{}", ours[0]);
    assert!(ours[0].contains("large") || ours[0].contains("EFBIG"), "names the error: {}", ours[0]);
    assert!(!d.join("r.json").exists(), "a result was written for a failed job");
    // Every chunk acknowledged before the abort, on any rank, reads back and verifies;
    // rank 3 acknowledged some before its limit.
    let chunks = verified_chunks(&work.join("fan-out-write-host"), 4);
    assert!(chunks.iter().any(|c| c.0 == "node0003"), "rank 3 acknowledged nothing before failing");
}

#[test]
fn ranks_given_different_options_are_refused() {
    if !tools::available(
        "ranks_given_different_options_are_refused",
        "mpirun (Debian package `openmpi-bin`)",
        tools::on_path("mpirun"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = env!("CARGO_BIN_EXE_dpukit");
    let args =
        ["run", "kv-cache", "--mode", "host", "--quiet", "--kv-requests", "5", "--kv-block-tokens", "1"];
    let out = mpirun(1)
        .arg(bin)
        .args(args)
        .args([":", "-n", "1", bin])
        .args(args)
        .args(["--seed", "99"])
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ranks with different seeds ran:\n{stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("dpukit:")).collect();
    assert_eq!(ours.len(), 1, "{stderr}");
    assert!(ours[0].starts_with("dpukit: rank 1: ") && ours[0].contains("different scenario"), "{}", ours[0]);
    assert!(!d.join("dpukit-result.json").exists());
}

#[test]
fn ranks_copy_to_one_azure_container_and_the_result_counts_them_all() {
    if !tools::available(
        "ranks_copy_to_one_azure_container_and_the_result_counts_them_all",
        "mpirun (Debian package `openmpi-bin`)",
        tools::on_path("mpirun"),
    ) {
        return;
    }
    let Some(url) = azurite::shared_url("ranks_copy_to_one_azure_container") else { return };
    let container = azurite::container_name("mpi-copy");
    azurite::create_container(&url, &container);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let blob = format!("azure://{container}/runs");
    check(
        mpirun(2)
            .arg(env!("CARGO_BIN_EXE_dpukit"))
            .args(["run", "fan-out-write", "--mode", "host", "--quiet", "--blob", &blob, "--blob-emulator"])
            .args(["--blob-endpoint", &url, "--work-dir", work.to_str().unwrap()])
            .args(["--out", dir.path().join("r.json").to_str().unwrap()])
            .args(SMALL)
            .output()
            .unwrap(),
        "mpirun -n 2 fan-out-write to Azurite",
    );
    let doc = read(&dir.path().join("r.json"));
    assert!(validator().is_valid(&doc));
    assert_eq!(doc["blob_tier"]["kind"], "azure");
    assert_eq!(doc["blob_tier"]["emulator"], true);
    // 2 ranks x 4 MiB in 256 KiB chunks: every chunk of both ranks reached the container.
    assert_eq!(extra(&doc, "manifest_chunks"), Some(32.0));
    assert_eq!(extra(&doc, "blob_copied_chunks"), Some(32.0));
    assert!(extra(&doc, "blob_copy_lag_p99").unwrap() >= extra(&doc, "blob_copy_lag_p50").unwrap());
    // Both ranks' manifests mark every chunk copied: nothing is left for `dpukit copy`.
    let out = check(
        std::process::Command::new(env!("CARGO_BIN_EXE_dpukit"))
            .args(["copy", "--work-dir", work.to_str().unwrap(), "--blob-endpoint", &url])
            .output()
            .unwrap(),
        "dpukit copy",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("32 acknowledged chunks, 32 already copied, 0 uploaded now"), "{text}");
}
