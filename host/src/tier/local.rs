//! The local tier of one storage node: NVMe-like shard files in a directory, written and read
//! through io_uring with a bounded queue depth and a pool of registered, 4096-aligned buffers.
//!
//! **Layout.** One file per shard, `<dir>/<shard>.shard`, with each chunk at a caller-chosen
//! byte offset (as a checkpoint shard is laid out); the manifest, not the file, says which
//! chunks exist. One file per shard keeps the file count at one per rank, lets a batch of
//! chunks share one fdatasync, and makes a restore a sequential read.
//!
//! **Durability rule.** A chunk is acknowledged only once it is durable. Writes go through a
//! [`WritePipeline`](super::WritePipeline) (see `pipeline.rs` for the ordering rule and error
//! semantics): with the default, [`Durability::Fdatasync`], a batch's acks are delivered once
//! an `IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC`, pushed after every write of the batch
//! completed, has completed; [`Durability::Dsync`] opens shard files with `O_DSYNC` instead,
//! so each write completes durable. A newly created shard file also gets its directory
//! fsynced before its first batch is accepted. [`LocalTier::write_chunks`] is the one-batch
//! form: submit, then wait for the acks.
//!
//! **Buffers.** With `direct` (O_DIRECT), every request is copied into (writes) or out of
//! (reads) a pool buffer of `buffer_size_bytes`, 4096-aligned and registered with the ring
//! (`IORING_OP_*_FIXED`), so caller slices need no alignment. Buffered I/O has no alignment
//! rule, so the kernel reads and writes the caller's bytes directly (plain `READ`/`WRITE`,
//! one copy fewer). No operation outlives the object that owns its memory: a read call, or
//! the write pipeline holding the batch. Requests larger than `buffer_size_bytes` are split.
//! With O_DIRECT, offsets must be multiples of [`DIRECT_IO_ALIGN_BYTES`] (a misaligned
//! offset is rejected with [`TierError::Misaligned`]); a length need not be: the pool
//! buffer is padded with zeros to the next 4096 bytes, so a write also zeroes the bytes
//! from the request's end to that boundary, and a read drops them. A compressed chunk is
//! rarely a multiple of 4 KiB; its caller places chunks on 4 KiB boundaries and the tier
//! does the rest, as a storage engine pads its blocks. In-flight
//! operations are bounded by `iodepth` and by `max_inflight_bytes / buffer_size_bytes`.
//!
//! **Engines.** [`IoEngine`] picks the I/O path, as fio's `ioengine` does: `io_uring`, or
//! `psync` (`pwrite`/`pread` plus `fdatasync`, one request at a time, with the same API
//! and durability rule). The default, [`IoEngine::Auto`], uses io_uring and falls back to
//! psync where io_uring cannot be set up (ENOSYS, EPERM from `kernel.io_uring_disabled`,
//! ...), logging the reason once; an explicit `io_uring` fails instead of falling back.
//! [`LocalTier::backend`] says which is in use.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use io_uring::{opcode, squeue, types, IoUring};

use super::pipeline::MAX_BATCHES_IN_FLIGHT;
use super::{validate_shard_name, TierError};

/// Alignment of O_DIRECT offsets, lengths and buffers, in bytes.
pub const DIRECT_IO_ALIGN_BYTES: u64 = 4096;

/// Largest accepted queue depth.
const MAX_IODEPTH: u32 = 4096;

/// The I/O path asked for (fio's `ioengine`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IoEngine {
    /// io_uring where it can be set up, else psync (logged).
    #[default]
    Auto,
    /// io_uring or an error.
    IoUring,
    /// `pwrite`/`pread` + `fdatasync`, even where io_uring works.
    Psync,
}

impl IoEngine {
    /// `"auto"`, `"io_uring"` or `"psync"`.
    pub fn as_str(self) -> &'static str {
        match self {
            IoEngine::Auto => "auto",
            IoEngine::IoUring => "io_uring",
            IoEngine::Psync => "psync",
        }
    }

    /// The engine named `name` (`io_uring` or `psync`, fio's names; `auto`).
    pub fn from_name(name: &str) -> Option<IoEngine> {
        match name {
            "auto" => Some(IoEngine::Auto),
            "io_uring" => Some(IoEngine::IoUring),
            "psync" => Some(IoEngine::Psync),
            _ => None,
        }
    }
}

