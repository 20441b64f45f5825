//! The local-tier probes: flushed writes of one chunk and of a checkpoint's batch, two
//! writers at once, reads from the page cache, and manifest appends.

#![forbid(unsafe_code)]

use super::format::{
    err, CalibrationError, OpCost, WriteBatchCost, CONCURRENT_OPS, LARGE_BYTES, SMALL_BYTES,
};
use super::measure::{cpu_share, fit, measure, measure_serial_share, measure_spaced, SERIAL_ROUNDS};
use super::ring::{gap, Ring};
use crate::tier::{ChunkRecord, LocalTier, LocalTierConfig, Manifest};
use std::path::Path;
use std::time::Duration;

/// Other work (1 MiB copies through a [`Ring`], 64 MiB of memory traffic) before each
/// timed local-tier write: what a data path does between two flushed writes, a cache
/// fill's GET and verification, a checkpoint's next batch (see [`measure_spaced`]).
const WRITE_GAP_COPIES: usize = 32;
/// Writes of each thread of the two-writer measurement between two truncations of its
/// file: the page cache goes back every few writes, as before each single write.
const SERIAL_RECYCLE_WRITES: u64 = 8;
/// Chunks of the calibration's batched local write: the scenarios' default `batch`.
pub const WRITE_BATCH_CHUNKS: u32 = 8;
/// Distance between the starts of two local-tier writes: more than the largest, so each
/// leaves a hole before the next.
const WRITE_STRIDE_BYTES: u64 = 2 * LARGE_BYTES as u64;
/// Chunks the local-tier reads go round (48 MiB of `LARGE_BYTES` chunks, more than a
/// server CPU's last-level cache).
const READ_SPAN_CHUNKS: u64 = 48;

/// Hands the page cache of a calibration file written and synced back to the kernel
/// (truncating it), so that the next write's pages come from memory just freed, as a
/// run's freed memory and a full page cache's recycled pages come back to it. A
/// calibration that grows its files would otherwise take fresh pages for every write,
/// and on a VM that hands idle memory back to its host (virtio-balloon free page
/// reporting) a fresh page waits for the host (docs/model-validation.md). A file that is
/// not there yet is left alone.
fn recycle_pages(path: &Path) {
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f.set_len(0);
    }
}

/// What the local-tier probes measured.
pub(super) struct LocalCosts {
    /// One chunk per call, fitted through both sizes, with its serial shares.
    pub write: OpCost,
    pub write_batch: WriteBatchCost,
    pub read: OpCost,
    pub manifest_append: OpCost,
}

/// Every local-tier probe, in a `local` directory (and a manifest) under `dir`.
pub(super) fn measure_local(
    dir: &Path,
    round: Duration,
    data: &[u8],
) -> Result<LocalCosts, CalibrationError> {
    let cfg = LocalTierConfig {
        buffer_size_bytes: LARGE_BYTES,
        max_inflight_bytes: LARGE_BYTES as u64 * 16,
        ..LocalTierConfig::default()
    };
    let local_dir = dir.join("local");
    create_dir(&local_dir)?;
    let mut local = LocalTier::open(&local_dir, cfg.clone()).map_err(err)?;
    let mut ring = Ring::new(LARGE_BYTES);
    let ws = measure_write(&mut local, &mut ring, round, &data[..SMALL_BYTES], 1)?;
    let wl = measure_write(&mut local, &mut ring, round, &data[..LARGE_BYTES], 1)?;
    let wb =
        measure_write(&mut local, &mut ring, round, &data[..LARGE_BYTES], u64::from(WRITE_BATCH_CHUNKS))?;
    let write_batch = WriteBatchCost {
        chunks: WRITE_BATCH_CHUNKS,
        chunk_bytes: LARGE_BYTES as u64,
        wall_ns: wb.0,
        cpu_share: cpu_share(wb),
    };
    let (serial_small, serial_large) = measure_write_serial(&local_dir, &cfg, round, data)?;
    let read = measure_read(&mut local, &mut ring, round, data)?;
    let manifest_append = measure_manifest(dir, round)?;
    let write =
        OpCost { serial_share: Some(serial_large), serial_share_small: Some(serial_small), ..fit(ws, wl) };
    Ok(LocalCosts { write, write_batch, read, manifest_append })
}

fn create_dir(path: &Path) -> Result<(), CalibrationError> {
    std::fs::create_dir_all(path)
        .map_err(|e| CalibrationError::Io { path: path.display().to_string(), reason: e.to_string() })
}

