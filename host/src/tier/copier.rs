//! The background copier from the local tiers to the blob tier ([`BlobCopier`]).
//!
//! [`BlobCopier`] has a bounded staging queue (chunks and bytes):
//! [`BlobCopier::try_enqueue`] hands the job back as backpressure when it is full,
//! [`BlobCopier::enqueue`] waits at most a given time. A worker thread uploads
//! `upload_concurrency` chunks at a time and reports each as a [`CopiedChunk`] (key, bytes,
//! lag from local-durable to blob-durable) through [`BlobCopier::take_copied`], which the
//! caller turns into manifest marks; a chunk that fails every attempt comes back whole
//! through [`BlobCopier::take_failed`], and the copier then treats the tier as down: later
//! chunks are counted as abandoned, not attempted, and stay "not copied" in the manifests
//! for a resume (`crate::copy`).

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;

use super::blob::{BlobKey, BlobTier};
use super::{CopiedRecord, TierError};

/// Bounds and retries of a [`BlobCopier`].
#[derive(Debug, Clone)]
pub struct BlobCopierConfig {
    /// Most chunks waiting in the staging queue.
    pub queue_capacity_chunks: usize,
    /// Most bytes waiting in the staging queue (a single larger chunk is taken when empty).
    pub queue_capacity_bytes: u64,
    /// Chunks uploaded concurrently.
    pub upload_concurrency: usize,
    /// Attempts per chunk before it is reported as failed.
    pub max_attempts: u32,
}

impl Default for BlobCopierConfig {
    fn default() -> Self {
        BlobCopierConfig {
            queue_capacity_chunks: 64,
            queue_capacity_bytes: 256 << 20,
            upload_concurrency: 4,
            max_attempts: 3,
        }
    }
}

/// A locally durable chunk to copy to the blob tier.
#[derive(Debug, Clone)]
pub struct CopyJob {
    /// Shard of the chunk.
    pub shard: String,
    /// Index within the shard.
    pub chunk_index: u64,
    /// CRC32C of `data` (from the manifest record).
    pub crc32c: u32,
    /// The stored bytes.
    pub data: Bytes,
    /// When the chunk became durable on the local tier (start of the copy lag).
    pub local_durable_at: Instant,
}

/// A chunk whose copy is durable in the blob tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedChunk {
    /// Where it is.
    pub key: BlobKey,
    /// Bytes copied.
    pub len_bytes: u64,
    /// Local-durable to blob-durable.
    pub lag_ns: u64,
}

impl CopiedChunk {
    /// The manifest mark for this copy.
    pub fn to_record(&self) -> CopiedRecord {
        CopiedRecord {
            shard: self.key.shard.clone(),
            chunk_index: self.key.chunk_index,
            crc32c: self.key.crc32c,
            blob_key: self.key.to_string(),
            lag_ns: self.lag_ns,
        }
    }
}

/// A chunk that failed every attempt, handed back whole.
#[derive(Debug)]
pub struct CopyFailure {
    /// The job, to retry or report.
    pub job: CopyJob,
    /// The last error, one line.
    pub error: String,
}

/// Why a job was not accepted; the job is handed back.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The staging queue is full (backpressure): retry later or wait.
    #[error("blob copy queue full ({queued_chunks} chunks, {queued_bytes} bytes queued); shard {} chunk {} not taken", job.shard, job.chunk_index)]
    Full {
        /// The job, not taken.
        job: CopyJob,
        /// Chunks queued at the time.
        queued_chunks: usize,
        /// Bytes queued at the time.
        queued_bytes: u64,
    },
    /// The copier is shutting down.
    #[error("blob copier stopped; shard {} chunk {} not taken", job.shard, job.chunk_index)]
    Stopped {
        /// The job, not taken.
        job: CopyJob,
    },
}

impl EnqueueError {
    /// The job that was not taken.
    pub fn into_job(self) -> CopyJob {
        match self {
            EnqueueError::Full { job, .. } | EnqueueError::Stopped { job } => job,
        }
    }
}