/// How a write becomes durable before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Writes, then one fdatasync (`IORING_OP_FSYNC` + DATASYNC) pushed once they completed.
    Fdatasync,
    /// Shard files opened with `O_DSYNC`: every write completes durable.
    Dsync,
}

impl Durability {
    /// `"fdatasync"` or `"O_DSYNC"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fdatasync => "fdatasync",
            Durability::Dsync => "O_DSYNC",
        }
    }
}

/// Which I/O path a tier uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// io_uring with registered buffers and a bounded queue depth.
    IoUring,
    /// `pwrite`/`pread` + `fdatasync`, one request at a time.
    PreadPwrite,
}

impl Backend {
    /// `"io_uring"` or `"psync"` (fio's name for pread/pwrite).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::IoUring => "io_uring",
            Backend::PreadPwrite => "psync",
        }
    }
}

/// Configuration of a [`LocalTier`]; names follow fio where the meaning is the same.
#[derive(Debug, Clone)]
pub struct LocalTierConfig {
    /// Most operations in flight at once (fio `iodepth`), 1..=4096.
    pub iodepth: u32,
    /// Open shard files with O_DIRECT (fio `direct`); requests must start 4096-aligned,
    /// and a length that is not a multiple of 4096 is padded (see the module docs).
    pub direct: bool,
    /// How writes become durable before the ack.
    pub durability: Durability,
    /// Most bytes in flight at once; caps the pool at `max_inflight_bytes / buffer_size_bytes`.
    pub max_inflight_bytes: u64,
    /// Size of each pool buffer (the largest single operation), a multiple of 4096.
    pub buffer_size_bytes: usize,
    /// Most shard files kept open; past it the cache of open files is dropped.
    pub max_open_files: usize,
    /// The I/O path: io_uring, psync, or io_uring with psync as its fallback.
    pub engine: IoEngine,
}

impl Default for LocalTierConfig {
    fn default() -> Self {
        LocalTierConfig {
            iodepth: 16,
            direct: false,
            durability: Durability::Fdatasync,
            max_inflight_bytes: 64 << 20,
            buffer_size_bytes: 1 << 20,
            max_open_files: 256,
            engine: IoEngine::Auto,
        }
    }
}

/// Acknowledgement of one durable chunk write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Byte offset of the chunk in the shard file.
    pub offset_bytes: u64,
    /// Bytes written.
    pub len_bytes: u64,
}

/// 4096-aligned buffers carved out of boxed slices (safe alignment: over-allocate, offset).
pub(super) struct BufferPool {
    storage: Vec<Box<[u8]>>,
    starts: Vec<usize>,
    pub(super) buf_len: usize,
}

impl BufferPool {
    fn new(count: usize, buf_len: usize) -> Self {
        let align = DIRECT_IO_ALIGN_BYTES as usize;
        let mut storage = Vec::with_capacity(count);
        let mut starts = Vec::with_capacity(count);
        for _ in 0..count {
            let raw = vec![0u8; buf_len + align].into_boxed_slice();
            let start = raw.as_ptr().align_offset(align);
            debug_assert!(start < align);
            storage.push(raw);
            starts.push(start);
        }
        BufferPool { storage, starts, buf_len }
    }

    pub(super) fn len(&self) -> usize {
        self.storage.len()
    }

    pub(super) fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        let start = self.starts[i];
        &mut self.storage[i][start..start + self.buf_len]
    }

    fn slot(&self, i: usize) -> &[u8] {
        let start = self.starts[i];
        &self.storage[i][start..start + self.buf_len]
    }

    fn iovecs(&mut self) -> Vec<libc::iovec> {
        (0..self.len())
            .map(|i| {
                let s = self.slot_mut(i);
                libc::iovec { iov_base: s.as_mut_ptr().cast(), iov_len: s.len() }
            })
            .collect()
    }
}

