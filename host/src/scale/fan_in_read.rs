//! Fan-in read, modelled: its definition (`crate::scenario::fan_in_read`) as events
//! on the cluster model ([`super::model`]).
//!
//! Readers fetch every shard's blocks from the blob tier, `read_concurrency` at a time
//! (blocking), then verify (host CPU, or the device while the reader fetches the next);
//! with its slots full, a reader collects that many finished jobs before it fetches again.

#![forbid(unsafe_code)]

use crate::scale::costs::DeviceJob;
use crate::scale::model::{Ev, Model, Step, Unrung};
use crate::scale::ScaleError;
use crate::scenario::fan_in_read::shard_count;
use dpukit_sim::timing::SimTime;

pub(super) fn fan_in_read(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let off = m.offload();
    let lanes = m.spec.blob_options.read_concurrency.max(1);
    // Reader r reads shards r, r + readers, ...; token = index into its own work list.
    let my_shards = shard_count(m.spec, node);
    let total = my_shards * m.blocks;
    match ev.step {
        // The reader's thread fills free slots, `read_concurrency` tokens per fetch, as the
        // live reader does; with none free (or nothing left) it collects finished jobs.
        Step::Issue => {
            let st = m.state[ni];
            let k = lanes.min(m.spec.queue_depth - st.in_flight).min(total - st.next);
            if k == 0 {
                // Waiting for completions rings the doorbell for what it submitted.
                if off {
                    m.ring(node, now)?;
                }
                return fan_in_collect(m, node, now);
            }
            let first = st.next;
            let chunks: u32 = (first..first + k).map(|t| m.blocks_len(t % m.blocks)).sum();
            m.state[ni].next += k;
            m.state[ni].in_flight += k;
            m.state[ni].fetch_batch = k;
            let stored = m.c.stored * u64::from(chunks);
            m.egress_bytes += stored;
            let received = m.transfer(node, now, stored, None, chunks.div_ceil(lanes));
            let t = m.blob_get_batch(node, received, chunks, lanes);
            for token in first..first + k {
                let slot = m.issued_slot(node, token);
                m.issued_ns[slot] = now.as_ns();
            }
            m.schedule(t, node, first, Step::Fetched)?;
            Ok(())
        }
        // Each fetched token submitted in turn: verified on the CPU, or handed to the device
        // while the thread goes on.
        Step::Fetched => {
            let mut t = now;
            for token in ev.token..ev.token + m.state[ni].fetch_batch {
                let b = m.blocks_len(token % m.blocks);
                let fb = f64::from(b);
                if off {
                    let job = Unrung { token, chunks: b, job: DeviceJob::Verify, then: Step::Done };
                    t = m.submit_device(node, t, job)?;
                    t = t.max(m.arena.earliest_free(m.nodes[ni].thread));
                } else {
                    t = m.cpu(node, t, m.c.jobs.verify_ns * fb);
                    m.schedule(t, node, token, Step::Done)?;
                }
            }
            m.schedule(t, node, 0, Step::Issue)?;
            Ok(())
        }
        Step::Done => {
            let b = m.blocks_len(ev.token % m.blocks);
            // Latency of a block: from its fetch to its verification, per chunk.
            let start = m.issued_ns[m.issued_slot(node, ev.token)];
            m.finish_chunks(node, b, start, now);
            let st = &mut m.state[ni];
            st.finished += 1;
            if st.collecting > 0 && st.finished >= st.collecting {
                fan_in_take(m, node, now)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The fan-in reader's thread has no slot to fill: it collects the `read_concurrency`
/// earliest finished jobs (or all in flight), now if they are done, else when they are.
pub(super) fn fan_in_collect(m: &mut Model<'_>, node: u32, now: SimTime) -> Result<(), ScaleError> {
    let st = &mut m.state[node as usize];
    let want = m.spec.blob_options.read_concurrency.max(1).min(st.in_flight);
    if want == 0 {
        return Ok(());
    }
    st.collecting = want;
    if st.finished >= want {
        fan_in_take(m, node, now)?;
    }
    Ok(())
}

/// The collected jobs free their slots, and the thread goes back to filling them.
pub(super) fn fan_in_take(m: &mut Model<'_>, node: u32, now: SimTime) -> Result<(), ScaleError> {
    let st = &mut m.state[node as usize];
    st.in_flight -= st.collecting;
    st.finished -= st.collecting;
    st.collecting = 0;
    m.schedule(now, node, 0, Step::Issue)
}
