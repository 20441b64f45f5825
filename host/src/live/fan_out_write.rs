//! Fan-out write, live: generate, [compress], checksum, write to the local tier in
//! batches through its write pipeline, acknowledge once durable (manifest), copy to the
//! blob tier in the background.

#![forbid(unsafe_code)]

use crate::live::env::{
    algorithm_name, datagen, local_tier, max_stored, object_seed, off_err, offload_for, tier_err,
};
use crate::live::jobs::{stage_name, SlotChunk};
use crate::live::node::{Ctx, NodeOut, Prog};
use crate::live::publish::shard_name;
use crate::live::COPY_DRAIN_TIMEOUT;
use crate::offload::{Buf, Offload};
use crate::plugin::{Plugin, PLUGIN_INVERSE, PLUGIN_OPCODE};
use crate::run::RunError;
use crate::scenario::codec;
use crate::scenario::fan_out_write::write_batches_in_flight;
use crate::scenario::produce;
use crate::spec::ScenarioSpec;
use crate::staging::StagingPool;
use crate::tier::{
    AckedBatch, AckedWriter, BatchId, BlobCopier, CopyJob, LocalTier, Manifest, OwnedChunkWrite,
};
use bytes::Bytes;
use dpukit_kernels::compress;
use dpukit_kernels::crc32c::crc32c;
use dpukit_kernels::registry::UserArgs;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Bits of a job's tag that say which of the chunk's jobs it is; the rest is the chunk.
const JOB_BITS: u32 = 4;
const JOB_MASK: u64 = (1 << JOB_BITS) - 1;

/// The tag of a chunk's `job`-th job.
fn job_tag(chunk: u64, job: usize) -> u64 {
    debug_assert!((job as u64) <= JOB_MASK);
    (chunk << JOB_BITS) | job as u64
}

/// One chunk on its way to the local tier.
pub(super) struct Staged {
    pub(super) index: u64,
    pub(super) offset: u64,
    pub(super) data: Bytes,
    pub(super) raw_len: u64,
    pub(super) crc: u32,
    pub(super) started_ns: u64,
}

/// A batch of a fan-out write in the local tier's pipeline, not yet acknowledged.
pub(super) struct InFlightBatch {
    pub(super) batch: BatchId,
    pub(super) chunks: Vec<Staged>,
    pub(super) submitted_at: Instant,
}

/// What `commit` and `acknowledge` share on one node.
pub(super) struct WriteSide<'a> {
    pub(super) writer: AckedWriter<'a>,
    pub(super) in_flight: VecDeque<InFlightBatch>,
    pub(super) shard: &'a str,
    pub(super) spec: &'a ScenarioSpec,
    pub(super) copier: &'a BlobCopier,
    pub(super) prog: &'a Prog,
}

pub(super) fn fan_out_write(ctx: &Ctx, node: u32) -> Result<(NodeOut, Manifest), RunError> {
    let spec = ctx.spec;
    let copier = ctx.copier.ok_or_else(|| RunError::Copy("no blob copier for a write".into()))?;
    let chunk = spec.chunk_size_bytes as usize;
    let dir = ctx.env.node_dir(node)?;
    let mut local = local_tier(ctx, &dir, max_stored(spec, chunk))?;
    let mut manifest = Manifest::open(dir.join("manifest.jsonl")).map_err(tier_err)?;
    let mut out = fan_out_write_batches(ctx, node, &mut local, &mut manifest, copier)?;
    if spec.verify {
        verify_written(spec, &mut local, &manifest, node, &mut out, ctx.plugin);
    }
    Ok((out, manifest))
}

/// Most bytes of staging buffers a fan-out write node allocates before its timed phase;
/// past them it allocates as it goes (and keeps what it allocated, see [`StagingPool`]).
pub(super) const STAGING_BYTES: usize = 64 << 20;