/// A slice of one request that fits a pool buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Piece {
    /// Index of the request (chunk) in its call or batch.
    pub(super) req: usize,
    /// Start of the piece within the request.
    pub(super) req_start: usize,
    /// Where the piece goes in the file.
    pub(super) file_offset: u64,
    /// Bytes in the piece (at most `buffer_size_bytes`).
    pub(super) len: usize,
    /// Bytes the I/O moves: `len`, or with O_DIRECT `len` rounded up to 4096 (only a
    /// request's last piece can end unaligned). A padded write zeroes the bytes from the
    /// piece's end to that boundary; a padded read drops them.
    pub(super) io_len: usize,
}

impl Piece {
    /// Puts the piece's bytes `src` at the start of `slot` (a pool buffer) and zeroes the
    /// padding up to `io_len`; returns the `io_len` bytes to write.
    pub(super) fn fill_padded<'a>(&self, slot: &'a mut [u8], src: &[u8]) -> &'a mut [u8] {
        let buf = &mut slot[..self.io_len];
        let (data, pad) = buf.split_at_mut(self.len);
        data.copy_from_slice(src);
        pad.fill(0);
        buf
    }
}

/// A read the kernel owns: the pool slot stays busy until its completion is reaped.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    piece: usize,
    done_bytes: usize,
    /// Start of the piece's memory: a pool slot, or the caller's slice (buffered zero-copy).
    buf: *mut u8,
    /// `buf` is a registered pool slot (use the `*_FIXED` opcodes).
    fixed: bool,
}

pub(super) struct Uring {
    pub(super) ring: IoUring,
    pub(super) registered: bool,
    /// `crate::cores::generation()` when the ring's async workers were last set to the
    /// host's cores.
    pub(super) cores_generation: u64,
}

/// An open shard file. Shared (`Arc`) between the tier's cache of open files and the write
/// batches in flight, so dropping the cache never closes a descriptor the kernel still uses.
pub(super) struct ShardFile {
    pub(super) file: File,
    pub(super) path: PathBuf,
}

/// The local tier of one node. See the module docs for layout, durability and buffers.
pub struct LocalTier {
    // Declared before `pool`: the ring is dropped (and with it every registration) before the
    // buffers it refers to are freed.
    pub(super) uring: Option<Uring>,
    pub(super) pool: BufferPool,
    dir: PathBuf,
    pub(super) config: LocalTierConfig,
    files: HashMap<String, Arc<ShardFile>>,
    pub(super) poisoned: bool,
    /// A write pipeline borrows the tier; still set once the borrow is over means the
    /// pipeline was leaked (never dropped) with operations possibly still in the ring.
    pub(super) pipeline_open: bool,
}

static FALLBACK_WARNED: AtomicBool = AtomicBool::new(false);

/// Logs the fallback at `warn` once per process, at `debug` after that.
fn warn_fallback(reason: &str) {
    if !FALLBACK_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            reason,
            "io_uring unavailable; local tier falls back to psync (pread/pwrite + fdatasync)"
        );
    } else {
        tracing::debug!(reason, "io_uring unavailable; local tier uses psync");
    }
}

