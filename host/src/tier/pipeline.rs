//! Pipelined durable writes to the local tier: the writes of batch N+1 flow while batch N's
//! fdatasync runs, and each batch is acknowledged only once a sync covering all of its writes
//! has completed.
//!
//! **API.** [`LocalTier::write_pipeline`] borrows the tier and returns a [`WritePipeline`]
//! that holds at most `max_batches_in_flight` batches (submitted, not yet collected).
//! [`WritePipeline::submit`] takes one batch of `(offset_bytes, Bytes)` chunks of one shard,
//! starts its writes and returns its [`BatchId`] without waiting. [`WritePipeline::wait`]
//! returns the oldest batch's [`BatchAcks`] once it is durable; [`WritePipeline::poll`] does
//! the same without blocking. Acks come out in submission order, each batch once. The
//! pipeline owns each batch's `Bytes` until the kernel is done with them, so no caller memory
//! is in flight between calls. [`LocalTier::write_chunks`] is submit + wait on a pipeline of
//! depth 1.
//!
//! **Ordering rule (io_uring).** io_uring may start SQEs in any order: an `IORING_OP_FSYNC`
//! does not wait for write SQEs pushed before it unless they are linked (`IOSQE_IO_LINK`) or
//! it is drained (`IOSQE_IO_DRAIN`). A link chain would serialise the writes, and a drained
//! sync also holds back every SQE pushed after it until it completes, which is the stall
//! this pipeline exists to remove. So neither flag is used; instead **a batch's fdatasync is
//! pushed only after the completions of all of its writes have been reaped** (short writes
//! resubmitted and completed too). Writes of later batches are pushed as pool slots free up,
//! whatever syncs are in flight. At most one fdatasync per shard file is in flight; when one
//! is pushed it covers every batch of that file whose writes have all completed (group
//! commit), and a batch that completes its writes while its file's sync runs waits for the
//! next one. One sync at a time per file keeps errors attributable: the kernel reports a
//! writeback error once per open file, to whichever fsync looks first, so two concurrent
//! syncs could let one succeed whose pages were lost. With [`Durability::Dsync`] there are no
//! syncs: a batch is durable once all of its writes completed.
//!
//! **Errors.** A batch refused at the boundary (bad shard name, misaligned O_DIRECT request,
//! shard file that cannot be created or opened, pipeline full) is an error from `submit`;
//! nothing of it was written and the pipeline carries on. A write or sync that fails (ENOSPC,
//! EFBIG, EIO, ...) fails its batch K: from then on nothing is issued for K or any later
//! batch, while earlier batches complete and are acknowledged as usual. When K reaches the
//! front, `wait`/`poll` reap every operation the kernel still holds and return the error
//! (naming the operation and the file) in place of K's acks. K and every later batch are
//! never acknowledged, even if some of their writes or syncs succeed. After that, `submit`,
//! `wait` and `poll` return [`TierError::PipelineFailed`], which repeats the cause.
//!
//! **Portable backend.** Without io_uring, `submit` writes and syncs the batch before it
//! returns (pwrite, then fdatasync); its outcome is held and delivered by `wait` in order,
//! under the same rules, so callers see one behaviour.
//!
//! **Leaks.** Dropping a pipeline reaps every operation it started (nothing more is
//! acknowledged). A pipeline that is leaked instead (`mem::forget`) leaves the tier refusing
//! all further work ([`TierError::Poisoned`]), as its operations may still own pool buffers.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use bytes::Bytes;
use io_uring::{opcode, types};

use super::local::{
    abort_if_caller_memory_in_flight, push_entry, submit_and_wait, Ack, BufferPool, Durability, LocalTier,
    Piece, ShardFile, Uring,
};
use super::TierError;

/// Most batches one pipeline may hold (submitted and not yet collected).
pub const MAX_BATCHES_IN_FLIGHT: usize = 64;
/// Most events an event log keeps; later events are counted, not stored.
pub const MAX_PIPELINE_EVENTS: usize = 1 << 20;
/// `user_data` bit of fdatasync entries (the low bits count syncs); writes carry their slot.
const SYNC_TAG_BIT: u64 = 1 << 63;

/// Sequence number of a batch in its pipeline, from 0 in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(u64);

impl BatchId {
    /// The sequence number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Acknowledgement of one durable batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAcks {
    /// The batch.
    pub batch: BatchId,
    /// Its shard.
    pub shard: String,
    /// One ack per chunk, in the order submitted.
    pub acks: Vec<Ack>,
}

