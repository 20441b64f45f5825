//! Write pipeline of the local tier, on io_uring and on the pread/pwrite fallback: several
//! batches in flight read back byte-identical; a batch is acknowledged only after the sync
//! that covers all of its writes completed (checked on the pipeline's event log, not on
//! timing); a failing batch (EFBIG under RLIMIT_FSIZE, in a child process) surfaces with the
//! file's path and neither it nor any later batch is acknowledged, in the local tier or in
//! the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use dpukit_host::tier::{
    AckedWriter, Backend, BatchId, Durability, IoEngine, LocalTier, LocalTierConfig, Manifest,
    OwnedChunkWrite, PipelineEvent, TierError,
};
use dpukit_kernels::crc32c::crc32c;

#[path = "common/local_tier.rs"]
mod local_tier;
use local_tier::{allow_new_files, config, deny_new_files, open_or_report, pattern};

fn backend_name(portable: bool) -> &'static str {
    if portable {
        "psync"
    } else {
        "io_uring"
    }
}

/// Opens a tier, falling back to buffered I/O where the filesystem refuses O_DIRECT.
fn open(dir: &Path, cfg: LocalTierConfig) -> LocalTier {
    let tier = open_or_report(dir, cfg.clone());
    if cfg.engine != IoEngine::Psync && tier.backend() != Backend::IoUring {
        eprintln!("NOTE: io_uring unavailable on this kernel; the io_uring case ran on the fallback");
    }
    tier
}