impl LocalTier {
    /// Opens the tier in an existing directory, probing that it is writable (and, with
    /// `direct`, that the filesystem accepts O_DIRECT), and sets up io_uring or the fallback.
    pub fn open(dir: impl AsRef<Path>, config: LocalTierConfig) -> Result<LocalTier, TierError> {
        let dir = dir.as_ref().to_path_buf();
        validate_config(&config)?;
        let meta = std::fs::metadata(&dir).map_err(|e| TierError::io("open tier directory", &dir, e))?;
        if !meta.is_dir() {
            return Err(TierError::Io {
                op: "open tier directory",
                path: dir,
                source: io::Error::other("not a directory"),
            });
        }
        probe_dir(&dir, &config)?;

        let depth =
            (config.iodepth as u64).min(config.max_inflight_bytes / config.buffer_size_bytes as u64).max(1);
        let mut pool = BufferPool::new(depth as usize, config.buffer_size_bytes);

        let uring = if config.engine == IoEngine::Psync {
            None
        } else {
            // Room for every write in flight plus one fdatasync per batch a pipeline may hold.
            let entries = (depth as usize + MAX_BATCHES_IN_FLIGHT).next_power_of_two() as u32;
            match IoUring::builder().build(entries) {
                Ok(ring) => {
                    let iovecs = pool.iovecs();
                    // Registration can fail under a small RLIMIT_MEMLOCK; plain READ/WRITE on the
                    // same pool buffers still works.
                    let registered = register(&ring, &iovecs).is_ok();
                    Some(Uring { ring, registered, cores_generation: 0 })
                }
                Err(e) if config.engine == IoEngine::IoUring => {
                    return Err(TierError::Io {
                        op: "set up io_uring (asked for --ioengine io_uring; psync works without it)",
                        path: dir,
                        source: e,
                    });
                }
                Err(e) => {
                    warn_fallback(&e.to_string());
                    None
                }
            }
        };
        Ok(LocalTier {
            uring,
            pool,
            dir,
            config,
            files: HashMap::new(),
            poisoned: false,
            pipeline_open: false,
        })
    }

    /// Which I/O path this tier uses.
    pub fn backend(&self) -> Backend {
        if self.uring.is_some() {
            Backend::IoUring
        } else {
            Backend::PreadPwrite
        }
    }

    /// How writes become durable before they are acknowledged.
    pub fn durability(&self) -> Durability {
        self.config.durability
    }

    /// Whether pool buffers are registered with the ring (fixed-buffer operations).
    pub fn buffers_registered(&self) -> bool {
        self.uring.as_ref().is_some_and(|u| u.registered)
    }

    /// Whether shard files are opened with O_DIRECT.
    pub fn direct(&self) -> bool {
        self.config.direct
    }

    /// The tier directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Effective queue depth: `min(iodepth, max_inflight_bytes / buffer_size_bytes)`.
    pub fn iodepth(&self) -> usize {
        self.pool.len()
    }

    /// Path of a shard's file.
    pub fn shard_path(&self, shard: &str) -> PathBuf {
        self.dir.join(format!("{shard}.shard"))
    }

    /// Writes each `(offset_bytes, data)` into the shard's file and returns one ack per chunk,
    /// in order, once all of them are durable. On error, none is acknowledged.
    ///
    /// One batch through a [`WritePipeline`](super::WritePipeline) of depth 1: submit, wait.
    pub fn write_chunks(&mut self, shard: &str, chunks: &[(u64, &[u8])]) -> Result<Vec<Ack>, TierError> {
        let mut pipe = self.write_pipeline(1)?;
        // SAFETY: `chunks` is borrowed for this whole call and `pipe` does not outlive it:
        // either `wait` below collects the batch (every operation reaped), or `pipe` is
        // dropped before this function returns, and its `Drop` reaps every operation the
        // kernel holds (aborting the process if the ring fails with borrowed bytes in flight).
        let batch = unsafe { pipe.submit_borrowed(shard, chunks) }?;
        let done = pipe.wait()?.expect("the batch just submitted is in flight");
        debug_assert_eq!(done.batch, batch);
        Ok(done.acks)
    }

    /// Fills each `(offset_bytes, buffer)` from the shard's file; a read past the end of the
    /// file is [`TierError::ShortRead`].
    pub fn read_chunks(&mut self, shard: &str, reqs: &mut [(u64, &mut [u8])]) -> Result<(), TierError> {
        self.usable()?;
        self.check_requests(shard, reqs.iter().map(|(o, b)| (*o, b.len())))?;
        let pieces = self.split(reqs.iter().map(|(o, b)| (*o, b.len())));
        let file = self.shard_file(shard, false)?;
        if self.uring.is_some() {
            self.read_uring(file.file.as_raw_fd(), &file.path, &pieces, reqs)
        } else {
            read_portable(&file.file, &file.path, &mut self.pool, self.config.direct, &pieces, reqs)
        }
    }