/// What the pipeline did, in order, when an event log is on ([`WritePipeline::log_events`]).
/// Tests check the ordering rule with it; the same events are logged by both backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineEvent {
    /// The batch was accepted.
    Submitted(BatchId),
    /// Every write of the batch completed.
    Written(BatchId),
    /// An fdatasync was pushed (io_uring) or called (portable), covering these batches.
    SyncPushed {
        /// Sequence number of the sync in this pipeline.
        sync: u64,
        /// The batches it covers, all of them `Written` before it was pushed.
        covers: Vec<BatchId>,
    },
    /// The fdatasync completed; `ok` is false when it failed.
    SyncDone {
        /// Sequence number of the sync.
        sync: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// An operation of the batch failed: it and later batches will not be acknowledged.
    Failed(BatchId),
    /// The batch's acks were handed to the caller.
    Acked(BatchId),
}

/// Bytes of one chunk while its batch is in the pipeline.
enum ChunkBytes {
    /// Owned by the batch. `Bytes` never moves its data, so pointers into it stay valid for
    /// as long as the batch holds it.
    Owned(Bytes),
    /// Borrowed from the caller of [`WritePipeline::submit_borrowed`], whose contract keeps
    /// the memory valid and unchanged for the pipeline's whole life.
    Borrowed { ptr: *const u8, len: usize },
}

impl ChunkBytes {
    fn len(&self) -> usize {
        match self {
            ChunkBytes::Owned(b) => b.len(),
            ChunkBytes::Borrowed { len, .. } => *len,
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            ChunkBytes::Owned(b) => b,
            // SAFETY: `Borrowed` is built only by `submit_borrowed` from a live `&[u8]`, whose
            // caller guarantees it stays valid and unchanged until the pipeline is dropped;
            // the batch holding this value lives in the pipeline.
            ChunkBytes::Borrowed { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }
}

/// Where a batch is on its way to durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Some pieces are not yet written (pushed or not).
    Writing,
    /// Every write completed; waiting for a sync to be pushed.
    Written,
    /// Covered by the fdatasync with this tag, in flight.
    Syncing(u64),
    /// Durable: may be acknowledged.
    Durable,
}

struct Batch {
    id: BatchId,
    shard: String,
    file: Arc<ShardFile>,
    chunks: Vec<(u64, ChunkBytes)>,
    pieces: Vec<Piece>,
    /// Next piece to push.
    next_piece: usize,
    /// Pieces not yet completely written.
    pieces_left: usize,
    stage: Stage,
}

/// A write the kernel owns: its pool slot stays busy until its completion is reaped.
#[derive(Debug, Clone, Copy)]
struct WriteOp {
    batch: BatchId,
    piece: usize,
    done_bytes: usize,
    /// Start of the piece's bytes: a pool slot (O_DIRECT) or the batch's chunk (buffered).
    buf: *const u8,
    /// `buf` is a registered pool slot (`WRITE_FIXED`).
    fixed: bool,
}

struct Failure {
    /// The error of the earliest failed batch; taken when `wait`/`poll` return it.
    error: Option<TierError>,
    /// Its message, repeated by [`TierError::PipelineFailed`].
    cause: String,
    /// The earliest failed batch: it and every later one are never acknowledged.
    batch: BatchId,
}

/// A bounded pipeline of durable write batches on one [`LocalTier`]; see the module docs.
pub struct WritePipeline<'t> {
    tier: &'t mut LocalTier,
    max_batches: usize,
    next_id: u64,
    /// Batches in submission order, from the oldest not yet collected.
    batches: VecDeque<Batch>,
    /// One entry per pool slot.
    slots: Vec<Option<WriteOp>>,
    free: Vec<usize>,
    /// Slots whose write came back short, to be pushed again for the rest.
    retry: Vec<usize>,
    /// Entries pushed and not yet reaped (writes and syncs).
    ops_in_flight: usize,
    /// Shard files with an fdatasync in flight, with its tag.
    syncs_in_flight: Vec<(String, u64)>,
    next_sync: u64,
    failure: Option<Failure>,
    /// Dropping: issue nothing more.
    closing: bool,
    /// The ring failed: operations may still own memory, which must never be freed.
    broken: bool,
    completions: Vec<(u64, i32)>,
    events: Option<EventLog>,
}