/// (wall ns, CPU ns) of one `write_chunks` call of `chunks` copies of `chunk`, one sync for
/// them all, each call after the gap and with the file's page cache handed back.
fn measure_write(
    local: &mut LocalTier,
    ring: &mut Ring,
    round: Duration,
    chunk: &[u8],
    chunks: u64,
) -> Result<(f64, f64), CalibrationError> {
    let mut slot = 0u64;
    let shard = format!("cal{}x{chunks}", chunk.len());
    let path = local.shard_path(&shard);
    measure_spaced(
        round,
        || {
            gap(ring, WRITE_GAP_COPIES);
            recycle_pages(&path);
        },
        || {
            // Fresh places each time, as a checkpoint or a cache fill writes: the file
            // grows, so the flush carries the allocation too. A gap after each, as a cache
            // fill leaves in its slot-sized stride: every write starts a new extent. A
            // checkpoint's batch puts its chunks one stride apart.
            let writes: Vec<(u64, &[u8])> =
                (slot..slot + chunks).map(|k| (k * WRITE_STRIDE_BYTES, chunk)).collect();
            slot += chunks;
            local.write_chunks(&shard, &writes).map(|_| ()).map_err(err)
        },
    )
}

/// Serial shares (64 KiB, 1 MiB) of a write: two writers at once, each on its own tier
/// and file, as colocated nodes fill their caches; how much of a write (its flush,
/// mostly) the two take turns at.
fn measure_write_serial(
    local_dir: &Path,
    cfg: &LocalTierConfig,
    round: Duration,
    data: &[u8],
) -> Result<(f64, f64), CalibrationError> {
    let tiers = (0..CONCURRENT_OPS)
        .map(|i| {
            let d = local_dir.join(format!("together{i}"));
            create_dir(&d)?;
            LocalTier::open(&d, cfg.clone()).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(std::sync::Mutex::new)
        .collect::<Vec<_>>();
    let slots: Vec<std::sync::atomic::AtomicU64> = tiers.iter().map(|_| Default::default()).collect();
    let write_serial = |len: usize| {
        measure_serial_share(round * SERIAL_ROUNDS, |i| {
            let (tier, slot) = (&tiers[i], &slots[i]);
            move || {
                let n = slot.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut t = tier.lock().map_err(|_| err("local tier lock"))?;
                // The page cache goes back every few writes, as before each single write
                // (`recycle_pages`); the file starts over, each write still at a fresh place.
                if n % SERIAL_RECYCLE_WRITES == 0 {
                    recycle_pages(&t.shard_path("cal"));
                }
                let offset = (n % SERIAL_RECYCLE_WRITES) * WRITE_STRIDE_BYTES;
                t.write_chunks("cal", &[(offset, &data[..len])]).map(|_| ()).map_err(err)
            }
        })
    };
    Ok((write_serial(SMALL_BYTES)?, write_serial(LARGE_BYTES)?))
}

/// One `read_chunks` call, fitted through both sizes. Reads go round a span of chunks
/// larger than the last-level cache, each into the next slot of a ring, as a run reads
/// its cached chunks back into its slots: the page cache's copy comes from memory, not
/// from cache.
fn measure_read(
    local: &mut LocalTier,
    ring: &mut Ring,
    round: Duration,
    data: &[u8],
) -> Result<OpCost, CalibrationError> {
    let span: Vec<(u64, &[u8])> =
        (0..READ_SPAN_CHUNKS).map(|i| (i * LARGE_BYTES as u64, &data[..LARGE_BYTES])).collect();
    local.write_chunks("calread", &span).map_err(err)?;
    let mut next = 0u64;
    let mut read = |len: usize| {
        measure(round, || {
            let offset = (next % READ_SPAN_CHUNKS) * LARGE_BYTES as u64;
            next += 1;
            local.read_chunks("calread", &mut [(offset, ring.next_out(len))]).map_err(err)
        })
    };
    let rs = read(SMALL_BYTES)?;
    let rl = read(LARGE_BYTES)?;
    Ok(fit(rs, rl))
}

/// One manifest append, per call and per record (the "bytes" of this cost are records).
fn measure_manifest(dir: &Path, round: Duration) -> Result<OpCost, CalibrationError> {
    let mut manifest = Manifest::open(dir.join("manifest.jsonl")).map_err(err)?;
    let mut index = 0u64;
    let mut append = |records: usize| {
        measure(round, || {
            let batch: Vec<ChunkRecord> = (0..records)
                .map(|i| ChunkRecord {
                    shard: "cal".into(),
                    chunk_index: index + i as u64,
                    offset_bytes: 0,
                    stored_len_bytes: 1,
                    uncompressed_len_bytes: 1,
                    compression: "none".into(),
                    crc32c: 0,
                })
                .collect();
            index += records as u64;
            manifest.append_chunks(&batch).map_err(err)
        })
    };
    let m1 = append(1)?;
    let m8 = append(8)?;
    let per_record = ((m8.0 - m1.0) / 7.0).max(0.0);
    Ok(OpCost {
        op_ns: (m1.0 - per_record).max(0.0),
        ns_per_byte: per_record,
        cpu_share: if m8.0 > 0.0 { (m8.1 / m8.0).clamp(0.0, 1.0) } else { 1.0 },
        ..OpCost::default()
    })
}
