//! KV cache, live: per block a lookup; a hit reads the block and verifies it, a miss
//! produces it (as a prefill would), checksums, stores and inserts it.

#![forbid(unsafe_code)]

use crate::live::env::{
    datagen, local_tier, max_stored, object_seed, off_err, offload_for, tier_err, TIER_LOCAL,
};
use crate::live::jobs::SlotChunk;
use crate::live::node::{
    insert_in_slot, lookup_in_slot, read_hit, run_jobs_in_slot, verify_in_slot, Ctx, NodeOut,
};
use crate::offload::Buf;
use crate::run::RunError;
use crate::scenario::kv_cache::{kv_requests, KV_MAX_BLOCKS_PER_REQUEST};
use crate::scenario::produce;
use dpukit_kernels::cache_index::{CacheKey, Location};
use std::time::Instant;

pub(super) fn kv_cache(ctx: &Ctx, node: u32) -> Result<NodeOut, RunError> {
    let (spec, prog) = (ctx.spec, ctx.prog);
    let block = spec.kv_shape.block_bytes() as usize;
    let dir = ctx.env.node_dir(node)?;
    let stored_max = max_stored(spec, block);
    let mut local = local_tier(ctx, &dir, stored_max)?;
    let mut off = offload_for(ctx, node)?;
    let mut out = NodeOut::new(ctx.mode, node);
    let gen = datagen(spec);
    let stride = stored_max.div_ceil(4096) as u64 * 4096;
    let capacity = spec.cache_capacity_chunks.max(16);
    // Block storage: a ring of `capacity` x 4 places; a block's place is fixed by its
    // sequence number, and the index never holds more than `capacity` entries.
    let places = capacity * 4;
    let mut next_place = 0u64;
    let shard = "kv";
    let requests = kv_requests(spec, node);
    let produce = produce(spec);
    out.begin(ctx, &off)?;
    for (doc, blocks) in requests {
        for b in 0..blocks {
            let t0 = off.now_ns();
            let key_id = CacheKey::for_chunk(doc, b);
            let key = key_id.to_bytes();
            let slot = off.take_slot().ok_or_else(|| RunError::Job("no free slot".into()))?;
            let hit = lookup_in_slot(&mut off, &mut out, slot, 0, key)?;
            let seed = object_seed(spec, doc ^ 0x4b56);
            let mut served = false;
            if hit {
                let loc = read_hit(&mut off, &mut local, shard, slot, &mut out)?;
                served =
                    verify_in_slot(&mut off, &mut out, spec, slot, loc.length, block as u32, loc.crc32c)?;
                if served {
                    out.hits += 1;
                } else {
                    // Its place was reused by a newer block: detected, served as a miss.
                    out.verification.refetched += 1;
                }
            }
            if !served {
                out.misses += 1;
                // Produce the block (as prefill would), checksum, store, insert.
                {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    gen.fill(seed, b * block as u64, &mut input[..block]);
                }
                let c =
                    run_jobs_in_slot(&mut off, &mut out, slot, &produce, SlotChunk::generated(block as u32))?;
                let (stored_len, crc) = (
                    c.stored_len,
                    c.crc.ok_or_else(|| RunError::Job("a block produced without a checksum".into()))?,
                );
                // Stored form goes to the input buffer's place in the ring.
                let place = next_place % places;
                next_place += 1;
                let offset = place * stride;
                let t_io = Instant::now();
                {
                    let (input, output) = off.slot(slot).map_err(off_err)?;
                    let src = if c.stored_in() == Buf::Out {
                        &output[..stored_len as usize]
                    } else {
                        &input[..stored_len as usize]
                    };
                    local.write_chunks(shard, &[(offset, src)]).map_err(tier_err)?;
                }
                out.io.record(t_io.elapsed().as_nanos() as u64);
                out.stored_bytes += stored_len as u64;
                let loc = Location::new(TIER_LOCAL, 0, offset, stored_len, crc)?;
                insert_in_slot(&mut off, &mut out, slot, 3, key, loc.to_bytes())?;
                out.digest_items.push((
                    node,
                    doc.wrapping_mul(KV_MAX_BLOCKS_PER_REQUEST) + b,
                    stored_len as u64,
                    crc,
                ));
            }
            off.release(slot);
            let now = off.now_ns();
            out.chunk_done(&off, now, now.saturating_sub(t0), block as u64);
            out.verification.chunks_checked += served as u64;
            out.verification.bytes_checked += if served { block as u64 } else { 0 };
            prog.add(block as u64);
        }
    }
    out.finish(&off);
    Ok(out)
}