/// The timed part of a fan-out write: generate, [compress], checksum and commit every chunk.
pub(super) fn fan_out_write_batches(
    ctx: &Ctx,
    node: u32,
    local: &mut LocalTier,
    manifest: &mut Manifest,
    copier: &BlobCopier,
) -> Result<NodeOut, RunError> {
    let (spec, prog) = (ctx.spec, ctx.prog);
    let chunk = spec.chunk_size_bytes as usize;
    let chunks = spec.chunks_per_object();
    let mut off = offload_for(ctx, node)?;
    let mut out = NodeOut::new(ctx.mode, node);
    let gen = datagen(spec);
    let seed = object_seed(spec, node as u64);
    let shard = shard_name(node);
    let stride = max_stored(spec, chunk).div_ceil(4096) as u64 * 4096;
    let batch_chunks = spec.batch.max(1) as usize;
    let writer = AckedWriter::new(local, manifest, write_batches_in_flight(spec)).map_err(tier_err)?;
    let mut side = WriteSide { writer, in_flight: VecDeque::new(), shard: &shard, spec, copier, prog };
    // Room for the chunks being staged and the batches in the pipeline, and as many again
    // for the copier's lag; no more than the object has, nor than STAGING_BYTES.
    let stored_max = max_stored(spec, chunk);
    let staged_buffers = (batch_chunks * (write_batches_in_flight(spec) + 2))
        .min(chunks as usize)
        .min((STAGING_BYTES / stored_max.max(1)).max(1));
    let mut staging = StagingPool::new(staged_buffers, stored_max);
    out.begin(ctx, &off)?;

    let produce = produce(spec);
    let mut next = 0u64;
    let mut started: HashMap<u64, u64> = HashMap::new();
    let mut in_slot: HashMap<u64, SlotChunk> = HashMap::new();
    let mut staged: Vec<Staged> = Vec::with_capacity(batch_chunks);
    loop {
        while next < chunks {
            let Some(slot) = off.take_slot() else { break };
            let len = chunk.min((spec.object_size_bytes - next * chunk as u64) as usize);
            started.insert(next, off.now_ns());
            {
                let (input, _) = off.slot(slot).map_err(off_err)?;
                gen.fill(seed, next * chunk as u64, &mut input[..len]);
            }
            let c = SlotChunk::generated(len as u32);
            off.submit(slot, job_tag(next, 0), &c.ops(&produce[0])).map_err(off_err)?;
            in_slot.insert(next, c);
            next += 1;
        }
        let Some(f) = off.next_finished().map_err(off_err)? else { break };
        out.record_ops(&f);
        let (index, job) = (f.user >> JOB_BITS, (f.user & JOB_MASK) as usize);
        let c = in_slot.get_mut(&index).ok_or_else(|| {
            RunError::Job(format!("{shard} chunk {index}: a job no chunk submitted finished"))
        })?;
        c.apply(&produce[job], &f).map_err(|(stage, status)| {
            RunError::Job(format!("{shard} chunk {index}: {} failed: {status}", stage_name(stage)))
        })?;
        if let Some(then) = produce.get(job + 1) {
            off.submit(f.slot, job_tag(index, job + 1), &c.ops(then)).map_err(off_err)?;
            continue;
        }
        let c = in_slot.remove(&index).expect("looked up above");
        let data = {
            let (input, output) = off.slot(f.slot).map_err(off_err)?;
            let src = if c.stored_in() == Buf::Out {
                &output[..c.stored_len as usize]
            } else {
                &input[..c.stored_len as usize]
            };
            staging.copy(src)
        };
        off.release(f.slot);
        staged.push(Staged {
            index,
            offset: index * stride,
            data,
            raw_len: u64::from(c.raw_len),
            crc: c.crc.ok_or_else(|| {
                RunError::Job(format!("{shard} chunk {index}: produced without a checksum"))
            })?,
            started_ns: started.remove(&index).unwrap_or(0),
        });
        if staged.len() >= batch_chunks || (next >= chunks && off.in_flight() == 0) {
            commit(&mut side, &mut staged, &mut off, &mut out)?;
        }
    }
    commit(&mut side, &mut staged, &mut off, &mut out)?;
    // The last batches: every chunk acknowledged before the node's time stops.
    while let Some(done) = side.writer.wait().map_err(tier_err)? {
        acknowledge(&mut side, done, &mut off, &mut out)?;
    }
    out.finish(&off);
    Ok(out)
}

/// Hands staged chunks to the local tier's write pipeline as one batch (waiting for the
/// oldest batch first when the pipeline is full), then acknowledges every batch already
/// durable. The chunks are acknowledged later, by `acknowledge`.
pub(super) fn commit(
    side: &mut WriteSide<'_>,
    staged: &mut Vec<Staged>,
    off: &mut Offload,
    out: &mut NodeOut,
) -> Result<(), RunError> {
    if !staged.is_empty() {
        while side.writer.is_full() {
            let done = side.writer.wait().map_err(tier_err)?.expect("a full pipeline holds a batch");
            acknowledge(side, done, off, out)?;
        }
        let chunks: Vec<OwnedChunkWrite> = staged
            .iter()
            .map(|s| OwnedChunkWrite {
                chunk_index: s.index,
                offset_bytes: s.offset,
                stored: s.data.clone(),
                uncompressed_len_bytes: s.raw_len,
                compression: algorithm_name(side.spec).to_string(),
                crc32c: s.crc,
            })
            .collect();
        let submitted_at = Instant::now();
        let batch = side.writer.submit(side.shard, chunks).map_err(tier_err)?;
        side.in_flight.push_back(InFlightBatch { batch, chunks: std::mem::take(staged), submitted_at });
    }
    while let Some(done) = side.writer.poll().map_err(tier_err)? {
        acknowledge(side, done, off, out)?;
    }
    Ok(())
}