    /// Reads one chunk into a new vector.
    pub fn read_chunk(
        &mut self,
        shard: &str,
        offset_bytes: u64,
        len_bytes: usize,
    ) -> Result<Vec<u8>, TierError> {
        let mut buf = vec![0u8; len_bytes];
        self.read_chunks(shard, &mut [(offset_bytes, &mut buf[..])])?;
        Ok(buf)
    }

    /// Refuses work on a tier a ring failure or a leaked write pipeline left in an unknown
    /// state.
    pub(super) fn usable(&mut self) -> Result<(), TierError> {
        if self.pipeline_open {
            // Only a pipeline that was never dropped leaves this set: its operations may
            // still be in the ring and own pool buffers.
            self.poisoned = true;
        }
        if self.poisoned {
            return Err(TierError::Poisoned { dir: self.dir.clone() });
        }
        Ok(())
    }

    /// Checks a request list at the boundary: the shard name, and with O_DIRECT that each
    /// request starts on a 4096-byte boundary (its length may be anything: see [`Piece`]).
    pub(super) fn check_requests(
        &self,
        shard: &str,
        reqs: impl Iterator<Item = (u64, usize)>,
    ) -> Result<(), TierError> {
        validate_shard_name(shard)?;
        if self.config.direct {
            for (offset, _) in reqs {
                if !offset.is_multiple_of(DIRECT_IO_ALIGN_BYTES) {
                    return Err(TierError::Misaligned {
                        shard: shard.to_string(),
                        what: "offset",
                        value: offset,
                    });
                }
            }
        }
        Ok(())
    }

    /// Cuts requests into pieces of at most one pool buffer.
    pub(super) fn split(&self, reqs: impl Iterator<Item = (u64, usize)>) -> Vec<Piece> {
        let buf_len = self.pool.buf_len;
        let mut pieces = Vec::new();
        for (req, (offset, len)) in reqs.enumerate() {
            let mut start = 0;
            while start < len {
                let piece_len = (len - start).min(buf_len);
                let io_len = if self.config.direct {
                    piece_len.next_multiple_of(DIRECT_IO_ALIGN_BYTES as usize)
                } else {
                    piece_len
                };
                pieces.push(Piece {
                    req,
                    req_start: start,
                    file_offset: offset + start as u64,
                    len: piece_len,
                    io_len,
                });
                start += piece_len;
            }
        }
        pieces
    }