/// Counters of a [`BlobCopier`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopierStats {
    /// Chunks waiting in the staging queue.
    pub queued_chunks: usize,
    /// Bytes waiting in the staging queue.
    pub queued_bytes: u64,
    /// Chunks being uploaded.
    pub in_flight_chunks: usize,
    /// Chunks copied so far.
    pub copied_chunks: u64,
    /// Bytes copied so far.
    pub copied_bytes: u64,
    /// Chunks that failed every attempt.
    pub failed_chunks: u64,
    /// Largest local-durable to blob-durable lag seen.
    pub lag_ns_max: u64,
    /// Sum of lags (mean = `lag_ns_total / copied_chunks`).
    pub lag_ns_total: u64,
    /// Times a job was refused because the queue was full.
    pub backpressure_events: u64,
    /// Median local-durable to blob-durable lag (3 significant digits).
    pub lag_ns_p50: u64,
    /// 99th percentile of that lag.
    pub lag_ns_p99: u64,
    /// Time from the first upload started to the last one finished (copy throughput =
    /// `copied_bytes / copy_window_ns`).
    pub copy_window_ns: u64,
    /// Chunks not attempted because an earlier chunk failed every attempt: the tier is
    /// treated as down for the rest of the copier's life; their data is dropped (the
    /// manifest still lists them as not copied, for a resume).
    pub abandoned_chunks: u64,
}

/// Called by the copier's worker after each finished upload, with the counters; for tests
/// and progress displays. It runs on the worker thread between polls of the uploads still
/// in flight, so it must return promptly and must never wait on the blob tier (that would
/// wait on the very uploads it is holding up).
pub type CopyObserver = Arc<dyn Fn(&CopierStats) + Send + Sync>;

struct CopierState {
    queue: VecDeque<CopyJob>,
    stats: CopierStats,
    paused: bool,
    stopping: bool,
    copied: Vec<CopiedChunk>,
    failed: Vec<CopyFailure>,
    /// Lag of every copy, nanoseconds (1 ns to 1 hour, 3 significant digits).
    lag: hdrhistogram::Histogram<u64>,
    first_upload_at: Option<Instant>,
    /// The first error that exhausted every attempt; later jobs are abandoned.
    broken: Option<String>,
}

impl Default for CopierState {
    fn default() -> Self {
        CopierState {
            queue: VecDeque::new(),
            stats: CopierStats::default(),
            paused: false,
            stopping: false,
            copied: Vec::new(),
            failed: Vec::new(),
            lag: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("static histogram bounds are valid"),
            first_upload_at: None,
            broken: None,
        }
    }
}

struct CopierShared {
    state: Mutex<CopierState>,
    /// Signalled when queue space frees up.
    space: Condvar,
    /// Signalled when work arrives, the copier resumes, or it stops.
    work: Condvar,
    /// Signalled when an upload batch finishes.
    progress: Condvar,
    config: BlobCopierConfig,
    observer: Option<CopyObserver>,
}

impl CopierShared {
    fn lock(&self) -> MutexGuard<'_, CopierState> {
        // A panic elsewhere while holding the lock leaves counters that are still consistent
        // enough to report; do not propagate the poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has_room(&self, st: &CopierState, len_bytes: u64) -> bool {
        let c = &self.config;
        st.queue.is_empty()
            || (st.queue.len() < c.queue_capacity_chunks
                && st.stats.queued_bytes + len_bytes <= c.queue_capacity_bytes)
    }
}

/// Background copier from the local tiers to the blob tier. See the module docs.
pub struct BlobCopier {
    shared: Arc<CopierShared>,
    worker: Option<JoinHandle<()>>,
}

impl BlobCopier {
    /// Starts the worker thread.
    pub fn start(blob: Arc<BlobTier>, config: BlobCopierConfig) -> Result<BlobCopier, TierError> {
        BlobCopier::start_observed(blob, config, None)
    }