/// One planned batch: shard and `(offset, bytes)` chunks.
type Plan = Vec<(&'static str, Vec<(u64, Bytes)>)>;

/// Batches over two shards, chunks of mixed sizes (some split across pool buffers),
/// 4096-aligned so the same plan serves O_DIRECT.
fn plan(batches: usize) -> Plan {
    let mut next_offset = [0u64; 2];
    (0..batches)
        .map(|b| {
            let s = b % 2;
            let chunks = (0..1 + b % 4)
                .map(|c| {
                    let len = 4096 * (1 + (b * 7 + c * 3) % 40);
                    let offset = next_offset[s];
                    next_offset[s] += len as u64 + 4096;
                    (offset, Bytes::from(pattern((b * 16 + c) as u64, len)))
                })
                .collect();
            (["even", "odd"][s], chunks)
        })
        .collect()
}

/// Submits every batch with at most `depth` in flight, collecting acks in order; returns the
/// pipeline's event log.
fn run_plan(tier: &mut LocalTier, depth: usize, plan: &Plan) -> Vec<PipelineEvent> {
    let mut pipe = tier.write_pipeline(depth).unwrap();
    pipe.log_events(100_000);
    let mut submitted: Vec<BatchId> = Vec::new();
    let mut acked = Vec::new();
    let mut max_in_flight = 0;
    for (shard, chunks) in plan {
        if pipe.is_full() {
            acked.push(pipe.wait().unwrap().expect("a batch is in flight"));
        }
        submitted.push(pipe.submit(shard, chunks.clone()).unwrap());
        max_in_flight = max_in_flight.max(pipe.in_flight());
        if submitted.len().is_multiple_of(7) {
            // Now and then, collect whatever is already durable without blocking.
            while let Some(done) = pipe.poll().unwrap() {
                acked.push(done);
            }
        }
    }
    while let Some(done) = pipe.wait().unwrap() {
        acked.push(done);
    }
    assert!(pipe.wait().unwrap().is_none());
    assert_eq!(max_in_flight, depth, "the pipeline held {depth} batches at once");
    let ids: Vec<BatchId> = acked.iter().map(|a| a.batch).collect();
    assert_eq!(ids, submitted, "every batch acknowledged once, in submission order");
    for (done, (shard, chunks)) in acked.iter().zip(plan) {
        assert_eq!(done.shard, *shard);
        let want: Vec<(u64, u64)> = chunks.iter().map(|(o, d)| (*o, d.len() as u64)).collect();
        let got: Vec<(u64, u64)> = done.acks.iter().map(|a| (a.offset_bytes, a.len_bytes)).collect();
        assert_eq!(got, want, "batch {}: one ack per chunk, in order", done.batch);
    }
    let (events, dropped) = pipe.take_events();
    assert_eq!(dropped, 0);
    events
}

fn read_back(tier: &mut LocalTier, plan: &Plan) {
    for (b, (shard, chunks)) in plan.iter().enumerate() {
        for (offset, data) in chunks {
            let got = tier.read_chunk(shard, *offset, data.len()).unwrap();
            assert!(got[..] == data[..], "batch {b}: {shard} at {offset} differs");
        }
    }
}

fn pipelined_round_trip(portable: bool, direct: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = open(dir.path(), config(portable, direct));
    if tier.direct() && tier.backend() == Backend::IoUring && !tier.buffers_registered() {
        eprintln!("NOTE: buffer registration refused (RLIMIT_MEMLOCK?); O_DIRECT writes use plain WRITE");
    }
    let plan = plan(24);
    run_plan(&mut tier, 4, &plan);
    read_back(&mut tier, &plan);
    // A fresh tier (no cached files, other backend) sees the same bytes.
    drop(tier);
    let mut again = open(dir.path(), config(!portable, direct));
    read_back(&mut again, &plan);
}

#[test]
fn pipelined_round_trip_io_uring_buffered() {
    pipelined_round_trip(false, false);
}

#[test]
fn pipelined_round_trip_io_uring_direct() {
    pipelined_round_trip(false, true);
}

#[test]
fn pipelined_round_trip_fallback_buffered() {
    pipelined_round_trip(true, false);
}

#[test]
fn pipelined_round_trip_fallback_direct() {
    pipelined_round_trip(true, true);
}

/// Checks the ordering rule on an event log: each acknowledged batch had all of its writes
/// completed before a sync covering it was pushed, and that sync completed, successfully,
/// before the batch's acks were handed out. Returns how many times a later batch finished
/// its writes while an earlier batch's sync was in flight (the overlap the pipeline is for).
fn check_ack_order(events: &[PipelineEvent], durability: Durability) -> usize {
    let mut written: BTreeSet<BatchId> = BTreeSet::new();
    let mut sync_of: BTreeMap<BatchId, u64> = BTreeMap::new();
    let mut syncs_in_flight: BTreeMap<u64, Vec<BatchId>> = BTreeMap::new();
    let mut synced: BTreeSet<BatchId> = BTreeSet::new();
    let mut acked: Vec<BatchId> = Vec::new();
    let mut overlap = 0;
    for event in events {
        match event {
            PipelineEvent::Submitted(_) | PipelineEvent::Failed(_) => {}
            PipelineEvent::Written(b) => {
                assert!(written.insert(*b), "batch {b} written twice");
                if syncs_in_flight.values().flatten().any(|s| s < b) {
                    overlap += 1;
                }
            }
            PipelineEvent::SyncPushed { sync, covers } => {
                assert_eq!(durability, Durability::Fdatasync, "no syncs under O_DSYNC");
                assert!(!covers.is_empty());
                for b in covers {
                    assert!(written.contains(b), "sync {sync} pushed before batch {b}'s writes completed");
                    assert!(sync_of.insert(*b, *sync).is_none(), "batch {b} covered by two syncs");
                }
                syncs_in_flight.insert(*sync, covers.clone());
            }
            PipelineEvent::SyncDone { sync, ok } => {
                let covers = syncs_in_flight.remove(sync).expect("a sync completes once, after its push");
                assert!(ok, "sync {sync} failed");
                synced.extend(covers);
            }
            PipelineEvent::Acked(b) => {
                assert!(written.contains(b), "batch {b} acknowledged before its writes completed");
                if durability == Durability::Fdatasync {
                    assert!(synced.contains(b), "batch {b} acknowledged before its sync completed");
                }
                assert!(acked.last().is_none_or(|last| last < b), "acks out of order at batch {b}");
                acked.push(*b);
            }
        }
    }
    assert!(syncs_in_flight.is_empty(), "syncs still in flight after the last ack");
    assert!(!acked.is_empty());
    overlap
}

fn acks_follow_their_sync(portable: bool, durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = open(dir.path(), LocalTierConfig { durability, ..config(portable, false) });
    let plan = plan(40);
    let events = run_plan(&mut tier, 6, &plan);
    let overlap = check_ack_order(&events, durability);
    eprintln!(
        "{} {}: {} events; a later batch completed its writes while an earlier sync ran {overlap} times",
        backend_name(portable),
        durability.as_str(),
        events.len()
    );
    read_back(&mut tier, &plan);
}

#[test]
fn acks_follow_their_sync_io_uring() {
    acks_follow_their_sync(false, Durability::Fdatasync);
}

#[test]
fn acks_follow_their_sync_fallback() {
    acks_follow_their_sync(true, Durability::Fdatasync);
}

#[test]
fn acks_follow_their_writes_under_dsync() {
    acks_follow_their_sync(false, Durability::Dsync);
    acks_follow_their_sync(true, Durability::Dsync);
}

#[test]
fn ack_order_check_catches_an_early_ack() {
    // The checker itself must be able to fail: an ack between push and completion of its sync.
    let dir = tempfile::tempdir().unwrap();
    let mut tier = open(dir.path(), config(true, false));
    let mut pipe = tier.write_pipeline(1).unwrap();
    let b = pipe.submit("s", vec![(0, Bytes::from_static(b"x"))]).unwrap();
    let events = vec![
        PipelineEvent::Submitted(b),
        PipelineEvent::Written(b),
        PipelineEvent::SyncPushed { sync: 0, covers: vec![b] },
        PipelineEvent::Acked(b),
        PipelineEvent::SyncDone { sync: 0, ok: true },
    ];
    let caught = std::panic::catch_unwind(|| check_ack_order(&events, Durability::Fdatasync));
    assert!(caught.is_err(), "an ack before its sync completed must be caught");
}

#[test]
fn full_pipeline_refuses_and_carries_on() {
    for portable in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut tier = open(dir.path(), config(portable, false));
        let mut pipe = tier.write_pipeline(2).unwrap();
        let data = Bytes::from(pattern(1, 8192));
        pipe.submit("s", vec![(0, data.clone())]).unwrap();
        pipe.submit("s", vec![(8192, data.clone())]).unwrap();
        assert!(pipe.is_full());
        let err = pipe.submit("s", vec![(16384, data.clone())]).unwrap_err();
        assert!(matches!(err, TierError::PipelineFull { max_batches_in_flight: 2 }), "{err}");
        assert_eq!(pipe.wait().unwrap().unwrap().batch.get(), 0);
        // Refused at the boundary: nothing written, no id taken, the pipeline carries on.
        let err = pipe.submit("../bad", vec![(0, data.clone())]).unwrap_err();
        assert!(matches!(err, TierError::BadShardName { .. }), "{err}");
        let third = pipe.submit("s", vec![(16384, data.clone())]).unwrap();
        assert_eq!(third.get(), 2);
        assert_eq!(pipe.wait().unwrap().unwrap().batch.get(), 1);
        assert_eq!(pipe.wait().unwrap().unwrap().batch, third);
        assert!(pipe.wait().unwrap().is_none());
        drop(pipe);
        assert!(tier.write_pipeline(0).is_err() && tier.write_pipeline(65).is_err());
    }
}

