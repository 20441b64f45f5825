//! The blob-tier probes: first-read GETs, one at a time and in a reader's batches, timed
//! a few per kernel pass ([`GetProbe`]); two readers at once through one client; PUTs.

#![forbid(unsafe_code)]

use super::format::{err, BatchCost, CalibrationError, OpCost, CONCURRENT_OPS, LARGE_BYTES, SMALL_BYTES};
use super::kernels::KERNEL_PASSES;
use super::measure::{fit, measure, measure_serial_share, SERIAL_ROUNDS};
use super::ring::{gap, Ring};
use crate::metrics::process_cpu_ns;
use crate::tier::{BlobKey, BlobTier};
use bytes::Bytes;
use std::path::Path;
use std::time::{Duration, Instant};

/// Other work before each timed blob-tier GET or batch of GETs: 8 MiB of memory traffic,
/// about what a data path moves between two of its GETs (a chunk's copy into a slot, its
/// verification and decompression). Back to back, the client's path stays in cache and a
/// GET looks cheaper than in a run; after the write's 64 MiB it looks dearer
/// (docs/model-validation.md, "Gaps before storage ops").
const GET_GAP_COPIES: usize = 4;

/// First-read GETs timed at each size per kernel pass, one at a time and in batches of
/// `read_concurrency` (each batch of fresh objects too): over the five passes, 40 GETs
/// and 15 batches per size, spread over the whole calibration as the kernels are. One
/// GET's mean moves from one second to the next: more GETs timed in one block see the
/// same moment, not more moments (docs/model-validation.md, "Blob GETs").
const GETS_PER_PASS: u64 = 8;
/// Batches of GETs timed at each size per kernel pass (see [`GETS_PER_PASS`]).
const GET_BATCHES_PER_PASS: u64 = 3;

/// The blob tier's first-read GETs, objects written before the passes start and timed a
/// few per pass (see [`GETS_PER_PASS`]).
pub(super) struct GetProbe {
    blob: BlobTier,
    requests: u32,
    /// Per size ([`SMALL_BYTES`], [`LARGE_BYTES`]): objects not read yet, to GET one at a
    /// time and in batches.
    singles: [Vec<BlobKey>; 2],
    batched: [Vec<BlobKey>; 2],
    /// Per size: objects read, for the two-at-once measurement after the passes.
    read: [Vec<BlobKey>; 2],
    /// Per size: (wall ns, process CPU ns, GETs) one at a time, (wall ns, batches) in
    /// batches.
    single_sums: [(f64, f64, u32); 2],
    batch_sums: [(f64, u32); 2],
}

/// The sizes GETs are timed at, in the order of [`GetProbe`]'s per-size fields.
const GET_SIZES: [usize; 2] = [SMALL_BYTES, LARGE_BYTES];

