//! A blob service stopped in the middle of a fan-out write's copy, for every remote tier:
//! the run fails with one clear line; every chunk acknowledged locally still verifies
//! locally; every chunk the manifests record as copied is in the blob store and verifies
//! (key CRC32C and metadata); once the service is back, `resume_copy` uploads exactly the
//! chunks not marked copied, and a second resume uploads nothing.
//!
//! The stop comes from the copier itself, not from a timer: once 16 chunks are copied its
//! observer starts stopping the server (on a thread of its own: the observer runs between
//! the copier's uploads). Uploads in flight may still land; later ones fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dpukit_host::copy::{resume_copy, ResumeOptions};
use dpukit_host::result::Mode;
use dpukit_host::run::{run_scenario, RunOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_host::tier::{
    verify, BlobKey, BlobLocation, BlobOptions, BlobTier, CopierStats, LocalTier, LocalTierConfig, Manifest,
};
use dpukit_sim::profile::Profile;

const NODES: u32 = 2;
const CHUNKS_PER_NODE: u64 = 128;
const STOP_AFTER_COPIED: u64 = 16;

fn manifests(run_dir: &std::path::Path) -> Vec<(std::path::PathBuf, dpukit_host::tier::ManifestState)> {
    (0..NODES)
        .map(|n| {
            let dir = run_dir.join(format!("node{n:04}"));
            let state = Manifest::load(dir.join("manifest.jsonl")).unwrap();
            (dir, state)
        })
        .collect()
}

/// Runs a fan-out write to `blob` (a tier URL) with `options`, has `stop` called once 16
/// chunks are copied, checks the failure and what is durable where, calls `restart`, and
/// checks the resume.
pub fn stopped_mid_copy_then_resumed(
    blob: &str,
    options: BlobOptions,
    stop: impl Fn() + Send + Sync + 'static,
    restart: impl FnOnce(),
) {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
    spec.nodes = NODES;
    spec.chunk_size_bytes = 128 << 10;
    spec.object_size_bytes = CHUNKS_PER_NODE * (128 << 10);
    spec.work_dir = Some(tmp.path().join("wd"));
    spec.blob = Some(blob.into());
    spec.blob_options = options;
    let stop = Arc::new(stop);
    let stopping = Arc::new(AtomicBool::new(false));
    let stopper: Arc<Mutex<Option<std::thread::JoinHandle<()>>>> = Arc::new(Mutex::new(None));
    let observer_stopper = Arc::clone(&stopper);
    let observer = Arc::new(move |s: &CopierStats| {
        if s.copied_chunks >= STOP_AFTER_COPIED && !stopping.swap(true, Ordering::SeqCst) {
            let stop = Arc::clone(&stop);
            *observer_stopper.lock().unwrap() = Some(std::thread::spawn(move || stop()));
        }
    });
    let opts = RunOptions { copy_observer: Some(observer), ..RunOptions::default() };
    let profile = Profile::builtin("host-only").unwrap();
    let err = run_scenario(&spec, Mode::Host, &profile, &opts).unwrap_err().to_string();
    if let Some(stop) = stopper.lock().unwrap().take() {
        stop.join().unwrap();
    }
    assert!(
        err.starts_with(&format!("blob copy to {blob}/fan-out-write-host-seed1 failed: ")),
        "unclear failure: {err}"
    );
    assert!(err.contains(" acknowledged chunks copied") && err.contains("dpukit copy --work-dir"), "{err}");
    assert!(!err.contains('\n'), "{err}");

    // Every acknowledged chunk is valid locally; some, not all, are marked copied.
    let run_dir = tmp.path().join("wd/fan-out-write-host");
    let total = NODES as u64 * CHUNKS_PER_NODE;
    let mut copied_keys = Vec::new();
    for (dir, state) in manifests(&run_dir) {
        assert_eq!(state.chunks.len() as u64, CHUNKS_PER_NODE, "{}", dir.display());
        let mut local = LocalTier::open(&dir, LocalTierConfig::default()).unwrap();
        let report = verify(&mut local, &state);
        assert!(report.is_clean() && report.ok.len() as u64 == CHUNKS_PER_NODE, "{report:?}");
        for e in state.chunks.values() {
            if let Some(c) = &e.copied {
                copied_keys.push(BlobKey::parse(&c.blob_key).unwrap());
            }
        }
    }
    let copied_before = copied_keys.len() as u64;
    assert!((STOP_AFTER_COPIED..total).contains(&copied_before), "{copied_before} of {total} marked copied");

    // The service back: every chunk marked copied is there and verifies.
    restart();
    let loc = BlobLocation::parse(&format!("{blob}/fan-out-write-host-seed1")).unwrap();
    let tier = BlobTier::open(&loc, &spec.blob_options).unwrap();
    for key in &copied_keys {
        tier.get(key).unwrap_or_else(|e| panic!("{key} marked copied but: {e}"));
    }

    // The resume uploads exactly the rest, and then everything is copied and verifies.
    let resumed = resume_copy(tmp.path().join("wd").as_path(), &ResumeOptions::default()).unwrap();
    assert_eq!(resumed.len(), 1);
    let r = &resumed[0];
    assert_eq!(r.acknowledged_chunks, total);
    assert_eq!(r.already_copied_chunks, copied_before);
    assert_eq!(r.uploaded_chunks, total - copied_before, "{r:?}");
    assert!(r.unverifiable.is_empty(), "{r:?}");
    let mut all = 0;
    for (_, state) in manifests(&run_dir) {
        assert_eq!(state.not_copied().count(), 0);
        for e in state.chunks.values() {
            let key = BlobKey::parse(&e.copied.as_ref().unwrap().blob_key).unwrap();
            assert_eq!(tier.get(&key).unwrap().len() as u64, e.record.stored_len_bytes);
            all += 1;
        }
    }
    assert_eq!(all, total);
    assert_eq!(tier.list(None).unwrap().len() as u64, total);
    let again = resume_copy(tmp.path().join("wd").as_path(), &ResumeOptions::default()).unwrap();
    assert_eq!((again[0].already_copied_chunks, again[0].uploaded_chunks), (total, 0));
}