    /// Starts the worker thread, calling `observer` after every finished upload.
    pub fn start_observed(
        blob: Arc<BlobTier>,
        config: BlobCopierConfig,
        observer: Option<CopyObserver>,
    ) -> Result<BlobCopier, TierError> {
        let bad = |field, reason: &str| Err(TierError::BadConfig { field, reason: reason.to_string() });
        if config.queue_capacity_chunks == 0 {
            return bad("queue_capacity_chunks", "must be at least 1");
        }
        if config.queue_capacity_bytes == 0 {
            return bad("queue_capacity_bytes", "must be at least 1");
        }
        if config.upload_concurrency == 0 {
            return bad("upload_concurrency", "must be at least 1");
        }
        if config.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1");
        }
        let shared = Arc::new(CopierShared {
            state: Mutex::new(CopierState::default()),
            space: Condvar::new(),
            work: Condvar::new(),
            progress: Condvar::new(),
            config,
            observer,
        });
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("dpukit-blob-copier".to_string())
            .spawn(move || copier_loop(&worker_shared, &blob))
            .map_err(|source| TierError::Runtime { source })?;
        Ok(BlobCopier { shared, worker: Some(worker) })
    }

    /// Queues a job if there is room, else hands it back as [`EnqueueError::Full`].
    pub fn try_enqueue(&self, job: CopyJob) -> Result<(), EnqueueError> {
        let mut st = self.shared.lock();
        self.push_locked(&mut st, job)
    }

    /// Queues a job, waiting at most `timeout` for room.
    pub fn enqueue(&self, job: CopyJob, timeout: Duration) -> Result<(), EnqueueError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        let len_bytes = job.data.len() as u64;
        while !st.stopping && !self.shared.has_room(&st, len_bytes) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self.shared.space.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        self.push_locked(&mut st, job)
    }

    fn push_locked(&self, st: &mut CopierState, job: CopyJob) -> Result<(), EnqueueError> {
        if st.stopping {
            return Err(EnqueueError::Stopped { job });
        }
        let len_bytes = job.data.len() as u64;
        if !self.shared.has_room(st, len_bytes) {
            st.stats.backpressure_events += 1;
            return Err(EnqueueError::Full {
                job,
                queued_chunks: st.queue.len(),
                queued_bytes: st.stats.queued_bytes,
            });
        }
        st.stats.queued_bytes += len_bytes;
        st.queue.push_back(job);
        st.stats.queued_chunks = st.queue.len();
        self.shared.work.notify_one();
        Ok(())
    }

    /// Stops taking jobs off the queue (uploads in progress finish); the queue still fills.
    pub fn pause(&self) {
        self.shared.lock().paused = true;
    }

    /// Resumes uploading.
    pub fn resume(&self) {
        self.shared.lock().paused = false;
        self.shared.work.notify_all();
    }

    /// Chunks copied since the last call, for the manifest's `copied` marks.
    pub fn take_copied(&self) -> Vec<CopiedChunk> {
        std::mem::take(&mut self.shared.lock().copied)
    }

    /// Chunks of one shard copied since the last call (a node marks its own manifest).
    pub fn take_copied_of(&self, shard: &str) -> Vec<CopiedChunk> {
        let mut st = self.shared.lock();
        let (mine, rest) = std::mem::take(&mut st.copied).into_iter().partition(|c| c.key.shard == shard);
        st.copied = rest;
        mine
    }

    /// The lag histogram as (value, count) pairs (values are bucket values), for a
    /// process that sends it elsewhere to be merged.
    pub fn lag_counts(&self) -> Vec<(u64, u64)> {
        let st = self.shared.lock();
        st.lag.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
    }

    /// The error that made the copier give up, if it did.
    pub fn broken(&self) -> Option<String> {
        self.shared.lock().broken.clone()
    }

    /// Chunks that failed every attempt since the last call, handed back whole.
    pub fn take_failed(&self) -> Vec<CopyFailure> {
        std::mem::take(&mut self.shared.lock().failed)
    }

    /// Current counters.
    pub fn stats(&self) -> CopierStats {
        let st = self.shared.lock();
        stats_of(&st)
    }

    /// Waits at most `timeout` until the queue is empty and no upload is in progress;
    /// returns whether that happened.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if st.queue.is_empty() && st.stats.in_flight_chunks == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.shared.progress.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Uploads everything queued, stops the worker and returns the final counters. Copied
    /// and failed chunks not yet taken stay available until the copier is dropped.
    pub fn shutdown(&mut self) -> CopierStats {
        {
            let mut st = self.shared.lock();
            st.stopping = true;
            st.paused = false;
        }
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        if let Some(worker) = self.worker.take() {
            // A panicking worker already reported through the panic hook; the counters stand.
            let _ = worker.join();
        }
        self.stats()
    }
}