    /// Opens (and caches) a shard file; a write creates it and makes the new name durable.
    pub(super) fn shard_file(&mut self, shard: &str, create: bool) -> Result<Arc<ShardFile>, TierError> {
        if let Some(f) = self.files.get(shard) {
            return Ok(Arc::clone(f));
        }
        let path = self.shard_path(shard);
        if self.files.len() >= self.config.max_open_files {
            // Batches in flight hold their own `Arc`: their descriptors stay open.
            self.files.clear();
        }
        let flags = open_flags(&self.config);
        let file = match OpenOptions::new().read(true).write(true).custom_flags(flags).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .mode(0o644)
                    .custom_flags(flags)
                    .open(&path)
                    .map_err(|e| TierError::io("create shard file", &path, e))?;
                sync_dir(&self.dir)?;
                f
            }
            Err(e) => return Err(TierError::io("open shard file", &path, e)),
        };
        let file = Arc::new(ShardFile { file, path });
        self.files.insert(shard.to_string(), Arc::clone(&file));
        Ok(file)
    }

    fn read_uring(
        &mut self,
        fd: i32,
        path: &Path,
        pieces: &[Piece],
        out: &mut [(u64, &mut [u8])],
    ) -> Result<(), TierError> {
        let Some(uring) = self.uring.as_mut() else { unreachable!("read_uring without a ring") };
        let pool = &mut self.pool;
        let depth = pool.len();
        // Buffered I/O has no alignment rule, so the kernel reads into the caller's slices
        // directly (one copy fewer, as fio does); O_DIRECT goes through the aligned,
        // registered pool.
        let zero_copy = !self.config.direct;
        let registered = uring.registered;
        let mut slots: Vec<Option<InFlight>> = vec![None; depth];
        let mut free: Vec<usize> = (0..depth).rev().collect();
        let mut retry: Vec<usize> = Vec::new();
        let mut next_piece = 0;
        let mut inflight_ops = 0usize;
        let mut first_err: Option<TierError> = None;
        let mut completions: Vec<(u64, i32)> = Vec::with_capacity(depth);

        loop {
            if first_err.is_none() {
                while let Some(slot) = retry.pop() {
                    let op = slots[slot].expect("retried slot is in flight");
                    let piece = &pieces[op.piece];
                    if let Err(e) = push_read(uring, fd, slot, piece, &op) {
                        abort_if_caller_memory_in_flight(zero_copy && inflight_ops > 0);
                        self.poisoned = true;
                        return Err(e);
                    }
                    inflight_ops += 1;
                }
                while next_piece < pieces.len() {
                    let Some(slot) = free.pop() else { break };
                    let piece = &pieces[next_piece];
                    let buf = if zero_copy {
                        out[piece.req].1[piece.req_start..piece.req_start + piece.len].as_mut_ptr()
                    } else {
                        pool.slot_mut(slot).as_mut_ptr()
                    };
                    let op =
                        InFlight { piece: next_piece, done_bytes: 0, buf, fixed: !zero_copy && registered };
                    slots[slot] = Some(op);
                    if let Err(e) = push_read(uring, fd, slot, piece, &op) {
                        abort_if_caller_memory_in_flight(zero_copy && inflight_ops > 0);
                        self.poisoned = true;
                        return Err(e);
                    }
                    next_piece += 1;
                    inflight_ops += 1;
                }
            }
            if inflight_ops == 0 {
                break;
            }
            if let Err(e) = submit_and_wait(uring, 1) {
                // Operations may still own pool buffers: never reuse or free them.
                abort_if_caller_memory_in_flight(zero_copy);
                self.poisoned = true;
                return Err(e);
            }
            completions.clear();
            completions.extend(uring.ring.completion().map(|c| (c.user_data(), c.result())));
            for &(tag, res) in &completions {
                inflight_ops -= 1;
                let slot = tag as usize;
                let mut op = slots[slot].expect("completion for an idle slot");
                let piece = pieces[op.piece];
                if res < 0 {
                    first_err.get_or_insert(TierError::io("read", path, io::Error::from_raw_os_error(-res)));
                    slots[slot] = None;
                    free.push(slot);
                    continue;
                }
                let asked = piece.io_len - op.done_bytes;
                op.done_bytes += res as usize;
                if op.done_bytes < piece.len {
                    // O_DIRECT reads less than asked only at the end of the file, and a
                    // retry from an unaligned end would fail with EINVAL.
                    if res == 0 || (!zero_copy && (res as usize) < asked) {
                        first_err.get_or_insert(TierError::ShortRead {
                            path: path.to_path_buf(),
                            offset_bytes: piece.file_offset - piece.req_start as u64,
                            wanted_bytes: out[piece.req].1.len() as u64,
                            got_bytes: (piece.req_start + op.done_bytes) as u64,
                        });
                        slots[slot] = None;
                        free.push(slot);
                    } else {
                        slots[slot] = Some(op);
                        retry.push(slot);
                    }
                    continue;
                }
                if !zero_copy {
                    let dst = &mut out[piece.req].1[piece.req_start..piece.req_start + piece.len];
                    dst.copy_from_slice(&pool.slot(slot)[..piece.len]);
                }
                slots[slot] = None;
                free.push(slot);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for LocalTier {
    fn drop(&mut self) {
        if self.poisoned {
            // The kernel may still write into pool buffers: leak them rather than free them.
            std::mem::forget(std::mem::replace(&mut self.pool, BufferPool::new(0, 0)));
        }
    }
}

fn validate_config(config: &LocalTierConfig) -> Result<(), TierError> {
    let bad = |field, reason: String| Err(TierError::BadConfig { field, reason });
    if config.iodepth == 0 || config.iodepth > MAX_IODEPTH {
        return bad("iodepth", format!("must be 1..={MAX_IODEPTH}, got {}", config.iodepth));
    }
    let buf = config.buffer_size_bytes;
    if buf == 0 || !(buf as u64).is_multiple_of(DIRECT_IO_ALIGN_BYTES) || buf > u32::MAX as usize {
        return bad(
            "buffer_size_bytes",
            format!("must be a non-zero multiple of 4096 below 4 GiB, got {buf}"),
        );
    }
    if config.max_inflight_bytes < buf as u64 {
        return bad(
            "max_inflight_bytes",
            format!("must be at least buffer_size_bytes ({buf}), got {}", config.max_inflight_bytes),
        );
    }
    if config.max_open_files == 0 {
        return bad("max_open_files", "must be at least 1".to_string());
    }
    Ok(())
}

fn open_flags(config: &LocalTierConfig) -> i32 {
    let mut flags = libc::O_CLOEXEC;
    if config.direct {
        flags |= libc::O_DIRECT;
    }
    if config.durability == Durability::Dsync {
        flags |= libc::O_DSYNC;
    }
    flags
}

/// Creates and removes a file with the tier's open flags, so a read-only directory or a
/// filesystem without O_DIRECT is reported at open, naming the path.
fn probe_dir(dir: &Path, config: &LocalTierConfig) -> Result<(), TierError> {
    let probe = dir.join(".dpukit-probe");
    let result = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(open_flags(config))
        .open(&probe);
    match result {
        Ok(_) => std::fs::remove_file(&probe).map_err(|e| TierError::io("remove probe file", &probe, e)),
        Err(e) if config.direct && e.raw_os_error() == Some(libc::EINVAL) => {
            let _ = std::fs::remove_file(&probe);
            Err(TierError::DirectIoUnsupported { path: probe })
        }
        Err(e) => Err(TierError::io("create file in tier directory", dir, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), TierError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| TierError::io("fsync directory", dir, e))
}

fn register(ring: &IoUring, iovecs: &[libc::iovec]) -> io::Result<()> {
    // SAFETY: the iovecs point into `LocalTier::pool`, whose boxed slices never move or
    // shrink and are freed only after the ring (declared first in `LocalTier`) is dropped, or
    // leaked if the tier is poisoned; so they stay valid for the ring's whole life.
    unsafe { ring.submitter().register_buffers(iovecs) }
}

/// Pushes one submission entry.
///
/// # Safety
///
/// Any memory the entry names (a read or write buffer) must stay valid, and not be used
/// otherwise, until the entry's completion has been reaped. `read_uring` and the write
/// pipeline keep that rule: a pool slot stays busy, and caller or batch bytes stay borrowed
/// or owned, until the completion is reaped; if the ring fails first, the tier is poisoned
/// (pool never freed), owned bytes are leaked, and the process aborts when caller memory is
/// still in flight.
pub(super) unsafe fn push_entry(uring: &mut Uring, entry: &squeue::Entry) -> Result<(), TierError> {
    // SAFETY: forwarded to the caller (see `# Safety`).
    unsafe { uring.ring.submission().push(entry) }
        .map_err(|_| TierError::Uring { op: "push", source: io::Error::other("submission queue full") })
}

/// Aborts when an io_uring failure leaves operations in flight on caller memory: returning
/// would let the caller free memory the kernel may still read or write.
pub(super) fn abort_if_caller_memory_in_flight(in_flight: bool) {
    if in_flight {
        // Logged and printed: the process ends now, whether or not a subscriber is installed.
        tracing::error!("io_uring failed with operations in flight on caller buffers; aborting");
        eprintln!("dpukit: fatal: io_uring failed with operations in flight on caller buffers; aborting");
        std::process::abort();
    }
}

fn push_read(uring: &mut Uring, fd: i32, slot: usize, piece: &Piece, op: &InFlight) -> Result<(), TierError> {
    // Pointer arithmetic only; `op.buf` covers `piece.io_len` bytes (a pool slot, or a
    // caller slice when `io_len == len`) and `done_bytes < piece.len <= piece.io_len`.
    let ptr = op.buf.wrapping_add(op.done_bytes);
    let len = (piece.io_len - op.done_bytes) as u32;
    let offset = piece.file_offset + op.done_bytes as u64;
    let fd = types::Fd(fd);
    let entry = if op.fixed {
        opcode::ReadFixed::new(fd, ptr, len, slot as u16).offset(offset).build()
    } else {
        opcode::Read::new(fd, ptr, len).offset(offset).build()
    };
    // SAFETY: `ptr..ptr + len` lies in a pool slot or a caller slice that `read_uring` keeps
    // busy or borrowed until this entry's completion is reaped (see `push_entry`).
    unsafe { push_entry(uring, &entry.user_data(slot as u64)) }
}

/// Submits pushed entries and waits for at least `want` completions, retrying on EINTR,
/// EAGAIN and EBUSY.
pub(super) fn submit_and_wait(uring: &mut Uring, want: usize) -> Result<(), TierError> {
    keep_workers_on_host_cores(uring);
    loop {
        match uring.ring.submit_and_wait(want) {
            Ok(_) => return Ok(()),
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)) => {
            }
            Err(e) => return Err(TierError::Uring { op: "submit_and_wait", source: e }),
        }
    }
}

/// Keeps the ring's async workers (io-wq: fsync, and I/O the kernel cannot do inline) off
/// the cores device threads hold (`crate::cores`). They are threads of the process, but
/// the kernel does not let a thread's affinity be set on them; the ring's own setting
/// does. Looked at before each submission (one atomic load when nothing changed); a
/// kernel without the setting keeps its workers where they are.
fn keep_workers_on_host_cores(uring: &mut Uring) {
    let generation = crate::cores::generation();
    if generation == uring.cores_generation {
        return;
    }
    uring.cores_generation = generation;
    let done = match crate::cores::host_cpus() {
        Some(cpus) => {
            // SAFETY: an all-zero `cpu_set_t` is the empty set, a valid value of this plain
            // bitmask type; CPU_SET only sets a bit of the set it is given (its index into
            // the set's words is bounds-checked; the cpus come from a `CpuSet`, below
            // CPU_SETSIZE).
            let set = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for cpu in cpus {
                    libc::CPU_SET(cpu, &mut set);
                }
                set
            };
            uring.ring.submitter().register_iowq_aff(&set)
        }
        None => uring.ring.submitter().unregister_iowq_aff(),
    };
    if let Err(e) = done {
        tracing::debug!(error = %e, "io_uring workers' CPU affinity not set");
    }
}

/// Reads (O_DIRECT) into `buf` at `offset` until at least `want` bytes are in (the rest of
/// `buf` is padding a file may end inside); fewer before the end of the file is
/// `UnexpectedEof`. O_DIRECT reads less than asked only at the end of the file, and a
/// retry from an unaligned end would fail with EINVAL.
fn read_at_least(file: &File, buf: &mut [u8], want: usize, offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < want {
        let asked = buf.len() - done;
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(n) if n == 0 || (n < asked && done + n < want) => {
                return Err(io::ErrorKind::UnexpectedEof.into())
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_portable(
    file: &File,
    path: &Path,
    pool: &mut BufferPool,
    direct: bool,
    pieces: &[Piece],
    out: &mut [(u64, &mut [u8])],
) -> Result<(), TierError> {
    for piece in pieces {
        let res = if direct {
            let buf = &mut pool.slot_mut(0)[..piece.io_len];
            read_at_least(file, buf, piece.len, piece.file_offset).map(|()| {
                out[piece.req].1[piece.req_start..piece.req_start + piece.len]
                    .copy_from_slice(&buf[..piece.len])
            })
        } else {
            let dst = &mut out[piece.req].1[piece.req_start..piece.req_start + piece.len];
            file.read_exact_at(dst, piece.file_offset)
        };
        if let Err(e) = res {
            if e.kind() != io::ErrorKind::UnexpectedEof {
                return Err(TierError::io("pread", path, e));
            }
            let req_offset = piece.file_offset - piece.req_start as u64;
            let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
            return Err(TierError::ShortRead {
                path: path.to_path_buf(),
                offset_bytes: req_offset,
                wanted_bytes: out[piece.req].1.len() as u64,
                got_bytes: file_len.saturating_sub(req_offset),
            });
        }
    }
    Ok(())
}