#[test]
fn dropping_a_pipeline_reaps_it_and_leaking_one_poisons_the_tier() {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = open(dir.path(), config(false, false));
    let data = Bytes::from(pattern(2, 300 << 10));
    {
        let mut pipe = tier.write_pipeline(3).unwrap();
        for i in 0..3u64 {
            pipe.submit("s", vec![(i * (512 << 10), data.clone())]).unwrap();
        }
        // Dropped with batches in flight: every operation is reaped, nothing acknowledged.
    }
    assert!(tier.write_chunks("s", &[(0, &data[..])]).is_ok(), "the tier is usable after a drop");

    let mut pipe = tier.write_pipeline(2).unwrap();
    pipe.submit("s", vec![(0, data.clone())]).unwrap();
    std::mem::forget(pipe);
    let err = tier.read_chunk("s", 0, 10).unwrap_err();
    assert!(matches!(err, TierError::Poisoned { .. }), "{err}");
    assert!(tier.write_pipeline(1).is_err());
}

#[test]
fn a_shard_file_that_cannot_be_created_is_refused_with_its_path() {
    for portable in [false, true] {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("tier");
        std::fs::create_dir(&dir).unwrap();
        let mut tier = open(&dir, config(portable, false));
        let data = Bytes::from(pattern(3, 4096));
        tier.write_chunks("existing", &[(0, &data[..])]).unwrap();
        if !deny_new_files(&dir) {
            allow_new_files(&dir);
            eprintln!("NOTE: could not make {} refuse new files; test not run", dir.display());
            return;
        }
        let mut pipe = tier.write_pipeline(4).unwrap();
        let first = pipe.submit("existing", vec![(4096, data.clone())]);
        let refused = pipe.submit("new", vec![(0, data.clone())]);
        let after = pipe.submit("existing", vec![(8192, data.clone())]);
        let acked: Vec<u64> = std::iter::from_fn(|| pipe.wait().unwrap()).map(|a| a.batch.get()).collect();
        drop(pipe);
        allow_new_files(&dir);
        let new_path = dir.join("new.shard");
        let err = refused.expect_err("creating a shard file in a locked directory must fail");
        assert!(matches!(&err, TierError::PermissionDenied { path, .. } if *path == new_path), "{err}");
        assert_eq!(err.to_string(), format!("create shard file {}: permission denied", new_path.display()));
        assert_eq!((first.unwrap().get(), after.unwrap().get()), (0, 1), "the refused batch took no id");
        assert_eq!(
            acked,
            vec![0, 1],
            "{}: batches around the refused one are acknowledged",
            backend_name(portable)
        );
    }
}

