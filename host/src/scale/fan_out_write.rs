//! Fan-out write, modelled: its definition (`crate::scenario::fan_out_write`) as events
//! on the cluster model ([`super::model`]).
//!
//! Issue (generate [+ compress + CRC on the host]) -> [device compress -> device CRC] ->
//! stage; commit every `batch` chunks to the write pipeline; acknowledge the durable ones
//! (manifest append); background copy to the blob tier.

#![forbid(unsafe_code)]

use crate::scale::costs::ns;
use crate::scale::costs::{DeviceJob, Shapes};
use crate::scale::model::{Ev, Model, PendingWrite, Step, Unrung};
use crate::scale::ScaleError;
use crate::scenario::fan_out_write::write_batches_in_flight;
use dpukit_sim::timing::SimTime;
use std::cmp::Reverse;

pub(super) fn fan_out_write(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let off = m.offload();
    match ev.step {
        Step::Issue => {
            m.state[ni].issue_pending = false;
            let st = m.state[ni];
            if st.next >= m.blocks || st.in_flight >= m.spec.queue_depth {
                return Ok(());
            }
            let token = st.next;
            let b = m.blocks_len(token);
            m.state[ni].next += 1;
            m.state[ni].in_flight += 1;
            let fb = f64::from(b);
            let t = if off {
                m.cpu(node, now, m.c.datagen_ns * fb)
            } else {
                let produce = m.c.jobs.produce_stages_ns;
                m.cpu(node, now, (m.c.datagen_ns + produce + m.c.host_job_ns + m.c.memcpy_stored_ns) * fb)
            };
            let slot = m.issued_slot(node, token);
            m.issued_ns[slot] = now.as_ns();
            if m.state[ni].staged_chunks == 0 && m.state[ni].block_start_ns == 0 {
                m.state[ni].block_start_ns = now.as_ns();
            }
            let t = if off {
                // The chain's first job now; the rest when it is done.
                let chained = m.shapes.as_ref().is_some_and(|s| s.produce_jobs() > 1);
                let then = if chained { Step::Produced } else { Step::Checked };
                m.submit_device(node, t, Unrung { token, chunks: b, job: DeviceJob::Produce(0), then })?
            } else {
                m.schedule(t, node, token, Step::Checked)?;
                t
            };
            if m.state[ni].next < m.blocks && m.state[ni].in_flight < m.spec.queue_depth {
                m.state[ni].issue_pending = true;
                m.schedule(t, node, 0, Step::Issue)?;
            } else if off {
                // No slot left to fill: the live thread waits for a completion, which
                // rings the doorbell for what it submitted.
                m.ring(node, t)?;
            }
            Ok(())
        }
        Step::Produced => {
            let b = m.blocks_len(ev.token);
            let jobs = m.shapes.as_ref().map_or(0, Shapes::produce_jobs);
            let mut done = now;
            for k in 1..jobs {
                done = m.device(node, done, DeviceJob::Produce(k), b);
            }
            m.schedule(done, node, ev.token, Step::Checked)
        }
        Step::Checked => {
            let b = m.blocks_len(ev.token);
            let t = if off { m.cpu(node, now, m.c.memcpy_stored_ns * f64::from(b)) } else { now };
            let st = &mut m.state[ni];
            st.in_flight -= 1;
            st.staged_chunks += b;
            let last = st.next >= m.blocks && st.in_flight == 0;
            let mut t = t;
            if st.staged_chunks >= m.spec.batch || last {
                let staged = st.staged_chunks;
                st.staged_chunks = 0;
                let start = st.block_start_ns;
                let calls = staged.div_ceil(m.spec.batch);
                let bytes = m.c.stored as f64 * f64::from(staged);
                // A call's first chunk costs what a write of one chunk does; every byte
                // after it, what a byte of a batch does.
                let first = m.c.local_write_op_ns + m.c.local_write_byte_ns * m.c.stored as f64;
                let more = bytes - f64::from(calls) * m.c.stored as f64;
                let write = first * f64::from(calls) + m.c.local_write_more_byte_ns * more;
                // The local tier's write pipeline, as the live `commit` drives it: the
                // batches handed over before have their syncs pushed now (the pipeline
                // pushes a batch's fdatasync once it has reaped its writes, at the node's
                // next call); with the pipeline full, the thread waits for the oldest and
                // acknowledges it; it hands this batch over and acknowledges those already
                // durable. The last commit pushes its own sync and waits for them all.
                start_pending_writes(m, node, t);
                let limit = write_batches_in_flight(m.spec) as u32;
                while let Some(&oldest) = m.writes[ni].front() {
                    let queued: u32 = m.writes[ni].iter().map(|w| w.batches).sum();
                    if queued + calls <= limit {
                        break;
                    }
                    m.writes[ni].pop_front();
                    t = acknowledge_write(m, node, t, oldest);
                }
                m.writes[ni].push_back(PendingWrite {
                    done: None,
                    wall_ns: write,
                    chunks: staged,
                    batches: calls,
                    start_ns: start,
                });
                if last {
                    start_pending_writes(m, node, t);
                }
                while let Some(&oldest) = m.writes[ni].front() {
                    if !last && oldest.done.is_none_or(|d| d > t) {
                        break;
                    }
                    m.writes[ni].pop_front();
                    t = acknowledge_write(m, node, t, oldest);
                }
                m.state[ni].block_start_ns = t.as_ns();
            }
            if !m.state[ni].issue_pending && m.state[ni].next < m.blocks {
                m.state[ni].issue_pending = true;
                m.schedule(t, node, 0, Step::Issue)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Pushes the syncs of the node's batches handed over and not yet syncing, at `t`, in
/// order (see [`Model::pipelined_io`]).
pub(super) fn start_pending_writes(m: &mut Model<'_>, node: u32, t: SimTime) {
    let ni = node as usize;
    for k in 0..m.writes[ni].len() {
        if m.writes[ni][k].done.is_none() {
            let wall = m.writes[ni][k].wall_ns;
            let done = m.pipelined_io(node, t, wall, m.c.batch_write);
            m.writes[ni][k].done = Some(done);
        }
    }
}

/// Acknowledges a commit on the node's thread once it is durable (at `t` or later), as the
/// live `acknowledge`: its manifest records appended (with their sync), its chunks done,
/// their background copy queued, and the copies finished by then marked in the manifest
/// (one more append with its sync, when there are any). Returns when the thread is free
/// again.
pub(super) fn acknowledge_write(m: &mut Model<'_>, node: u32, t: SimTime, w: PendingWrite) -> SimTime {
    let ni = node as usize;
    let t = t.max(w.done.unwrap_or(t));
    let manifest = m.c.manifest_op_ns * f64::from(w.batches) + m.c.manifest_record_ns * f64::from(w.chunks);
    let t = m.io(node, t, manifest, m.c.manifest);
    m.finish_chunks(node, w.chunks, w.start_ns, t);
    m.stored_bytes += m.c.stored * u64::from(w.chunks);
    // The background copy: one copier thread on the machine's cores when colocated; the
    // NIC and the blob tier in a cluster. Off the critical path.
    let put_wall = m.c.blob_put_ns * f64::from(w.chunks);
    let cores = m.nodes[ni].cores;
    let cpu = ns(put_wall * m.c.blob_put_cpu_share);
    let copied = if m.cluster.colocated {
        // Its CPU is booked on the cores now: a core's units are served in order, and CPU
        // booked where a backlogged copier would start would hold a core idle until then,
        // where the live scheduler runs the data path in the meantime.
        let copy = m.arena.book(m.copier, t, ns(put_wall));
        m.arena.book(cores, t, cpu);
        m.host_cpu_ns += put_wall * m.c.blob_put_cpu_share;
        copy.end
    } else {
        m.arena.book(cores, t, cpu);
        m.host_cpu_ns += put_wall * m.c.blob_put_cpu_share;
        m.upload(node, t, m.c.stored * u64::from(w.chunks))
    };
    m.blob_put_bytes += m.c.stored * u64::from(w.chunks);
    m.copies[ni].push(Reverse((copied, w.chunks)));
    let mut marks = 0u32;
    while let Some(&Reverse((end, chunks))) = m.copies[ni].peek() {
        if end > t {
            break;
        }
        marks += chunks;
        m.copies[ni].pop();
    }
    if marks == 0 {
        return t;
    }
    let mark = m.c.manifest_op_ns + m.c.manifest_record_ns * f64::from(marks);
    let t = m.io(node, t, mark, m.c.manifest);
    // The node's time runs until its thread is done with the last acknowledgement.
    let st = &mut m.state[ni];
    st.end_ns = st.end_ns.max(t.as_ns());
    t
}
