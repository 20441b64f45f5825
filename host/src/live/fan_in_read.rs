//! Fan-in read, live: readers fetch every shard the writers produced from the blob tier,
//! `read_concurrency` chunks at once, and verify each.

#![forbid(unsafe_code)]

use crate::live::env::{off_err, offload_for, tier_err};
use crate::live::jobs::SlotChunk;
use crate::live::node::{Ctx, NodeOut};
use crate::live::publish::{ObjectName, PubChunk};
use crate::run::RunError;
use crate::scenario::fan_in_read::shards_of;
use crate::scenario::verify;
use std::collections::HashMap;
use std::time::Instant;

// Fan-in read

pub(super) fn fan_in_read(ctx: &Ctx, reader: u32) -> Result<NodeOut, RunError> {
    let (spec, env, prog) = (ctx.spec, ctx.env, ctx.prog);
    let mut off = offload_for(ctx, reader)?;
    let mut out = NodeOut::new(ctx.mode, reader);
    // The shards this reader reads, in order (the catalog holds every writer's, by writer).
    let mine = shards_of(spec, reader)
        .map(|w| {
            ctx.catalog
                .get(w as usize)
                .ok_or_else(|| RunError::Published(format!("the shard of node {w} was not published")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let verify = verify(spec);
    out.begin(ctx, &off)?;
    let mut work = mine
        .iter()
        .flat_map(|(name, chunks)| chunks.iter().enumerate().map(move |(i, c)| (*name, i as u64, c)));
    let mut started: HashMap<usize, (ObjectName, u64, PubChunk, u64)> = HashMap::new();
    let mut exhausted = false;
    let read_concurrency = spec.blob_options.read_concurrency.max(1) as usize;
    loop {
        // Fill free slots, fetching up to `read_concurrency` chunks from the blob tier at
        // once; each is verified (CRC32C, decompression) when its job finishes.
        while !exhausted {
            let mut batch = Vec::with_capacity(read_concurrency);
            while batch.len() < read_concurrency {
                let Some(slot) = off.take_slot() else { break };
                let Some((name, i, c)) = work.next() else {
                    off.release(slot);
                    exhausted = true;
                    break;
                };
                batch.push((slot, name, i, c, off.now_ns()));
            }
            if batch.is_empty() {
                break;
            }
            let reqs: Vec<_> =
                batch.iter().map(|(_, _, _, c, _)| (c.key.clone(), 0..c.stored_len as u64)).collect();
            let t_io = Instant::now();
            let fetched = env.blob.get_ranges_unverified(&reqs).map_err(tier_err)?;
            let io_ns = t_io.elapsed().as_nanos() as u64;
            for ((slot, name, i, c, t0), data) in batch.into_iter().zip(fetched) {
                out.io.record(io_ns);
                out.blob_egress_bytes += data.len() as u64;
                {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    input[..data.len()].copy_from_slice(&data);
                }
                let ops = SlotChunk::stored(c.stored_len, c.raw_len).ops(&verify);
                off.submit(slot, slot as u64, &ops).map_err(off_err)?;
                started.insert(slot, (name, i, c.clone(), t0));
            }
        }
        // Collect the `read_concurrency` earliest finished jobs (or all there are), so the
        // next fill fetches that many chunks at once again: collecting one job and
        // refilling its slot would fetch one chunk at a time once the queue is full.
        let want = read_concurrency.min(off.in_flight());
        if want == 0 {
            break;
        }
        for _ in 0..want {
            let Some(f) = off.next_finished().map_err(off_err)? else { break };
            out.record_ops(&f);
            let (name, i, c, t0) = started.remove(&f.slot).expect("started job");
            if !SlotChunk::stored(c.stored_len, c.raw_len).verifies(&verify, &f, c.key.crc32c) {
                out.verification.corrupt_detected += 1;
                out.fail(format!("{} chunk {i}: does not verify", name.shard()));
            }
            off.release(f.slot);
            let now = off.now_ns();
            out.chunk_done(&off, now, now.saturating_sub(t0), c.raw_len as u64);
            out.verification.chunks_checked += 1;
            out.verification.bytes_checked += c.raw_len as u64;
            let writer = match name {
                ObjectName::Shard(n) => n,
                ObjectName::Model => u32::MAX,
            };
            out.digest_items.push((writer, i, c.stored_len as u64, c.key.crc32c));
            prog.add(c.raw_len as u64);
        }
    }
    out.finish(&off);
    Ok(out)
}
