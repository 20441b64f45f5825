//! Blob tier and copier: put/get with CRC32C verification, a corrupted object detected and
//! named, range/list/delete, and copier backpressure with nothing lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dpukit_host::tier::{
    BlobCopier, BlobCopierConfig, BlobKey, BlobTier, CopyJob, EnqueueError, Manifest, TierError,
};
use dpukit_kernels::crc32c::crc32c;

fn pattern(seed: u64, len: usize) -> Bytes {
    (0..len).map(|i| (i as u64 ^ seed.wrapping_mul(0x9E37)) as u8).collect::<Vec<u8>>().into()
}

#[test]
fn put_get_range_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let blob = BlobTier::local(dir.path()).unwrap();
    let a = blob.put_chunk("rank0", 0, pattern(1, 10_000)).unwrap();
    let b = blob.put_chunk("rank0", 1, pattern(2, 5_000)).unwrap();
    let c = blob.put_chunk("rank1", 0, pattern(3, 100)).unwrap();
    assert_eq!(a.to_string(), format!("chunks/rank0/0000000000.{:08x}", crc32c(&pattern(1, 10_000))));
    assert_eq!(BlobKey::parse(&a.to_string()).unwrap(), a);

    assert_eq!(blob.get(&a).unwrap(), pattern(1, 10_000));
    assert_eq!(blob.get_range_unverified(&b, 100..200).unwrap(), pattern(2, 5_000).slice(100..200));
    assert_eq!(blob.list(Some("rank0")).unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(blob.list(None).unwrap().len(), 3);

    blob.delete(&c).unwrap();
    assert_eq!(blob.list(None).unwrap(), vec![a, b]);
    let err = blob.get(&c).unwrap_err();
    assert!(matches!(err, TierError::Blob { op: "get", .. }), "{err}");
    assert!(err.to_string().contains(&c.to_string()), "{err}");
}

#[test]
fn corrupted_object_is_detected_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let blob = BlobTier::local(dir.path()).unwrap();
    let key = blob.put_chunk("rank0", 7, pattern(9, 4096)).unwrap();

    let file = dir.path().join(key.to_string());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1234] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();

    let err = blob.get(&key).unwrap_err();
    match &err {
        TierError::CorruptBlob { key: named, expected_crc32c, actual_crc32c } => {
            assert_eq!(named, &key.to_string());
            assert_eq!(*expected_crc32c, key.crc32c);
            assert_eq!(*actual_crc32c, crc32c(&bytes));
        }
        other => panic!("expected CorruptBlob, got {other}"),
    }
    assert!(err.to_string().starts_with(&format!("blob {key}: CRC32C mismatch")), "{err}");

    // A key whose CRC does not match what was stored is caught the same way.
    let wrong = BlobKey::new("rank0", 8, 0xdead_beef).unwrap();
    blob.put(&wrong, pattern(1, 64)).unwrap();
    assert!(matches!(blob.get(&wrong), Err(TierError::CorruptBlob { .. })));
}

#[test]
fn missing_blob_dir_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = BlobTier::local(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("open blob directory {}: no such file or directory", missing.display())
    );
}

fn job(i: u64, len: usize) -> CopyJob {
    let data = pattern(i, len);
    CopyJob {
        shard: "rank0".into(),
        chunk_index: i,
        crc32c: crc32c(&data),
        data,
        local_durable_at: Instant::now(),
    }
}

#[test]
fn copier_backpressure_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blob = Arc::new(BlobTier::local(dir.path()).unwrap());
    let config = BlobCopierConfig {
        queue_capacity_chunks: 4,
        queue_capacity_bytes: 1 << 20,
        upload_concurrency: 2,
        max_attempts: 2,
    };
    let mut copier = BlobCopier::start(Arc::clone(&blob), config).unwrap();

    // Paused, the worker takes nothing: the fifth job is refused and handed back.
    copier.pause();
    for i in 0..4 {
        copier.try_enqueue(job(i, 8192)).unwrap();
    }
    let refused = match copier.try_enqueue(job(4, 8192)) {
        Err(e @ EnqueueError::Full { .. }) => {
            assert!(e.to_string().starts_with("blob copy queue full (4 chunks, 32768 bytes queued)"), "{e}");
            e.into_job()
        }
        other => panic!("expected backpressure, got {other:?}"),
    };
    assert_eq!(refused.chunk_index, 4);
    // The bounded blocking enqueue gives up after its bound while the queue stays full.
    let refused_again = copier.enqueue(refused, Duration::from_millis(20)).unwrap_err().into_job();
    let stats = copier.stats();
    assert_eq!((stats.queued_chunks, stats.queued_bytes, stats.backpressure_events), (4, 32768, 2));

    // Resumed, a blocking enqueue gets in as soon as the worker frees room.
    copier.resume();
    copier.enqueue(refused_again, Duration::from_secs(30)).unwrap();
    for i in 5..20 {
        copier.enqueue(job(i, 8192), Duration::from_secs(30)).unwrap();
    }
    assert!(copier.wait_idle(Duration::from_secs(30)), "copier did not drain");

    let mut copied = copier.take_copied();
    copied.sort_by_key(|c| c.key.chunk_index);
    assert_eq!(copied.iter().map(|c| c.key.chunk_index).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    assert!(copier.take_failed().is_empty());
    let stats = copier.shutdown();
    assert_eq!((stats.copied_chunks, stats.copied_bytes, stats.failed_chunks), (20, 20 * 8192, 0));
    assert!(stats.lag_ns_max >= copied.iter().map(|c| c.lag_ns).max().unwrap());
    for c in &copied {
        assert_eq!(blob.get(&c.key).unwrap(), pattern(c.key.chunk_index, 8192));
    }

    // Copies become manifest marks.
    let mpath = dir.path().join("manifest.jsonl");
    let mut manifest = Manifest::open(&mpath).unwrap();
    let marks: Vec<_> = copied.iter().map(|c| c.to_record()).collect();
    manifest.mark_copied(&marks).unwrap();
    assert_eq!(Manifest::load(&mpath).unwrap().records, 20);
}

#[test]
fn copier_after_shutdown_hands_jobs_back() {
    let dir = tempfile::tempdir().unwrap();
    let blob = Arc::new(BlobTier::local(dir.path()).unwrap());
    let mut copier = BlobCopier::start(blob, BlobCopierConfig::default()).unwrap();
    copier.try_enqueue(job(0, 100)).unwrap();
    let stats = copier.shutdown();
    assert_eq!(stats.copied_chunks, 1, "shutdown uploads what was queued");
    let err = copier.try_enqueue(job(1, 100)).unwrap_err();
    assert!(matches!(err, EnqueueError::Stopped { .. }));
    assert_eq!(err.into_job().chunk_index, 1);
}