impl Drop for BlobCopier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn stats_of(st: &CopierState) -> CopierStats {
    let mut stats = st.stats;
    if !st.lag.is_empty() {
        stats.lag_ns_p50 = st.lag.value_at_quantile(0.50);
        stats.lag_ns_p99 = st.lag.value_at_quantile(0.99);
    }
    stats
}

fn copier_loop(shared: &CopierShared, blob: &BlobTier) {
    loop {
        {
            let mut st = shared.lock();
            while (st.queue.is_empty() || st.paused) && !st.stopping {
                st = shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.queue.is_empty() {
                // Stopping with nothing left.
                return;
            }
        }
        // Keep `upload_concurrency` uploads in flight: each completion takes the next job,
        // so one slow upload (an fsync, a slow part) does not hold the others' slots idle.
        // Back to the condition variable once the queue and the uploads are both empty.
        blob.runtime.block_on(async {
            let mut in_flight = futures::stream::FuturesUnordered::new();
            loop {
                while in_flight.len() < shared.config.upload_concurrency {
                    match take_job(shared) {
                        Some(job) => in_flight.push(upload(blob, job, shared.config.max_attempts)),
                        None => break,
                    }
                }
                match in_flight.next().await {
                    Some(result) => record(shared, result),
                    None => break,
                }
            }
        });
    }
}

/// The next job to upload, if any (none while paused); once the tier is broken, every
/// queued job is abandoned instead (counted, data dropped, memory freed).
fn take_job(shared: &CopierShared) -> Option<CopyJob> {
    let mut st = shared.lock();
    if st.paused {
        return None;
    }
    if st.broken.is_some() {
        let abandoned = st.queue.len() as u64;
        if abandoned > 0 {
            st.queue.clear();
            st.stats.queued_bytes = 0;
            st.stats.queued_chunks = 0;
            st.stats.abandoned_chunks += abandoned;
            drop(st);
            shared.space.notify_all();
            shared.progress.notify_all();
        }
        return None;
    }
    let job = st.queue.pop_front()?;
    st.stats.queued_bytes -= job.data.len() as u64;
    st.stats.queued_chunks = st.queue.len();
    st.stats.in_flight_chunks += 1;
    st.first_upload_at.get_or_insert_with(Instant::now);
    drop(st);
    shared.space.notify_all();
    Some(job)
}

/// Uploads one job, up to `max_attempts` times.
async fn upload(blob: &BlobTier, job: CopyJob, max_attempts: u32) -> Result<CopiedChunk, CopyFailure> {
    let key = BlobKey { shard: job.shard.clone(), chunk_index: job.chunk_index, crc32c: job.crc32c };
    let mut last_err = None;
    for _ in 0..max_attempts {
        match blob.put_async(&key, job.data.clone()).await {
            Ok(()) => {
                let lag_ns = job.local_durable_at.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                return Ok(CopiedChunk { key, len_bytes: job.data.len() as u64, lag_ns });
            }
            Err(e) => last_err = Some(e.to_string()),
        }
    }
    Err(CopyFailure { job, error: last_err.unwrap_or_default() })
}

/// Counts one finished upload and tells the observer and waiters.
fn record(shared: &CopierShared, result: Result<CopiedChunk, CopyFailure>) {
    let mut st = shared.lock();
    st.stats.in_flight_chunks -= 1;
    match result {
        Ok(copied) => {
            st.stats.copied_chunks += 1;
            st.stats.copied_bytes += copied.len_bytes;
            st.stats.lag_ns_max = st.stats.lag_ns_max.max(copied.lag_ns);
            st.stats.lag_ns_total += copied.lag_ns;
            st.lag.saturating_record(copied.lag_ns.max(1));
            st.copied.push(copied);
        }
        Err(failure) => {
            st.stats.failed_chunks += 1;
            st.broken.get_or_insert_with(|| failure.error.clone());
            st.failed.push(failure);
        }
    }
    if let Some(t0) = st.first_upload_at {
        st.stats.copy_window_ns = t0.elapsed().as_nanos().min(u64::MAX as u128) as u64;
    }
    let stats = stats_of(&st);
    drop(st);
    if let Some(observer) = &shared.observer {
        observer(&stats);
    }
    shared.progress.notify_all();
}
