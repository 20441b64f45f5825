//! Fan-out read, modelled: its definition (`crate::scenario::fan_out_read`) as events
//! on the cluster model ([`super::model`]).
//!
//! Per block, lookup -> fetch (or local read) -> verify -> fill -> insert; a cold pass,
//! then, once every node is done with it, a warm pass. A live offload node keeps that wait
//! off its own clock (its clock is virtual); here every clock is the model's, so a node's
//! completion includes it, as a real node's would.

#![forbid(unsafe_code)]

use crate::scale::costs::DeviceJob;
use crate::scale::model::{Ev, Model, Step, NO_HOLDER};
use crate::scale::ScaleError;
use crate::scenario::fan_out_read::PASSES;
use dpukit_sim::timing::SimTime;

pub(super) fn fan_out_read(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let k = m.blocks;
    let block = m.state[ni].next % k;
    let b = m.blocks_len(block);
    let off = m.offload();
    match ev.step {
        Step::Lookup => {
            m.state[ni].block_start_ns = now.as_ns();
            // Warm pass hits when the node's cache holds the whole object; a cyclic scan
            // larger than the cache evicts each chunk before it comes round again.
            let cached_chunks = m.chunks_per_object();
            let fits = cached_chunks <= m.spec.cache_capacity_chunks.max(16)
                && cached_chunks * m.c.stored <= m.cluster.local_capacity_bytes;
            m.state[ni].hit = m.state[ni].epoch == 1 && fits;
            let t = if off {
                m.device(node, now, DeviceJob::Lookup, b)
            } else {
                m.cpu(node, now, m.c.jobs.lookup_ns * f64::from(b))
            };
            m.schedule(t, node, 0, Step::Fetch)
        }
        Step::Fetch => {
            let stored = m.c.stored * u64::from(b);
            let t = if m.state[ni].hit {
                m.hits += u64::from(b);
                m.cpu(node, now, m.c.local_read_ns * f64::from(b))
            } else {
                m.misses += u64::from(b);
                let (h, ready_ns) = m.holder[block as usize];
                if m.spec.peer_serving && h != NO_HOLDER {
                    m.state[ni].from_peer = true;
                    m.peer_bytes += stored;
                    let from = SimTime::from_ns(ready_ns).max(now);
                    let received = if h == node { from } else { m.transfer(node, from, stored, Some(h), b) };
                    m.cpu(node, received, m.c.local_read_ns * f64::from(b))
                } else {
                    m.state[ni].from_peer = false;
                    m.egress_bytes += stored;
                    let received = m.transfer(node, now, stored, None, b);
                    let t = m.blob_get(node, received, b);
                    if m.spec.peer_serving && m.holder[block as usize].0 == NO_HOLDER {
                        m.holder[block as usize] = (node, t.as_ns());
                    }
                    t
                }
            };
            m.schedule(t, node, 0, Step::Verify)
        }
        Step::Verify => {
            let t = if off {
                m.device(node, now, DeviceJob::Verify, b)
            } else {
                m.cpu(node, now, m.c.jobs.verify_ns * f64::from(b))
            };
            if m.state[ni].hit {
                next_read_block(m, node, t)
            } else {
                m.schedule(t, node, 0, Step::Fill)
            }
        }
        Step::Fill => {
            let wall = (m.c.local_write_op_ns + m.c.local_write_byte_ns * m.c.stored as f64) * f64::from(b);
            let t = m.io(node, now, wall, m.c.local_write);
            m.schedule(t, node, 0, Step::Insert)
        }
        Step::Insert => {
            let t = if off {
                m.device(node, now, DeviceJob::Insert, b)
            } else {
                m.cpu(node, now, m.c.jobs.insert_ns * f64::from(b))
            };
            next_read_block(m, node, t)
        }
        _ => Ok(()),
    }
}

pub(super) fn next_read_block(m: &mut Model<'_>, node: u32, t: SimTime) -> Result<(), ScaleError> {
    let ni = node as usize;
    let block = m.state[ni].next % m.blocks;
    let b = m.blocks_len(block);
    let start = m.state[ni].block_start_ns;
    m.finish_chunks(node, b, start, t);
    let st = &mut m.state[ni];
    st.next += 1;
    st.done_blocks += 1;
    if st.done_blocks == m.blocks {
        st.done_blocks = 0;
        st.epoch += 1;
        if u32::from(st.epoch) >= PASSES {
            return Ok(());
        }
        // The warm pass starts on every node at once, when the last one is done with the
        // cold pass (the live run's barrier between the passes).
        m.cold_done += 1;
        m.cold_end = m.cold_end.max(t);
        if m.cold_done < m.spec.nodes {
            return Ok(());
        }
        for n in 0..m.spec.nodes {
            m.schedule(m.cold_end, n, 0, Step::Lookup)?;
        }
        return Ok(());
    }
    m.schedule(t, node, 0, Step::Lookup)
}