impl GetProbe {
    pub(super) fn new(dir: &Path, data: &[u8]) -> Result<GetProbe, CalibrationError> {
        let blob_dir = dir.join("blob");
        std::fs::create_dir_all(&blob_dir).map_err(|e| CalibrationError::Io {
            path: blob_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let blob = BlobTier::local(&blob_dir).map_err(err)?;
        let requests = blob.options().read_concurrency.max(1);
        let passes = KERNEL_PASSES as u64;
        let fresh = |len: usize, shard: &str, count: u64| -> Result<Vec<BlobKey>, CalibrationError> {
            (0..count)
                .map(|i| blob.put_chunk(shard, i, Bytes::copy_from_slice(&data[..len])))
                .collect::<Result<_, _>>()
                .map_err(err)
        };
        let singles = [
            fresh(SMALL_BYTES, "calsmall", GETS_PER_PASS * passes)?,
            fresh(LARGE_BYTES, "callarge", GETS_PER_PASS * passes)?,
        ];
        let batch_objects = GET_BATCHES_PER_PASS * u64::from(requests) * passes;
        let batched = [
            fresh(SMALL_BYTES, "calbatchsmall", batch_objects)?,
            fresh(LARGE_BYTES, "calbatchlarge", batch_objects)?,
        ];
        // Written back before anything is timed: the flusher would take a core from the
        // kernels' passes.
        nix::unistd::sync();
        Ok(GetProbe {
            blob,
            requests,
            singles,
            batched,
            read: [Vec::new(), Vec::new()],
            single_sums: [(0.0, 0.0, 0); 2],
            batch_sums: [(0.0, 0); 2],
        })
    }

    /// One pass's GETs at both sizes, each after the gap.
    pub(super) fn sample(&mut self, ring: &mut Ring) -> Result<(), CalibrationError> {
        for (i, len) in GET_SIZES.into_iter().enumerate() {
            for _ in 0..GETS_PER_PASS {
                let Some(key) = self.singles[i].pop() else { break };
                gap(ring, GET_GAP_COPIES);
                let (t0, c0) = (Instant::now(), process_cpu_ns());
                std::hint::black_box(self.blob.get_range_unverified(&key, 0..len as u64).map_err(err)?);
                let sum = &mut self.single_sums[i];
                sum.0 += t0.elapsed().as_nanos() as f64;
                sum.1 += process_cpu_ns().saturating_sub(c0) as f64;
                sum.2 += 1;
                self.read[i].push(key);
            }
            for _ in 0..GET_BATCHES_PER_PASS {
                let at = self.batched[i].len().saturating_sub(self.requests as usize);
                let batch: Vec<(BlobKey, std::ops::Range<u64>)> =
                    self.batched[i].drain(at..).map(|k| (k, 0..len as u64)).collect();
                if batch.is_empty() {
                    break;
                }
                gap(ring, GET_GAP_COPIES);
                let t0 = Instant::now();
                std::hint::black_box(self.blob.get_ranges_unverified(&batch).map_err(err)?);
                let sum = &mut self.batch_sums[i];
                sum.0 += t0.elapsed().as_nanos() as f64;
                sum.1 += 1;
            }
        }
        Ok(())
    }

    /// Mean (wall ns, CPU ns) of one GET at size `i`, and mean wall ns of a batch.
    fn means(&self, i: usize) -> Result<((f64, f64), f64), CalibrationError> {
        let (wall, cpu, n) = self.single_sums[i];
        let (bwall, bn) = self.batch_sums[i];
        if n == 0 || bn == 0 {
            return Err(err("no blob-tier GET was timed"));
        }
        Ok(((wall / f64::from(n), cpu / f64::from(n)), bwall / f64::from(bn)))
    }
}

/// GET (from the passes' [`GetProbe`]), a batch of GETs, and PUT costs of the blob tier.
/// Each GET is the first read of an object written before the passes, as a run's is (a
/// fan-out read's cold pass, a fan-in read): a first read costs more than a later one of
/// the same object. The objects add up to more than a last-level cache holds. The copy
/// into a slot is not part of it: the model counts that as a memcpy.
///
/// A batch is `read_concurrency` GETs at once through the client, as a reader fetches;
/// how much they overlap depends on the build (docs/model-validation.md, "Blob GETs").
pub(super) fn measure_blob(
    probe: GetProbe,
    round: Duration,
    data: &[u8],
) -> Result<(OpCost, BatchCost, OpCost), CalibrationError> {
    let ((gs, bs), (gl, bl)) = (probe.means(0)?, probe.means(1)?);
    let GetProbe { blob, requests, read: [keys_small, keys], .. } = probe;
    let fitted = fit((bs, 0.0), (bl, 0.0));
    let batch = BatchCost { requests, op_ns: fitted.op_ns, ns_per_byte: fitted.ns_per_byte };
    // Two readers at once through the same client, as colocated nodes share one.
    let get_serial = |len: usize, keys: &[BlobKey]| {
        measure_serial_share(round * SERIAL_ROUNDS, |i| {
            let blob = &blob;
            let mut next = i * keys.len() / CONCURRENT_OPS;
            move || {
                let key = &keys[next % keys.len()];
                next += 1;
                std::hint::black_box(blob.get_range_unverified(key, 0..len as u64).map_err(err)?);
                Ok(())
            }
        })
    };
    let (serial_small, serial_large) =
        (get_serial(SMALL_BYTES, &keys_small)?, get_serial(LARGE_BYTES, &keys)?);
    let mut n = 2u64;
    // The payload is made once: a run's copier hands over bytes it already holds, and a
    // fresh copy per PUT would add an allocation's page faults that a run does not pay.
    let mut put = |len: usize| {
        let payload = Bytes::copy_from_slice(&data[..len]);
        measure(round, || {
            n += 1;
            blob.put_chunk("cal", n % 16 + 2, payload.clone()).map(|_| ()).map_err(err)
        })
    };
    let ps = put(SMALL_BYTES)?;
    let pl = put(LARGE_BYTES)?;
    let get =
        OpCost { serial_share: Some(serial_large), serial_share_small: Some(serial_small), ..fit(gs, gl) };
    Ok((get, batch, fit(ps, pl)))
}
