//! KV cache, modelled: its definition (`crate::scenario::kv_cache`) as events
//! on the cluster model ([`super::model`]).
//!
//! The live scenario's seeded requests; each block a lookup, then a hit (local read,
//! verify) or a miss (produce, compress, CRC, store, insert).

#![forbid(unsafe_code)]

use crate::scale::costs::{DeviceJob, Shapes};
use crate::scale::model::{Ev, Model, Step};
use crate::scale::ScaleError;
use crate::spec::ScenarioSpec;
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_sim::timing::SimTime;

/// Per node, per request: (hits, misses) of its blocks, from the real cache index.
pub(super) fn kv_plan(spec: &ScenarioSpec) -> Vec<Vec<(u32, u32)>> {
    let capacity = spec.cache_capacity_chunks.max(16) as usize;
    (0..spec.nodes)
        .map(|node| {
            let cache = CacheIndex::new(capacity).expect("capacity >= 16");
            let loc = Location::new(1, 0, 0, 1, 0).expect("valid location");
            // The live scenario's own request stream, so both see the same keys.
            crate::scenario::kv_cache::kv_requests(spec, node)
                .into_iter()
                .map(|(doc, blocks)| {
                    let mut hm = (0u32, 0u32);
                    for b in 0..blocks {
                        let key = CacheKey::for_chunk(doc, b);
                        if cache.lookup(key).is_some() {
                            hm.0 += 1;
                        } else {
                            hm.1 += 1;
                            cache.insert(key, loc);
                        }
                    }
                    hm
                })
                .collect()
        })
        .collect()
}

pub(super) fn kv_cache(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let off = m.offload();
    let req = m.state[ni].kv_req as usize;
    let Some(&(h, mi)) = m.kv[ni].get(req) else { return Ok(()) };
    let fh = f64::from(h);
    let fm = f64::from(mi);
    match ev.step {
        Step::Lookup => {
            m.state[ni].block_start_ns = now.as_ns();
            let n = h + mi;
            let t = if off {
                m.device(node, now, DeviceJob::Lookup, n)
            } else {
                m.cpu(node, now, m.c.jobs.lookup_ns * f64::from(n))
            };
            m.schedule(t, node, 0, Step::Verify)
        }
        Step::Verify => {
            // Hits: read the block and verify it.
            m.hits += u64::from(h);
            let mut t = m.cpu(node, now, m.c.local_read_ns * fh);
            if h > 0 {
                t = if off {
                    m.device(node, t, DeviceJob::Verify, h)
                } else {
                    m.cpu(node, t, m.c.jobs.verify_ns * fh)
                };
            }
            m.schedule(t, node, 0, Step::Fetch)
        }
        Step::Fetch => {
            // Misses: produce the block (prefill), compress, CRC.
            m.misses += u64::from(mi);
            let mut t = m.cpu(node, now, m.c.datagen_ns * fm);
            if mi > 0 {
                if off {
                    let jobs = m.shapes.as_ref().map_or(0, Shapes::produce_jobs);
                    for k in 0..jobs {
                        t = m.device(node, t, DeviceJob::Produce(k), mi);
                    }
                } else {
                    t = m.cpu(node, t, (m.c.jobs.produce_stages_ns + m.c.host_job_ns) * fm);
                }
            }
            m.schedule(t, node, 0, Step::Fill)
        }
        Step::Fill => {
            let wall = (m.c.local_write_op_ns + m.c.local_write_byte_ns * m.c.stored as f64) * fm;
            let t = m.io(node, now, wall, m.c.local_write);
            m.stored_bytes += m.c.stored * u64::from(mi);
            m.schedule(t, node, 0, Step::Insert)
        }
        Step::Insert => {
            let t = if mi == 0 {
                now
            } else if off {
                m.device(node, now, DeviceJob::Insert, mi)
            } else {
                m.cpu(node, now, m.c.jobs.insert_ns * fm)
            };
            let start = m.state[ni].block_start_ns;
            m.finish_chunks(node, h + mi, start, t);
            m.state[ni].kv_req += 1;
            if (m.state[ni].kv_req as usize) < m.kv[ni].len() {
                m.schedule(t, node, 0, Step::Lookup)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