// ---------------------------------------------------------------------------------------
// A failing batch, under RLIMIT_FSIZE in a child process (the limit is per process).

const CHILD_ENV: &str = "DPUKIT_PIPELINE_FSIZE_CHILD";
/// Chunks of 64 KiB, 4 per batch, back to back: batch `b` covers [b, b+1) x 256 KiB.
const CHUNK_BYTES: usize = 64 << 10;
const CHUNKS_PER_BATCH: usize = 4;
const BATCHES: usize = 8;
/// Batches 0..=3 fit; batch 4's first chunk fits, its second crosses the limit.
const FSIZE_LIMIT_BYTES: u64 = (1 << 20) + (64 << 10);

fn fsize_plan() -> Vec<Vec<(u64, Bytes)>> {
    (0..BATCHES)
        .map(|b| {
            (0..CHUNKS_PER_BATCH)
                .map(|c| {
                    let i = b * CHUNKS_PER_BATCH + c;
                    ((i * CHUNK_BYTES) as u64, Bytes::from(pattern(i as u64, CHUNK_BYTES)))
                })
                .collect()
        })
        .collect()
}

/// The child's body: runs only when re-executed with `DPUKIT_PIPELINE_FSIZE_CHILD` set to
/// `<dir>;<portable>;<direct>;<acked-writer>`. Prints one line per outcome.
#[test]
#[ignore = "a child process's entry point: the failing-batch tests run it"]
fn fsize_child_entry() {
    let Ok(args) = std::env::var(CHILD_ENV) else { return };
    let parts: Vec<&str> = args.split(';').collect();
    let (dir, portable, direct, acked_writer) =
        (Path::new(parts[0]), parts[1] == "1", parts[2] == "1", parts[3] == "1");
    // SAFETY: setting a signal disposition to SIG_IGN has no handler to be unsafe in; writes
    // past the limit then fail with EFBIG instead of killing the process with SIGXFSZ.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let mut tier = open(dir, LocalTierConfig { iodepth: 8, ..config(portable, direct) });
    println!("BACKEND {} direct={}", tier.backend().as_str(), tier.direct());
    let mut manifest = Manifest::open(dir.join("manifest.jsonl")).unwrap();
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_FSIZE,
        FSIZE_LIMIT_BYTES,
        FSIZE_LIMIT_BYTES,
    )
    .expect("setrlimit RLIMIT_FSIZE");
    let plan = fsize_plan();
    if acked_writer {
        let mut writer = AckedWriter::new(&mut tier, &mut manifest, BATCHES).unwrap();
        for (b, chunks) in plan.iter().enumerate() {
            let owned = chunks
                .iter()
                .enumerate()
                .map(|(c, (offset, data))| OwnedChunkWrite {
                    chunk_index: (b * CHUNKS_PER_BATCH + c) as u64,
                    offset_bytes: *offset,
                    stored: data.clone(),
                    uncompressed_len_bytes: data.len() as u64,
                    compression: "none".into(),
                    crc32c: crc32c(data),
                })
                .collect();
            if let Err(e) = writer.submit("rank0", owned) {
                println!("REFUSED {b} {e}");
            }
        }
        loop {
            match writer.wait() {
                Ok(Some(done)) => println!("ACKED {}", done.batch),
                Ok(None) => break,
                Err(e) => {
                    println!("ERROR {e}");
                    break;
                }
            }
        }
        match writer.wait() {
            Err(e) => println!("AFTER {e}"),
            Ok(r) => println!("AFTER ok {r:?}"),
        }
        return;
    }
    let mut pipe = tier.write_pipeline(BATCHES).unwrap();
    for (b, chunks) in plan.iter().enumerate() {
        // The portable backend finds the failure in `submit` itself: later submits are refused.
        if let Err(e) = pipe.submit("rank0", chunks.clone()) {
            println!("REFUSED {b} {e}");
        }
    }
    loop {
        match pipe.wait() {
            Ok(Some(done)) => println!("ACKED {}", done.batch),
            Ok(None) => break,
            Err(e) => {
                println!("ERROR {e}");
                break;
            }
        }
    }
    match pipe.wait() {
        Err(e) => println!("AFTER {e}"),
        Ok(r) => println!("AFTER ok {r:?}"),
    }
    match pipe.submit("rank0", plan[0].clone()) {
        Err(e) => println!("SUBMIT {e}"),
        Ok(b) => println!("SUBMIT ok {b}"),
    }
}