struct EventLog {
    limit: usize,
    events: Vec<PipelineEvent>,
    dropped: u64,
}

impl LocalTier {
    /// Starts a write pipeline holding at most `max_batches_in_flight` batches
    /// (1..=[`MAX_BATCHES_IN_FLIGHT`]). The pipeline borrows the tier until it is dropped.
    pub fn write_pipeline(&mut self, max_batches_in_flight: usize) -> Result<WritePipeline<'_>, TierError> {
        self.usable()?;
        if max_batches_in_flight == 0 || max_batches_in_flight > MAX_BATCHES_IN_FLIGHT {
            return Err(TierError::BadConfig {
                field: "max_batches_in_flight",
                reason: format!("must be 1..={MAX_BATCHES_IN_FLIGHT}, got {max_batches_in_flight}"),
            });
        }
        let depth = self.pool.len();
        self.pipeline_open = true;
        Ok(WritePipeline {
            tier: self,
            max_batches: max_batches_in_flight,
            next_id: 0,
            batches: VecDeque::with_capacity(max_batches_in_flight),
            slots: vec![None; depth],
            free: (0..depth).rev().collect(),
            retry: Vec::new(),
            ops_in_flight: 0,
            syncs_in_flight: Vec::new(),
            next_sync: 0,
            failure: None,
            closing: false,
            broken: false,
            completions: Vec::with_capacity(depth + max_batches_in_flight),
            events: None,
        })
    }
}

