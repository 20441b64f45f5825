//! Fan-out read, live: per chunk a cache lookup; a hit reads the local tier; a miss
//! fetches from a peer (cold pass, peer serving) or the blob tier; verify, fill the cache.
//! A cold pass, then a warm one.

#![forbid(unsafe_code)]

use crate::cluster::PeerPlan;
use crate::live::env::{io_err, local_tier, max_stored, off_err, offload_for, tier_err, TIER_LOCAL};
use crate::live::node::{flip_byte, insert_in_slot, lookup_in_slot, read_hit, verify_in_slot, Ctx, NodeOut};
use crate::live::publish::PubChunk;
use crate::live::sync::Held;
use crate::offload::Offload;
use crate::run::RunError;
use crate::scenario::fan_out_read::PASSES;
use dpukit_kernels::cache_index::{CacheKey, Location};
use std::time::Instant;

// Fan-out read

pub(super) fn fan_out_read(ctx: &Ctx, node: u32) -> Result<NodeOut, RunError> {
    let (spec, env, prog, corrupt) = (ctx.spec, ctx.env, ctx.prog, ctx.corrupt);
    let chunk = spec.chunk_size_bytes as usize;
    let dir = env.node_dir(node)?;
    let stored_max = max_stored(spec, chunk);
    let mut local = local_tier(ctx, &dir, stored_max)?;
    let mut off = offload_for(ctx, node)?;
    let mut out = NodeOut::new(ctx.mode, node);
    let (_, chunks) =
        ctx.catalog.first().ok_or_else(|| RunError::Published("no model was published".into()))?;
    let n = chunks.len() as u64;
    let stride = stored_max.div_ceil(4096) as u64 * 4096;
    let cache_shard = "cache";
    let shard_path = local.shard_path(cache_shard);
    // Nodes start at different chunks so peers can serve each other (a broadcast); the
    // peer plan says where (and who serves whom).
    let plan = PeerPlan::new(spec.nodes, n.max(1), spec.read_shift);
    let start = plan.start(node);
    // Where a chunk received for a peer goes when this node does not need it.
    let mut scratch = Vec::new();
    out.begin(ctx, &off)?;
    for epoch in 0..u64::from(PASSES) {
        if epoch == 1 {
            // Both passes start together, as separate phases.
            let t = Instant::now();
            ctx.sync.wait()?;
            ctx.waited(&mut off, t);
        }
        if epoch == 1 && corrupt > 0 {
            // Fault injection: damage cached chunks on disk between the passes.
            for i in 0..corrupt.min(n) {
                flip_byte(&shard_path, i * stride + (chunks[i as usize].stored_len as u64) / 2)
                    .map_err(|e| io_err(&shard_path, e))?;
            }
        }
        for k in 0..n {
            let i = (start + k) % n;
            let c = &chunks[i as usize];
            let t0 = off.now_ns();
            let key = CacheKey::for_chunk(u64::MAX, i).to_bytes();
            let slot = off.take_slot().ok_or_else(|| RunError::Job("no free slot".into()))?;
            let hit = lookup_in_slot(&mut off, &mut out, slot, i, key)?;
            let mut verified = false;
            if hit {
                out.hits += 1;
                let loc = read_hit(&mut off, &mut local, cache_shard, slot, &mut out)?;
                verified = verify_in_slot(&mut off, &mut out, spec, slot, loc.length, c.raw_len, loc.crc32c)?;
                if !verified {
                    out.verification.corrupt_detected += 1;
                    out.verification.refetched += 1;
                } else if let (0, Some(peers)) = (epoch, ctx.peers) {
                    let held = Held::At { path: shard_path.clone(), offset: loc.offset(), len: loc.length };
                    peers.hold(node, i, held);
                }
            } else {
                out.misses += 1;
            }
            // The cold pass with peer serving: every node takes part in every step (it may
            // serve others); the chunk it receives is used on a miss.
            let t_io = Instant::now();
            let from_peer = match (epoch, ctx.peers) {
                (0, Some(peers)) if verified => {
                    scratch.resize(stored_max, 0);
                    peers.step(node, k, &mut scratch)?;
                    None
                }
                (0, Some(peers)) => {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    peers.step(node, k, input)?
                }
                _ => None,
            };
            if !verified {
                // Miss (or a corrupt cached copy): a peer if one has it, else the blob tier;
                // a peer copy that does not verify is dropped for the blob tier's.
                let ok = fetch_missed(ctx, &mut off, &mut out, slot, c, from_peer, t_io)?;
                if !ok {
                    out.fail(format!("model chunk {i}: the blob tier's copy does not verify"));
                    if let (0, Some(peers)) = (epoch, ctx.peers) {
                        peers.hold(node, i, Held::Missing);
                    }
                    off.release(slot);
                    continue;
                }
                // Fill the cache: local tier, then the index.
                let offset = i * stride;
                let t_io = Instant::now();
                {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    local
                        .write_chunks(cache_shard, &[(offset, &input[..c.stored_len as usize])])
                        .map_err(tier_err)?;
                }
                out.io.record(t_io.elapsed().as_nanos() as u64);
                let loc = Location::new(TIER_LOCAL, 0, offset, c.stored_len, c.key.crc32c)?;
                insert_in_slot(&mut off, &mut out, slot, i, key, loc.to_bytes())?;
                if let (0, Some(peers)) = (epoch, ctx.peers) {
                    peers.hold(node, i, Held::At { path: shard_path.clone(), offset, len: c.stored_len });
                }
            }
            off.release(slot);
            let now = off.now_ns();
            out.chunk_done(&off, now, now.saturating_sub(t0), c.raw_len as u64);
            out.verification.chunks_checked += 1;
            out.verification.bytes_checked += c.raw_len as u64;
            if epoch == 1 {
                out.digest_items.push((node, i, c.stored_len as u64, c.key.crc32c));
            }
            prog.add(c.raw_len as u64);
        }
    }
    out.finish(&off);
    Ok(out)
}

/// A missed chunk (or a corrupt cached copy) into the slot, verified: from the peer that
/// sent it (`from_peer`, its length; received since `t_io`), else from the blob tier. A
/// peer's copy that does not verify is dropped for the blob tier's. Returns whether the
/// chunk in the slot verifies.
fn fetch_missed(
    ctx: &Ctx,
    off: &mut Offload,
    out: &mut NodeOut,
    slot: usize,
    c: &PubChunk,
    from_peer: Option<usize>,
    t_io: Instant,
) -> Result<bool, RunError> {
    let spec = ctx.spec;
    let mut ok = false;
    if let Some(len) = from_peer {
        out.io.record(t_io.elapsed().as_nanos() as u64);
        if len == c.stored_len as usize {
            out.peer_bytes += c.stored_len as u64;
            ok = verify_in_slot(off, out, spec, slot, c.stored_len, c.raw_len, c.key.crc32c)?;
            if !ok {
                out.verification.corrupt_detected += 1;
            }
        }
    }
    if !ok {
        let t_io = Instant::now();
        let data = ctx.env.blob.get_range_unverified(&c.key, 0..c.stored_len as u64).map_err(tier_err)?;
        let (input, _) = off.slot(slot).map_err(off_err)?;
        input[..data.len()].copy_from_slice(&data);
        out.blob_egress_bytes += data.len() as u64;
        out.io.record(t_io.elapsed().as_nanos() as u64);
        ok = verify_in_slot(off, out, spec, slot, c.stored_len, c.raw_len, c.key.crc32c)?;
    }
    Ok(ok)
}