fn failing_batch(portable: bool, direct: bool, acked_writer: bool) {
    let dir = tempfile::tempdir().unwrap();
    let arg = format!(
        "{};{};{};{}",
        dir.path().display(),
        u8::from(portable),
        u8::from(direct),
        u8::from(acked_writer)
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["fsize_child_entry", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, arg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    // The harness prints "test fsize_child_entry ... " before the child's first line.
    let line =
        |tag: &str| stdout.lines().find_map(|l| l.find(tag).map(|i| l[i + tag.len()..].trim().to_string()));
    let backend = line("BACKEND").expect("the child ran");
    let acked: Vec<u64> =
        stdout.lines().filter_map(|l| l.strip_prefix("ACKED ")).map(|n| n.parse().unwrap()).collect();
    let error = line("ERROR").unwrap_or_else(|| panic!("{backend}: no error reported:\n{stdout}"));
    let after = line("AFTER").unwrap();
    let shard_path = dir.path().join("rank0.shard").display().to_string();
    eprintln!("{backend} acked-writer={acked_writer}: acked {acked:?}; error: {error}; then: {after}");

    assert_eq!(acked, vec![0, 1, 2, 3], "{backend}: the batches before the failing one, and only those");
    assert!(error.contains(&shard_path), "{backend}: the error names the file: {error}");
    assert!(error.contains("File too large"), "{backend}: EFBIG: {error}");
    assert!(after.contains("stopped at batch 4") && after.contains(&shard_path), "{backend}: {after}");
    for refused in stdout.lines().filter_map(|l| l.strip_prefix("REFUSED ")) {
        let b: usize = refused.split(' ').next().unwrap().parse().unwrap();
        assert!(
            b > 4 && refused.contains("stopped at batch 4"),
            "{backend}: only later batches refused: {refused}"
        );
    }
    if !acked_writer {
        let submit = line("SUBMIT").unwrap();
        assert!(submit.contains("stopped at batch 4"), "{backend}: a failed pipeline refuses work: {submit}");
    }

    // The bytes of the acknowledged batches are there; the manifest records exactly them.
    let mut tier = open(dir.path(), config(portable, false));
    let plan = fsize_plan();
    for chunks in &plan[..4] {
        for (offset, data) in chunks {
            assert!(tier.read_chunk("rank0", *offset, data.len()).unwrap()[..] == data[..]);
        }
    }
    let state = Manifest::load(dir.path().join("manifest.jsonl")).unwrap();
    let recorded: BTreeSet<u64> = state.chunks.values().map(|e| e.record.chunk_index).collect();
    if acked_writer {
        let want: BTreeSet<u64> = (0..(4 * CHUNKS_PER_BATCH) as u64).collect();
        assert_eq!(recorded, want, "{backend}: the manifest holds the acknowledged chunks only");
    } else {
        assert!(recorded.is_empty());
    }
}

#[test]
fn failing_batch_io_uring_buffered() {
    failing_batch(false, false, false);
}

#[test]
fn failing_batch_io_uring_direct() {
    failing_batch(false, true, false);
}

#[test]
fn failing_batch_fallback_buffered() {
    failing_batch(true, false, false);
}

#[test]
fn failing_batch_fallback_direct() {
    failing_batch(true, true, false);
}

#[test]
fn failing_batch_never_reaches_the_manifest() {
    failing_batch(false, false, true);
    failing_batch(true, false, true);
}