impl WritePipeline<'_> {
    /// Most batches held at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_batches
    }

    /// Batches submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.batches.len()
    }

    /// Whether `submit` would be refused for want of room: collect a batch first.
    pub fn is_full(&self) -> bool {
        self.batches.len() >= self.max_batches
    }

    /// Starts (or restarts, emptied) an event log keeping at most `limit` events (capped at
    /// [`MAX_PIPELINE_EVENTS`]).
    pub fn log_events(&mut self, limit: usize) {
        self.events =
            Some(EventLog { limit: limit.min(MAX_PIPELINE_EVENTS), events: Vec::new(), dropped: 0 });
    }

    /// Takes the events logged so far and how many were dropped past the limit.
    pub fn take_events(&mut self) -> (Vec<PipelineEvent>, u64) {
        match self.events.as_mut() {
            Some(log) => (std::mem::take(&mut log.events), std::mem::take(&mut log.dropped)),
            None => (Vec::new(), 0),
        }
    }

    /// Accepts one batch of chunks for `shard` and starts writing it; returns at once.
    /// Its acks (or its error) come from [`wait`](Self::wait) or [`poll`](Self::poll), in
    /// submission order.
    pub fn submit(&mut self, shard: &str, chunks: Vec<(u64, Bytes)>) -> Result<BatchId, TierError> {
        let chunks = chunks.into_iter().map(|(o, b)| (o, ChunkBytes::Owned(b))).collect();
        self.submit_chunks(shard, chunks)
    }

    /// [`submit`](Self::submit) for borrowed bytes, without copying them.
    ///
    /// # Safety
    ///
    /// Every slice in `chunks` must stay valid and unchanged until this pipeline is dropped
    /// (not merely until the batch is collected: a failed pipeline reaps late). Dropping the
    /// pipeline reaps every operation, and aborts the process if the ring fails with
    /// borrowed bytes in flight; leaking the pipeline (`mem::forget`) breaks the contract.
    pub(super) unsafe fn submit_borrowed(
        &mut self,
        shard: &str,
        chunks: &[(u64, &[u8])],
    ) -> Result<BatchId, TierError> {
        let chunks = chunks
            .iter()
            .map(|(o, d)| (*o, ChunkBytes::Borrowed { ptr: d.as_ptr(), len: d.len() }))
            .collect();
        self.submit_chunks(shard, chunks)
    }

    fn submit_chunks(&mut self, shard: &str, chunks: Vec<(u64, ChunkBytes)>) -> Result<BatchId, TierError> {
        self.accepting()?;
        if self.is_full() {
            return Err(TierError::PipelineFull { max_batches_in_flight: self.max_batches });
        }
        self.tier.check_requests(shard, chunks.iter().map(|(o, c)| (*o, c.len())))?;
        let file = self.tier.shard_file(shard, true)?;
        let pieces = self.tier.split(chunks.iter().map(|(o, c)| (*o, c.len())));
        let id = BatchId(self.next_id);
        self.next_id += 1;
        let pieces_left = pieces.len();
        let mut batch = Batch {
            id,
            shard: shard.to_string(),
            file,
            chunks,
            pieces,
            next_piece: 0,
            pieces_left,
            stage: Stage::Writing,
        };
        self.log(PipelineEvent::Submitted(id));
        if batch.pieces.is_empty() {
            // Nothing to write, nothing to make durable.
            batch.stage = Stage::Durable;
            self.log(PipelineEvent::Written(id));
            self.batches.push_back(batch);
            return Ok(id);
        }
        if self.tier.uring.is_none() {
            let result = self.write_portable(&mut batch);
            self.batches.push_back(batch);
            if let Err(e) = result {
                self.fail(id, e);
            }
            return Ok(id);
        }
        self.batches.push_back(batch);
        self.pump(false)?;
        Ok(id)
    }

    /// Returns the oldest batch's acks once it is durable, blocking until then; `Ok(None)`
    /// when no batch is in flight. An `Err` stands in for the earliest failed batch, once
    /// every batch before it was handed out: that batch and every later one are never
    /// acknowledged (see the module docs).
    pub fn wait(&mut self) -> Result<Option<BatchAcks>, TierError> {
        loop {
            if let Some(done) = self.take_ready()? {
                return Ok(Some(done));
            }
            if self.batches.is_empty() {
                return Ok(None);
            }
            self.pump(true)?;
            if self.ops_in_flight == 0 && !self.front_ready() {
                // Cannot happen: a batch that is not durable has writes or a sync in flight,
                // or slots free to push them. Refuse rather than spin.
                debug_assert!(false, "write pipeline stalled");
                return Err(TierError::Uring { op: "write pipeline", source: io::Error::other("stalled") });
            }
        }
    }

    /// [`wait`](Self::wait) without blocking on I/O: reaps what has completed and returns the
    /// oldest batch's acks if it is durable. Returning a failure reaps the operations still in
    /// flight first, which may block.
    pub fn poll(&mut self) -> Result<Option<BatchAcks>, TierError> {
        self.pump(false)?;
        self.take_ready()
    }

    fn accepting(&self) -> Result<(), TierError> {
        if self.broken {
            return Err(TierError::Poisoned { dir: self.tier.dir().to_path_buf() });
        }
        match &self.failure {
            Some(f) => Err(TierError::PipelineFailed {
                dir: self.tier.dir().to_path_buf(),
                batch: f.batch.0,
                cause: f.cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether the front batch can be handed out now (acks or its error).
    fn front_ready(&self) -> bool {
        let Some(front) = self.batches.front() else { return true };
        match &self.failure {
            Some(f) if front.id >= f.batch => true,
            _ => front.stage == Stage::Durable,
        }
    }

    fn take_ready(&mut self) -> Result<Option<BatchAcks>, TierError> {
        if self.broken {
            return Err(TierError::Poisoned { dir: self.tier.dir().to_path_buf() });
        }
        if self.failure.as_ref().is_some_and(|f| f.error.is_none()) {
            // The error was handed out already.
            return Err(self.accepting().expect_err("a failed pipeline refuses work"));
        }
        let Some(front) = self.batches.front() else { return Ok(None) };
        let stop = self.failure.as_ref().map(|f| f.batch);
        if stop.is_some_and(|s| front.id >= s) {
            // Reap every operation of the failed batches before their bytes are dropped.
            self.drain()?;
            self.batches.clear();
            self.retry.clear();
            let f = self.failure.as_mut().expect("failure checked above");
            return Err(f.error.take().expect("the error is handed out once"));
        }
        if front.stage != Stage::Durable {
            return Ok(None);
        }
        let batch = self.batches.pop_front().expect("front checked above");
        let acks =
            batch.chunks.iter().map(|(o, c)| Ack { offset_bytes: *o, len_bytes: c.len() as u64 }).collect();
        self.log(PipelineEvent::Acked(batch.id));
        Ok(Some(BatchAcks { batch: batch.id, shard: batch.shard, acks }))
    }

    /// Records the failure of `batch`; the earliest failed batch sets the boundary and the
    /// error handed out.
    fn fail(&mut self, batch: BatchId, error: TierError) {
        self.log(PipelineEvent::Failed(batch));
        match &mut self.failure {
            Some(f) if f.batch <= batch => {}
            Some(f) => {
                f.batch = batch;
                f.cause = error.to_string();
                f.error = Some(error);
            }
            None => {
                self.failure = Some(Failure { cause: error.to_string(), error: Some(error), batch });
            }
        }
        // Short writes of stopped batches are not pushed again: their slots are free.
        let stop = batch;
        let slots = &mut self.slots;
        let free = &mut self.free;
        self.retry.retain(|&slot| {
            let keep = slots[slot].is_some_and(|op| op.batch < stop);
            if !keep {
                slots[slot] = None;
                free.push(slot);
            }
            keep
        });
    }

    /// First batch for which nothing more is issued.
    fn stop(&self) -> BatchId {
        match (&self.failure, self.closing || self.broken) {
            (_, true) => BatchId(0),
            (Some(f), false) => f.batch,
            (None, false) => BatchId(u64::MAX),
        }
    }

    fn position(&self, id: BatchId) -> usize {
        let front = self.batches.front().expect("an operation's batch is in the pipeline").id;
        let at = (id.0 - front.0) as usize;
        debug_assert_eq!(self.batches[at].id, id);
        at
    }

    fn log(&mut self, event: PipelineEvent) {
        if let Some(log) = self.events.as_mut() {
            if log.events.len() < log.limit {
                log.events.push(event);
            } else {
                log.dropped += 1;
            }
        }
    }

    /// Pushes what can be issued, submits it and reaps completions; with `block`, waits for
    /// at least one completion when operations are in flight.
    fn pump(&mut self, block: bool) -> Result<(), TierError> {
        if self.broken {
            return Err(TierError::Poisoned { dir: self.tier.dir().to_path_buf() });
        }
        if self.tier.uring.is_none() {
            return Ok(());
        }
        self.issue()?;
        if self.ops_in_flight == 0 {
            return Ok(());
        }
        self.enter(usize::from(block))?;
        if self.reap() > 0 {
            // Keep the device busy while the caller is away: push and submit what the
            // completions made possible (free slots, syncs).
            self.issue()?;
            let queued = self.tier.uring.as_mut().is_some_and(|u| !u.ring.submission().is_empty());
            if queued {
                self.enter(0)?;
            }
        }
        Ok(())
    }

    /// Submits pushed entries and waits for `want` completions.
    fn enter(&mut self, want: usize) -> Result<(), TierError> {
        let uring = self.tier.uring.as_mut().expect("enter without a ring");
        submit_and_wait(uring, want).map_err(|e| self.ring_failed(e))
    }

    /// Reaps every operation still in flight, issuing nothing new for stopped batches.
    fn drain(&mut self) -> Result<(), TierError> {
        while self.ops_in_flight > 0 {
            // Earlier batches may still push retries and syncs: they complete normally.
            self.issue()?;
            self.enter(1)?;
            self.reap();
        }
        Ok(())
    }

    fn ring_failed(&mut self, e: TierError) -> TierError {
        self.broken = true;
        self.tier.poisoned = true;
        let borrowed_in_flight = self.ops_in_flight > 0
            && self
                .batches
                .iter()
                .any(|b| b.chunks.iter().any(|(_, c)| matches!(c, ChunkBytes::Borrowed { .. })));
        abort_if_caller_memory_in_flight(borrowed_in_flight);
        e
    }

    /// Pushes short-write retries, then new pieces oldest batch first, then the syncs of
    /// batches whose writes have all completed (the ordering rule in the module docs).
    fn issue(&mut self) -> Result<(), TierError> {
        let stop = self.stop();
        let result = self.issue_below(stop);
        result.map_err(|e| self.ring_failed(e))
    }

    fn issue_below(&mut self, stop: BatchId) -> Result<(), TierError> {
        let WritePipeline {
            tier,
            batches,
            slots,
            free,
            retry,
            ops_in_flight,
            syncs_in_flight,
            next_sync,
            ..
        } = self;
        let zero_copy = !tier.config.direct;
        let dsync = tier.config.durability == Durability::Dsync;
        let uring = tier.uring.as_mut().expect("issue without a ring");
        let fixed = !zero_copy && uring.registered;
        let front = match batches.front() {
            Some(b) => b.id.0,
            None => return Ok(()),
        };

        while let Some(slot) = retry.pop() {
            let op = slots[slot].expect("retried slot is in flight");
            if op.batch >= stop {
                // A stopped batch is never acknowledged: the rest of its write is not needed.
                slots[slot] = None;
                free.push(slot);
                continue;
            }
            let batch = &batches[(op.batch.0 - front) as usize];
            push_write(uring, batch.file.file.as_raw_fd(), slot, &batch.pieces[op.piece], &op)?;
            *ops_in_flight += 1;
        }

        'batches: for batch in batches.iter_mut() {
            if batch.id >= stop {
                break;
            }
            while batch.next_piece < batch.pieces.len() {
                let Some(slot) = free.pop() else { break 'batches };
                let piece = batch.pieces[batch.next_piece];
                let src = &batch.chunks[piece.req].1;
                let buf = if zero_copy {
                    src.as_slice()[piece.req_start..].as_ptr()
                } else {
                    let bytes = &src.as_slice()[piece.req_start..piece.req_start + piece.len];
                    piece.fill_padded(tier.pool.slot_mut(slot), bytes).as_ptr()
                };
                let op = WriteOp { batch: batch.id, piece: batch.next_piece, done_bytes: 0, buf, fixed };
                slots[slot] = Some(op);
                push_write(uring, batch.file.file.as_raw_fd(), slot, &piece, &op)?;
                batch.next_piece += 1;
                *ops_in_flight += 1;
            }
        }

        if dsync {
            return Ok(());
        }
        let mut pushed: Vec<(u64, Vec<BatchId>)> = Vec::new();
        for i in 0..batches.len() {
            let batch = &batches[i];
            if batch.id >= stop {
                break;
            }
            if batch.stage != Stage::Written || syncs_in_flight.iter().any(|(s, _)| *s == batch.shard) {
                continue;
            }
            let tag = SYNC_TAG_BIT | *next_sync;
            let entry = opcode::Fsync::new(types::Fd(batch.file.file.as_raw_fd()))
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(tag);
            // SAFETY: an fsync entry names no memory.
            unsafe { push_entry(uring, &entry) }?;
            *next_sync += 1;
            *ops_in_flight += 1;
            let shard = batch.shard.clone();
            let mut covers = Vec::new();
            for b in batches.iter_mut().skip(i).take_while(|b| b.id < stop) {
                if b.stage == Stage::Written && b.shard == shard {
                    b.stage = Stage::Syncing(tag);
                    covers.push(b.id);
                }
            }
            syncs_in_flight.push((shard, tag));
            pushed.push((tag & !SYNC_TAG_BIT, covers));
        }
        for (sync, covers) in pushed {
            self.log(PipelineEvent::SyncPushed { sync, covers });
        }
        Ok(())
    }

    /// Reaps the completions available; returns how many.
    fn reap(&mut self) -> usize {
        let uring = self.tier.uring.as_mut().expect("reap without a ring");
        self.completions.clear();
        self.completions.extend(uring.ring.completion().map(|c| (c.user_data(), c.result())));
        let n = self.completions.len();
        for i in 0..n {
            let (tag, res) = self.completions[i];
            debug_assert!(self.ops_in_flight > 0, "completion with nothing in flight");
            self.ops_in_flight -= 1;
            if tag & SYNC_TAG_BIT != 0 {
                self.sync_done(tag, res);
            } else {
                self.write_done(tag as usize, res);
            }
        }
        n
    }

    fn sync_done(&mut self, tag: u64, res: i32) {
        let at =
            self.syncs_in_flight.iter().position(|(_, t)| *t == tag).expect("completion of an unknown sync");
        self.syncs_in_flight.swap_remove(at);
        self.log(PipelineEvent::SyncDone { sync: tag & !SYNC_TAG_BIT, ok: res >= 0 });
        let covered = |b: &&mut Batch| b.stage == Stage::Syncing(tag);
        if res >= 0 {
            for b in self.batches.iter_mut().filter(covered) {
                b.stage = Stage::Durable;
            }
            return;
        }
        let mut first: Option<(BatchId, std::path::PathBuf)> = None;
        for b in self.batches.iter_mut().filter(covered) {
            // Not durable; no sync is in flight for it any more.
            b.stage = Stage::Written;
            first.get_or_insert((b.id, b.file.path.clone()));
        }
        let (batch, path) = first.expect("a sync covers at least one batch");
        self.fail(batch, TierError::io("fdatasync", &path, io::Error::from_raw_os_error(-res)));
    }

    fn write_done(&mut self, slot: usize, res: i32) {
        let mut op = self.slots[slot].take().expect("completion for an idle slot");
        let at = self.position(op.batch);
        let piece = self.batches[at].pieces[op.piece];
        if res < 0 {
            self.free.push(slot);
            let path = self.batches[at].file.path.clone();
            self.fail(op.batch, TierError::io("write", &path, io::Error::from_raw_os_error(-res)));
            return;
        }
        op.done_bytes += res as usize;
        if op.done_bytes < piece.io_len {
            if res == 0 {
                self.free.push(slot);
                let path = self.batches[at].file.path.clone();
                self.fail(op.batch, TierError::io("write", &path, io::ErrorKind::WriteZero.into()));
            } else if op.batch < self.stop() {
                self.slots[slot] = Some(op);
                self.retry.push(slot);
            } else {
                self.free.push(slot);
            }
            return;
        }
        self.free.push(slot);
        let dsync = self.tier.config.durability == Durability::Dsync;
        let batch = &mut self.batches[at];
        batch.pieces_left -= 1;
        if batch.pieces_left == 0 {
            debug_assert_eq!(batch.stage, Stage::Writing);
            batch.stage = if dsync { Stage::Durable } else { Stage::Written };
            let id = batch.id;
            self.log(PipelineEvent::Written(id));
        }
    }

    /// The portable backend: writes and syncs one batch before returning, logging the same
    /// events as the io_uring path.
    fn write_portable(&mut self, batch: &mut Batch) -> Result<(), TierError> {
        let direct = self.tier.config.direct;
        let sync = self.tier.config.durability == Durability::Fdatasync;
        write_pieces_portable(batch, &mut self.tier.pool, direct)?;
        batch.pieces_left = 0;
        self.log(PipelineEvent::Written(batch.id));
        if sync {
            let seq = self.next_sync;
            self.next_sync += 1;
            self.log(PipelineEvent::SyncPushed { sync: seq, covers: vec![batch.id] });
            let result = batch.file.file.sync_data();
            self.log(PipelineEvent::SyncDone { sync: seq, ok: result.is_ok() });
            result.map_err(|e| TierError::io("fdatasync", &batch.file.path, e))?;
        }
        batch.stage = Stage::Durable;
        Ok(())
    }
}

impl Drop for WritePipeline<'_> {
    fn drop(&mut self) {
        if !self.broken && self.ops_in_flight > 0 {
            // Stop issuing, reap what the kernel holds; nothing more is acknowledged. A ring
            // failure here marks the pipeline broken (and aborts if borrowed bytes are in flight).
            self.closing = true;
            let _ = self.drain();
        }
        if self.broken {
            // The kernel may still read these bytes: leak them rather than free them.
            std::mem::forget(std::mem::take(&mut self.batches));
        }
        self.tier.pipeline_open = false;
    }
}

fn write_pieces_portable(batch: &Batch, pool: &mut BufferPool, direct: bool) -> Result<(), TierError> {
    let file = &batch.file.file;
    for piece in &batch.pieces {
        let src = &batch.chunks[piece.req].1.as_slice()[piece.req_start..piece.req_start + piece.len];
        let res = if direct {
            file.write_all_at(piece.fill_padded(pool.slot_mut(0), src), piece.file_offset)
        } else {
            file.write_all_at(src, piece.file_offset)
        };
        res.map_err(|e| TierError::io("pwrite", &batch.file.path, e))?;
    }
    Ok(())
}

fn push_write(uring: &mut Uring, fd: i32, slot: usize, piece: &Piece, op: &WriteOp) -> Result<(), TierError> {
    // Pointer arithmetic only; `op.buf` covers `piece.io_len` bytes (a pool slot, or the
    // batch's chunk when `io_len == len`) and `done_bytes < piece.io_len`.
    let ptr = op.buf.wrapping_add(op.done_bytes);
    let len = (piece.io_len - op.done_bytes) as u32;
    let offset = piece.file_offset + op.done_bytes as u64;
    let fd = types::Fd(fd);
    let entry = if op.fixed {
        opcode::WriteFixed::new(fd, ptr, len, slot as u16).offset(offset).build()
    } else {
        opcode::Write::new(fd, ptr, len).offset(offset).build()
    };
    // SAFETY: `ptr..ptr + len` lies in a pool slot that stays busy until this entry's
    // completion is reaped, or in a chunk the batch owns (or borrows under the
    // `submit_borrowed` contract); a batch leaves the pipeline only once all of its entries
    // were reaped, and if the ring fails first its bytes are leaked (see `push_entry`).
    unsafe { push_entry(uring, &entry.user_data(slot as u64)) }
}