/// Acknowledges one batch the writer reports durable (local tier synced, manifest records
/// synced): counts its chunks, then queues the background copy.
pub(super) fn acknowledge(
    side: &mut WriteSide<'_>,
    done: AckedBatch,
    off: &mut Offload,
    out: &mut NodeOut,
) -> Result<(), RunError> {
    let flight = side.in_flight.pop_front().expect("an acknowledged batch was submitted");
    debug_assert_eq!(flight.batch, done.batch, "batches are acknowledged in order");
    // From submission to acknowledged: the write, its sync, and any wait behind earlier batches.
    out.io.record(flight.submitted_at.elapsed().as_nanos() as u64);
    let durable_at = Instant::now();
    let now = off.now_ns();
    for s in flight.chunks {
        out.chunk_done(off, now, now.saturating_sub(s.started_ns), s.raw_len);
        out.stored_bytes += s.data.len() as u64;
        out.digest_items.push((out.node, s.index, s.data.len() as u64, s.crc));
        side.prog.add(s.raw_len);
        let job = CopyJob {
            shard: side.shard.to_owned(),
            chunk_index: s.index,
            crc32c: s.crc,
            data: s.data,
            local_durable_at: durable_at,
        };
        // Backpressure: wait for room in the staging queue; a stopped copier is an error.
        side.copier.enqueue(job, COPY_DRAIN_TIMEOUT).map_err(|e| RunError::Copy(e.to_string()))?;
    }
    // Record the copies done so far, so an interrupted run resumes from here.
    let marks: Vec<_> = side.copier.take_copied_of(side.shard).iter().map(|c| c.to_record()).collect();
    side.writer.manifest().mark_copied(&marks).map_err(tier_err)?;
    Ok(())
}

/// Reads every acknowledged chunk back, checks its CRC32C, undoes the plugin op (if any)
/// and checks that the result decompresses to the generated bytes: the round trip that
/// shows the plugin's inverse undoes its forward op.
pub(super) fn verify_written(
    spec: &ScenarioSpec,
    local: &mut LocalTier,
    manifest: &Manifest,
    node: u32,
    out: &mut NodeOut,
    plugin: Option<&Plugin>,
) {
    let gen = datagen(spec);
    let seed = object_seed(spec, node as u64);
    let chunk = spec.chunk_size_bytes as usize;
    let mut raw = vec![0u8; chunk];
    let mut expect = vec![0u8; chunk];
    for entry in manifest.state().chunks.values() {
        let r = &entry.record;
        out.verification.chunks_checked += 1;
        out.verification.bytes_checked += r.uncompressed_len_bytes;
        let stored = match local.read_chunk(&r.shard, r.offset_bytes, r.stored_len_bytes as usize) {
            Ok(b) => b,
            Err(e) => {
                out.fail(format!("{} chunk {}: {e}", r.shard, r.chunk_index));
                continue;
            }
        };
        if crc32c(&stored) != r.crc32c {
            out.verification.corrupt_detected += 1;
            out.fail(format!("{} chunk {}: CRC32C mismatch", r.shard, r.chunk_index));
            continue;
        }
        let stored = match (plugin, &spec.plugin) {
            (Some(p), Some(ps)) => {
                let args = UserArgs {
                    opcode: PLUGIN_OPCODE,
                    arg0: ps.arg,
                    arg1: PLUGIN_INVERSE,
                    ..UserArgs::default()
                };
                let mut plain = vec![0u8; stored.len()];
                if let Err(status) = p.kernel().run(&args, &stored, &mut plain) {
                    out.fail(format!(
                        "{} chunk {}: plugin op (inverse) failed: {status}",
                        r.shard, r.chunk_index
                    ));
                    continue;
                }
                plain
            }
            _ => stored,
        };
        let n = r.uncompressed_len_bytes as usize;
        let got: &[u8] = match codec(spec) {
            Some((a, _)) => match compress::decompress(a, &stored, &mut raw) {
                Ok(k) if k == n => &raw[..n],
                Ok(k) => {
                    out.fail(format!(
                        "{} chunk {}: decompressed to {k} bytes, expected {n}",
                        r.shard, r.chunk_index
                    ));
                    continue;
                }
                Err(e) => {
                    out.fail(format!("{} chunk {}: {e}", r.shard, r.chunk_index));
                    continue;
                }
            },
            None => &stored[..],
        };
        gen.fill(seed, r.chunk_index * chunk as u64, &mut expect[..n]);
        if got != &expect[..n] {
            out.fail(format!("{} chunk {}: content differs from what was written", r.shard, r.chunk_index));
        }
    }
}
