//! The cache index a DPU keeps in its own memory: 128-bit chunk or KV-block keys to a
//! compact [`Location`] (tier, offset, length, CRC32C), bounded in entries, sharded for
//! concurrent use.
//!
//! Layout: each shard holds a dense entry array (key 16 bytes + location in its 16-byte wire
//! form = 32 bytes, preallocated to the shard's capacity), a policy byte and a frequency byte
//! per entry, and a bucketed hash index: 64-byte buckets (one cache line) of ten slots, each
//! a 16-bit tag from the key hash and a 32-bit entry id, with one bucket per 5.5 entries of
//! capacity, so a full shard fills 55 % of the slots and a key's home bucket almost always has
//! room. A probe reads the home bucket, compares its ten tags at once (SWAR on three words:
//! no data-dependent branch until a tag matches), and reads the entry only on a tag match;
//! when the home bucket filled up before an insert, the entry goes to the next bucket with
//! room and every bucket passed counts it, so a probe moves on only while that count is not
//! zero. Deletion decrements the counts again: no tombstones, nothing to rehash. A lookup is
//! then two cache misses, the bucket and the entry, like a SwissTable's. With the ghost
//! table this is about 47 bytes per entry of capacity ([`CacheIndex::bytes_per_entry`]).
//!
//! Eviction: S3-FIFO (Yang et al., SOSP 2023). New keys enter a small probationary queue
//! (10 % of the shard); a key hit while there is promoted to the main queue when the small
//! queue is swept, a key that was not is evicted and remembered in a ghost table; a key
//! re-inserted while remembered goes straight to main. Main is a CLOCK with 2-bit frequency.
//! Chosen over CLOCK-Pro because it is as scan-resistant for this workload (one-time scans of
//! a checkpoint or dataset must not flush hot model chunks or KV blocks) and much simpler:
//! per entry it needs 3 bits of metadata and, for the ghost, 2 bytes. Here the two FIFO
//! queues are CLOCK hands sweeping the entry array (entries carry a small/main bit; a new
//! entry takes the id just freed at the hand, i.e. the queue's tail) instead of
//! separate rings, which keeps the 48-byte budget; the ghost is a direct-mapped array of
//! 16-bit fingerprints. Capacity is per shard (total / shards), so eviction may begin a
//! little before the total is reached when keys spread unevenly.
//!
//! Concurrency: lookups take no lock and do no atomic read-modify-write, which would stall
//! the loads of the lookups around them. Each shard is a seqlock: writers (insert, delete,
//! eviction) take the shard's mutex and make its version odd while they change the index
//! or the entries; a reader loads the version, probes with relaxed loads of the atomic
//! bucket and entry words, and retries if the version was odd or changed meanwhile (after
//! `SEQLOCK_READ_ATTEMPTS` tries it takes the lock, so a reader always finishes). A hit's
//! S3-FIFO frequency bump is a relaxed load then store: concurrent lookups of one entry may
//! lose a bump (the frequency is a 2-bit approximation anyway). Hits and misses are counted
//! per thread (each thread writes only its own counters), so the counts are exact.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{fence, AtomicU64, AtomicU8};

use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::KernelError;

/// Largest capacity accepted (entries). Keeps slot indices and memory sane.
pub const MAX_CAPACITY_ENTRIES: usize = 1 << 31;
/// Largest shard count accepted.
pub const MAX_SHARDS: usize = 1024;
/// Shard count of [`CacheIndex::new`].
pub const DEFAULT_SHARDS: usize = 16;
/// Keys per block in [`CacheIndex::lookup_many`].
pub const LOOKUP_BLOCK: usize = 256;
/// Share of a shard kept for the probationary (small) queue, in tenths.
const SMALL_QUEUE_TENTHS: usize = 1;

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;

/// A 128-bit cache key. Never zero: 0 marks an empty slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(u128);

impl CacheKey {
    /// A key from its raw value (e.g. a descriptor field); `ZeroKey` for 0.
    pub fn new(raw: u128) -> Result<Self, KernelError> {
        if raw == 0 {
            Err(KernelError::ZeroKey)
        } else {
            Ok(Self(raw))
        }
    }

    /// The key of chunk `chunk_index` of object `object_id`: XXH3-128 of both, little-endian.
    pub fn for_chunk(object_id: u64, chunk_index: u64) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&object_id.to_le_bytes());
        bytes[8..].copy_from_slice(&chunk_index.to_le_bytes());
        Self::from_hash(xxhash_rust::xxh3::xxh3_128(&bytes))
    }

    /// The key of a KV-cache block: XXH3-128 of the parent block's key (the hash of the
    /// whole prefix before this block, `None` for the first block) followed by the block's
    /// token ids, little-endian. Chaining makes equal blocks after different prefixes
    /// distinct keys, as vLLM's prefix caching does.
    pub fn for_token_block(parent: Option<CacheKey>, tokens: &[u32]) -> Self {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&parent.map_or(0, |k| k.0).to_le_bytes());
        for token in tokens {
            hasher.update(&token.to_le_bytes());
        }
        Self::from_hash(hasher.digest128())
    }

    fn from_hash(hash: u128) -> Self {
        // A zero hash has probability 2^-128; map it rather than fail.
        Self(hash.max(1))
    }

    /// The raw value.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Little-endian bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// From little-endian bytes; `ZeroKey` for all zeros.
    pub fn from_bytes(bytes: [u8; 16]) -> Result<Self, KernelError> {
        Self::new(u128::from_le_bytes(bytes))
    }
}

/// Where a cached chunk lives. Offsets fit 48 bits (256 TiB per tier), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// Storage tier id (meaning assigned by the host: local NVMe, peer, blob, ...).
    pub tier: u8,
    /// Free flags (e.g. compressed, pinned), carried through unchanged.
    pub flags: u8,
    offset: u64,
    /// Stored length in bytes.
    pub length: u32,
    /// CRC32C of the stored bytes.
    pub crc32c: u32,
}

impl Location {
    /// Largest offset that fits the wire encoding.
    pub const MAX_OFFSET: u64 = (1 << 48) - 1;
    /// Size of the wire encoding.
    pub const WIRE_BYTES: usize = 16;

    /// A location; `OffsetTooLarge` if `offset` needs more than 48 bits.
    pub fn new(tier: u8, flags: u8, offset: u64, length: u32, crc32c: u32) -> Result<Self, KernelError> {
        if offset > Self::MAX_OFFSET {
            return Err(KernelError::OffsetTooLarge { offset });
        }
        Ok(Self { tier, flags, offset, length, crc32c })
    }

    /// Byte offset within the tier (< 2^48).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Wire form: little-endian u64 (offset bits 0..48, tier 48..56, flags 56..64), then
    /// u32 length, then u32 crc32c.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.packed_word().to_le_bytes());
        out[8..12].copy_from_slice(&self.length.to_le_bytes());
        out[12..].copy_from_slice(&self.crc32c.to_le_bytes());
        out
    }

    /// From the wire form. Every 16-byte value is a valid location.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let word = u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ]);
        let length = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let crc32c = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        Self::from_parts(word, length, crc32c)
    }

    /// From a slice that must be exactly [`Self::WIRE_BYTES`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KernelError> {
        let array: [u8; 16] = bytes.try_into().map_err(|_| KernelError::BadEncodingLength {
            what: "location",
            expected: Self::WIRE_BYTES,
            got: bytes.len(),
        })?;
        Ok(Self::from_bytes(array))
    }

    fn packed_word(&self) -> u64 {
        self.offset | (u64::from(self.tier) << 48) | (u64::from(self.flags) << 56)
    }

    fn from_parts(word: u64, length: u32, crc32c: u32) -> Self {
        Self {
            tier: (word >> 48) as u8,
            flags: (word >> 56) as u8,
            offset: word & Self::MAX_OFFSET,
            length,
            crc32c,
        }
    }
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertOutcome {
    /// The previous location when the key was present (upsert).
    pub replaced: Option<Location>,
    /// The entry evicted to make room, if any: its data can be released from its tier.
    pub evicted: Option<(CacheKey, Location)>,
}

/// Operation counters, summed over shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found the key.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Inserts of new keys.
    pub inserts: u64,
    /// Inserts that replaced an existing key's location.
    pub updates: u64,
    /// Entries evicted by the policy.
    pub evictions: u64,
    /// Entries removed by `delete`.
    pub deletes: u64,
    /// New keys admitted straight to the main queue because the ghost remembered them.
    pub ghost_admissions: u64,
}

/// A bounded, sharded cache index with S3-FIFO eviction. All methods take `&self`.
pub struct CacheIndex {
    shards: Box<[Shard]>,
    shard_mask: u64,
    capacity_entries: usize,
    /// Hit and miss counters, one pair per thread that looked something up.
    counters: ThreadLocal<LookupCounters>,
}

impl std::fmt::Debug for CacheIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheIndex")
            .field("capacity_entries", &self.capacity_entries)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl CacheIndex {
    /// An index holding at most `capacity_entries`, with [`DEFAULT_SHARDS`] shards (fewer if
    /// the capacity is smaller).
    pub fn new(capacity_entries: usize) -> Result<Self, KernelError> {
        let shards = DEFAULT_SHARDS.min(capacity_entries.max(1).next_power_of_two());
        let shards = if shards > capacity_entries.max(1) { shards / 2 } else { shards };
        Self::with_shards(capacity_entries, shards.max(1))
    }

    /// An index holding at most `capacity_entries` in `shards` shards (a power of two,
    /// at most [`MAX_SHARDS`] and at most `capacity_entries`).
    pub fn with_shards(capacity_entries: usize, shards: usize) -> Result<Self, KernelError> {
        if capacity_entries == 0 || capacity_entries > MAX_CAPACITY_ENTRIES {
            return Err(KernelError::InvalidParameter {
                what: "cache capacity",
                reason: format!("{capacity_entries} entries is outside 1..={MAX_CAPACITY_ENTRIES}"),
            });
        }
        if !shards.is_power_of_two() || shards > MAX_SHARDS || shards > capacity_entries {
            return Err(KernelError::InvalidParameter {
                what: "cache shard count",
                reason: format!(
                    "{shards} is not a power of two in 1..={MAX_SHARDS} and <= capacity {capacity_entries}"
                ),
            });
        }
        let base = capacity_entries / shards;
        let extra = capacity_entries % shards;
        let shards_vec: Vec<Shard> = (0..shards).map(|i| Shard::new(base + usize::from(i < extra))).collect();
        Ok(Self {
            shards: shards_vec.into_boxed_slice(),
            shard_mask: shards as u64 - 1,
            capacity_entries,
            counters: ThreadLocal::new(),
        })
    }

    /// The bound on entries.
    pub fn capacity_entries(&self) -> usize {
        self.capacity_entries
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.writer.lock().len).sum()
    }

    /// Whether no entries are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The location of `key`, counting a hit or a miss. Takes no lock and does no atomic
    /// read-modify-write (see the module docs).
    #[inline(always)]
    pub fn lookup(&self, key: CacheKey) -> Option<Location> {
        let counters = self.counters.get_or_default();
        let hash = hash_key(key);
        let found = self.shard(hash).lookup(key, hash);
        counters.count(found.is_some());
        found
    }

    /// Looks up many keys, filling `out[i]` for `keys[i]` (`out` shorter than `keys` limits
    /// the work to `out.len()`). Same result as repeated [`Self::lookup`], but a block of
    /// [`LOOKUP_BLOCK`] keys is hashed and its home buckets loaded first, as independent
    /// loads the CPU overlaps, before the probes. (Loading the candidate entries in a second
    /// such pass measured no faster on this machine: the page walks, not the loads, bound it.)
    pub fn lookup_many(&self, keys: &[CacheKey], out: &mut [Option<Location>]) {
        let counters = self.counters.get_or_default();
        let n = keys.len().min(out.len());
        let mut hashes = [0u64; LOOKUP_BLOCK];
        for (block_keys, block_out) in keys[..n].chunks(LOOKUP_BLOCK).zip(out[..n].chunks_mut(LOOKUP_BLOCK)) {
            // The home buckets first, as a run of independent loads the CPU overlaps; then
            // the validated probes.
            let mut touched = 0u64;
            for (h, key) in hashes.iter_mut().zip(block_keys) {
                *h = hash_key(*key);
                touched ^= self.shard(*h).home_tags(*h);
            }
            std::hint::black_box(touched);
            for ((key, hash), slot) in block_keys.iter().zip(&hashes).zip(block_out.iter_mut()) {
                *slot = self.shard(*hash).lookup(*key, *hash);
                counters.count(slot.is_some());
            }
        }
    }

    /// Inserts or replaces `key`'s location, evicting per policy when the shard is full.
    pub fn insert(&self, key: CacheKey, location: Location) -> InsertOutcome {
        let hash = hash_key(key);
        self.shard(hash).insert(key, hash, location)
    }

    /// Removes `key`, returning its location, or `NotFound`.
    pub fn delete(&self, key: CacheKey) -> Result<Location, KernelError> {
        let hash = hash_key(key);
        self.shard(hash).delete(key, hash).ok_or(KernelError::NotFound { key: key.0 })
    }

    /// Whether `key` is present, without counting a lookup or touching its frequency.
    pub fn contains(&self, key: CacheKey) -> bool {
        let hash = hash_key(key);
        self.shard(hash).read(key, hash).is_some()
    }

    /// Counters summed over shards and threads. Exact once the threads counting have
    /// finished their calls; a call in progress on another thread may not be counted yet.
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for counters in self.counters.iter() {
            total.hits += counters.hits.load(Relaxed);
            total.misses += counters.misses.load(Relaxed);
        }
        for shard in self.shards.iter() {
            let s = shard.writer.lock().stats;
            total.inserts += s.inserts;
            total.updates += s.updates;
            total.evictions += s.evictions;
            total.deletes += s.deletes;
            total.ghost_admissions += s.ghost_admissions;
        }
        total
    }

    /// Bytes of memory the index holds (tables, ghost, shard headers), independent of how
    /// full it is.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.shards.iter().map(|s| std::mem::size_of::<Shard>() + s.heap_bytes()).sum::<usize>()
    }

    /// [`Self::memory_bytes`] divided by the capacity: the memory cost of one entry,
    /// overhead included.
    pub fn bytes_per_entry(&self) -> f64 {
        self.memory_bytes() as f64 / self.capacity_entries as f64
    }

    /// Checks the index's internal invariants, panicking with what is wrong: every live
    /// entry is reachable from its home bucket, and every bucket's overflow count is the
    /// number of entries placed past it. For tests and fuzzing.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn check_invariants(&self) {
        for (s, shard) in self.shards.iter().enumerate() {
            let w = shard.writer.lock();
            let mut expected = vec![0u64; shard.buckets.len()];
            let mut live = 0;
            for id in 0..w.capacity {
                if w.meta[id] & LIVE == 0 {
                    continue;
                }
                live += 1;
                let key = shard.key_of(id);
                let hash = hash_key(key);
                let found = shard.find_locked(key, hash);
                assert!(matches!(found, Some((_, got)) if got == id), "shard {s}: entry {id} not reachable");
                let pos = found.map(|(p, _)| p).unwrap_or(SlotPos { bucket: 0, slot: 0 });
                let mut b = shard.home(hash);
                while b != pos.bucket {
                    expected[b] += 1;
                    b = shard.next(b);
                }
            }
            assert_eq!(live, w.len, "shard {s}: live entries");
            for (b, bucket) in shard.buckets.iter().enumerate() {
                let got = u64::from(Bucket::overflow(bucket.tag_words()));
                assert_eq!(got, expected[b], "shard {s}: bucket {b} overflow count");
            }
        }
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[(hash & self.shard_mask) as usize]
    }
}

/// Mixes the key so raw (non-hashed, e.g. sequential) keys still spread over shards and slots.
#[inline(always)]
fn hash_key(key: CacheKey) -> u64 {
    let lo = key.0 as u64;
    let hi = (key.0 >> 64) as u64;
    let r = u128::from(lo ^ K0).wrapping_mul(u128::from(hi ^ K1));
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn fast_range(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// One cached entry: the key and the location in its packed wire words, as atomics so that
/// lock-free readers race with writers without a data race. Aligned so an entry never
/// straddles a cache line.
#[derive(Debug, Default)]
#[repr(C, align(32))]
struct Entry {
    key_lo: AtomicU64,
    key_hi: AtomicU64,
    /// [`Location::packed_word`].
    word: AtomicU64,
    /// Length in bits 0..32, CRC32C in bits 32..64.
    length_crc: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

// Per-entry policy byte (writer-owned).
const LIVE: u8 = 0x80;
const MAIN: u8 = 0x04;
/// Largest value of the per-entry frequency (2 bits).
const FREQ_MAX: u8 = 3;

/// Optimistic read attempts before a lookup falls back to taking the shard's lock.
const SEQLOCK_READ_ATTEMPTS: u32 = 64;

const NO_FREE: u32 = u32::MAX;

/// Slots per bucket.
const BUCKET_SLOTS: usize = 10;
/// Buckets per entry of capacity, as entries per bucket when the shard is full, a fraction:
/// 5.5 of 10 slots, so a key's home bucket has a free slot with probability about 0.975
/// (Poisson) and a probe almost always reads one cache line; 11.6 bytes of index per entry.
const BUCKET_FILL_AT_CAPACITY: (usize, usize) = (11, 2);
/// 16-bit lanes of a word.
const LANES_LO: u64 = 0x0001_0001_0001_0001;
const LANES_LOW_15: u64 = 0x7fff_7fff_7fff_7fff;
/// Word 2 carries tags in lanes 0 and 1 only.
const WORD2_TAG_LANES: u64 = 0x0000_0000_8000_8000;

/// One cache line of the index: ten (16-bit tag, 32-bit entry id) slots and an overflow
/// count. Words 0..3 hold the tags (four per word, the last word two, tag 0 = empty slot)
/// with the overflow count in the top 32 bits of word 2: how many entries whose probe
/// passed this bucket (it was full when they were inserted) live in later buckets. A
/// probe stops at the first bucket with a zero count. Words 3..8 hold the entry ids, two
/// per word.
#[derive(Debug, Default)]
#[repr(C, align(64))]
struct Bucket {
    words: [AtomicU64; 8],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// Where an entry sits in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotPos {
    bucket: usize,
    slot: usize,
}

/// A bit per 16-bit lane of `x` (its high bit) set where the lane is zero. Exact: no
/// borrow crosses lanes.
#[inline(always)]
fn zero_lanes(x: u64) -> u64 {
    !(((x & LANES_LOW_15).wrapping_add(LANES_LOW_15)) | x | LANES_LOW_15)
}

impl Bucket {
    #[inline(always)]
    fn tag_words(&self) -> [u64; 3] {
        [self.words[0].load(Relaxed), self.words[1].load(Relaxed), self.words[2].load(Relaxed)]
    }

    /// Lanes of `words` equal to `tag`, one high bit per lane, by tag word.
    #[inline(always)]
    fn matches(words: [u64; 3], tag: u16) -> [u64; 3] {
        let spread = u64::from(tag) * LANES_LO;
        [
            zero_lanes(words[0] ^ spread),
            zero_lanes(words[1] ^ spread),
            zero_lanes(words[2] ^ spread) & WORD2_TAG_LANES,
        ]
    }

    #[inline(always)]
    fn overflow(words: [u64; 3]) -> u32 {
        (words[2] >> 32) as u32
    }

    #[inline(always)]
    fn id(&self, slot: usize) -> usize {
        (self.words[3 + slot / 2].load(Relaxed) >> (32 * (slot % 2))) as u32 as usize
    }

    /// Writer only: sets `slot` to `tag` (0 empties it) and `id`.
    fn set(&self, slot: usize, tag: u16, id: usize) {
        debug_assert!(slot < BUCKET_SLOTS);
        let (w, shift) = (slot / 4, 16 * (slot % 4));
        let tags = self.words[w].load(Relaxed);
        self.words[w].store((tags & !(0xffff << shift)) | (u64::from(tag) << shift), Relaxed);
        let (w, shift) = (3 + slot / 2, 32 * (slot % 2));
        let ids = self.words[w].load(Relaxed);
        self.words[w].store((ids & !(0xffff_ffff << shift)) | ((id as u64) << shift), Relaxed);
    }

    /// Writer only: adds `delta` to the overflow count.
    fn add_overflow(&self, delta: i64) {
        let w = self.words[2].load(Relaxed);
        let count = ((w >> 32) as i64 + delta) as u64;
        debug_assert!(count <= u64::from(u32::MAX), "overflow count out of range");
        self.words[2].store((w & 0xffff_ffff) | (count << 32), Relaxed);
    }
}

/// Calls `f(slot)` for each set lane of `masks`, in slot order, until it returns `Some`.
#[inline(always)]
fn each_slot<T>(masks: [u64; 3], mut f: impl FnMut(usize) -> Option<T>) -> Option<T> {
    for (w, mut m) in masks.into_iter().enumerate() {
        while m != 0 {
            if let Some(found) = f(w * 4 + (m.trailing_zeros() / 16) as usize) {
                return Some(found);
            }
            m &= m - 1;
        }
    }
    None
}

/// Hit and miss counters of one thread: written only by that thread, with a plain load and
/// store (exact, and no read-modify-write to stall the lookups around it), read by
/// [`CacheIndex::stats`]. Aligned so two threads' counters never share a cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct LookupCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl LookupCounters {
    #[inline(always)]
    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
    }
}

/// One shard: reader-visible tables in atomics behind a seqlock, writer state behind a lock.
#[derive(Debug)]
struct Shard {
    /// Seqlock version: odd while a writer mutates `buckets`, `entries` or the policy state.
    /// Changed only with `writer` held.
    version: AtomicU64,
    /// Bucketed hash index from key to entry id; linear probing over buckets.
    buckets: Box<[Bucket]>,
    /// Entries by id; the CLOCK hands sweep this array, so eviction order is independent
    /// of hash positions.
    entries: Box<[Entry]>,
    /// S3-FIFO frequency per entry id (0..=FREQ_MAX), bumped by readers with a plain load +
    /// store, so bumps racing each other or a writer may be lost or land on a recycled id.
    freq: Box<[AtomicU8]>,
    writer: Mutex<WriterState>,
}

/// Shard state only writers (insert, delete, eviction) touch, under the shard's lock.
#[derive(Debug)]
struct WriterState {
    /// LIVE | MAIN per entry id.
    meta: Vec<u8>,
    ghost: Vec<u16>,
    /// Head of the free list of deleted entry ids, linked through `entries[id].key_lo`.
    free_head: u32,
    /// Entry ids below this have been used at least once.
    used: usize,
    capacity: usize,
    len: usize,
    small_len: usize,
    small_hand: usize,
    main_hand: usize,
    /// Writer counters; hits and misses are counted per thread by the index.
    stats: CacheStats,
}

/// What one optimistic probe saw.
enum Probe {
    Hit(usize, Location),
    Miss,
    /// The probe ran through every bucket without reaching one with a zero overflow count:
    /// only possible while a writer is changing the index, so the version check fails and
    /// the read is retried.
    Torn,
}

/// A writer's critical section on the reader-visible tables: the version is odd while it
/// lives and even again when it drops (even on unwind, so readers never spin forever).
/// Create only with the shard's lock held.
struct WriteSection<'a> {
    version: &'a AtomicU64,
}

impl<'a> WriteSection<'a> {
    #[inline(always)]
    fn begin(version: &'a AtomicU64) -> Self {
        let v = version.load(Relaxed);
        debug_assert!(v & 1 == 0, "nested or unlocked write section");
        version.store(v.wrapping_add(1), Relaxed);
        // Orders the odd version before the data stores that follow, for readers that
        // observe one of those stores.
        fence(Release);
        Self { version }
    }
}

impl Drop for WriteSection<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let v = self.version.load(Relaxed);
        self.version.store(v.wrapping_add(1), Release);
    }
}

impl Shard {
    fn new(capacity: usize) -> Self {
        debug_assert!(capacity > 0 && capacity < u32::MAX as usize);
        let (num, den) = BUCKET_FILL_AT_CAPACITY;
        let buckets = (capacity * den).div_ceil(num);
        Self {
            version: AtomicU64::new(0),
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            entries: (0..capacity).map(|_| Entry::default()).collect(),
            freq: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            writer: Mutex::new(WriterState {
                meta: vec![0; capacity],
                ghost: vec![0; capacity],
                free_head: NO_FREE,
                used: 0,
                capacity,
                len: 0,
                small_len: 0,
                small_hand: 0,
                main_hand: 0,
                stats: CacheStats::default(),
            }),
        }
    }

    fn heap_bytes(&self) -> usize {
        let w = self.writer.lock();
        self.buckets.len() * std::mem::size_of::<Bucket>()
            + self.entries.len() * std::mem::size_of::<Entry>()
            + self.freq.len()
            + w.meta.capacity()
            + w.ghost.capacity() * std::mem::size_of::<u16>()
    }

    /// The key's 16-bit tag (never 0, which marks an empty slot): the hash's top bits, which
    /// neither the shard (low bits) nor the home bucket (bits 47 down) use.
    #[inline(always)]
    fn tag(hash: u64) -> u16 {
        ((hash >> 48) as u16).max(1)
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        fast_range(hash.rotate_left(16), self.buckets.len())
    }

    #[inline(always)]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    /// The first tag word of `hash`'s home bucket, unvalidated: only to pull its line into
    /// cache.
    #[inline(always)]
    fn home_tags(&self, hash: u64) -> u64 {
        self.buckets[self.home(hash)].words[0].load(Relaxed)
    }

    #[inline(always)]
    fn key_matches(&self, id: usize, key: CacheKey) -> bool {
        let e = &self.entries[id];
        e.key_lo.load(Relaxed) == key.0 as u64 && e.key_hi.load(Relaxed) == (key.0 >> 64) as u64
    }

    /// Walks `key`'s probe sequence once, returning where it is. Consistent only with the
    /// lock held or when validated by the seqlock version; `None` in the outer option means
    /// the walk was torn.
    #[inline(always)]
    fn probe_pos(&self, key: CacheKey, hash: u64) -> Option<Option<(SlotPos, usize)>> {
        let tag = Self::tag(hash);
        let mut b = self.home(hash);
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[b];
            let words = bucket.tag_words();
            let found = each_slot(Bucket::matches(words, tag), |slot| {
                let id = bucket.id(slot);
                self.key_matches(id, key).then_some((SlotPos { bucket: b, slot }, id))
            });
            if found.is_some() {
                return Some(found);
            }
            if Bucket::overflow(words) == 0 {
                return Some(None);
            }
            b = self.next(b);
        }
        None
    }

    /// One optimistic probe: the entry and its location.
    #[inline(always)]
    fn probe(&self, key: CacheKey, hash: u64) -> Probe {
        match self.probe_pos(key, hash) {
            Some(Some((_, id))) => {
                let e = &self.entries[id];
                let length_crc = e.length_crc.load(Relaxed);
                Probe::Hit(
                    id,
                    Location::from_parts(e.word.load(Relaxed), length_crc as u32, (length_crc >> 32) as u32),
                )
            }
            Some(None) => Probe::Miss,
            None => Probe::Torn,
        }
    }

    /// (entry id, location) of `key`, without a lock: a seqlock read, retried while a
    /// writer is active, then (bounded) under the lock.
    #[inline(always)]
    fn read(&self, key: CacheKey, hash: u64) -> Option<(usize, Location)> {
        for _ in 0..SEQLOCK_READ_ATTEMPTS {
            let before = self.version.load(Acquire);
            if before & 1 == 0 {
                let probe = self.probe(key, hash);
                // Orders the probe's loads before the version reload.
                fence(Acquire);
                if self.version.load(Relaxed) == before {
                    match probe {
                        Probe::Hit(id, location) => return Some((id, location)),
                        Probe::Miss => return None,
                        Probe::Torn => {}
                    }
                }
            }
            std::hint::spin_loop();
        }
        self.read_locked(key, hash)
    }

    #[cold]
    #[inline(never)]
    fn read_locked(&self, key: CacheKey, hash: u64) -> Option<(usize, Location)> {
        let _writer = self.writer.lock();
        match self.probe(key, hash) {
            Probe::Hit(id, location) => Some((id, location)),
            Probe::Miss => None,
            Probe::Torn => unreachable!("index probe torn under the shard lock"),
        }
    }

    #[inline(always)]
    fn lookup(&self, key: CacheKey, hash: u64) -> Option<Location> {
        let (id, location) = self.read(key, hash)?;
        self.touch(id);
        Some(location)
    }

    /// Bumps the frequency of `id` (saturating), without a read-modify-write.
    #[inline(always)]
    fn touch(&self, id: usize) {
        let f = self.freq[id].load(Relaxed);
        if f < FREQ_MAX {
            self.freq[id].store(f + 1, Relaxed);
        }
    }

    /// (index position, entry id) of `key`. Lock held.
    fn find_locked(&self, key: CacheKey, hash: u64) -> Option<(SlotPos, usize)> {
        self.probe_pos(key, hash).expect("index probe torn under the shard lock")
    }

    fn key_of(&self, id: usize) -> CacheKey {
        let e = &self.entries[id];
        CacheKey(u128::from(e.key_lo.load(Relaxed)) | (u128::from(e.key_hi.load(Relaxed)) << 64))
    }

    fn location_of(&self, id: usize) -> Location {
        let e = &self.entries[id];
        let length_crc = e.length_crc.load(Relaxed);
        Location::from_parts(e.word.load(Relaxed), length_crc as u32, (length_crc >> 32) as u32)
    }

    fn write_location(&self, id: usize, location: Location) {
        let e = &self.entries[id];
        e.word.store(location.packed_word(), Relaxed);
        e.length_crc.store(u64::from(location.length) | (u64::from(location.crc32c) << 32), Relaxed);
    }

    fn ghost_index(ghost_len: usize, hash: u64) -> (usize, u16) {
        let index = fast_range(hash.rotate_left(23), ghost_len);
        (index, ((hash >> 16) as u16).max(1))
    }

    fn insert(&self, key: CacheKey, hash: u64, location: Location) -> InsertOutcome {
        let mut w = self.writer.lock();
        let _section = WriteSection::begin(&self.version);
        self.insert_locked(&mut w, key, hash, location)
    }

    fn insert_locked(
        &self,
        w: &mut WriterState,
        key: CacheKey,
        hash: u64,
        location: Location,
    ) -> InsertOutcome {
        if let Some((_, id)) = self.find_locked(key, hash) {
            let replaced = self.location_of(id);
            self.write_location(id, location);
            self.touch(id);
            w.stats.updates += 1;
            return InsertOutcome { replaced: Some(replaced), evicted: None };
        }
        let (id, evicted) = if w.len >= w.capacity {
            let (id, victim) = self.evict_one(w);
            (id, Some(victim))
        } else if w.free_head != NO_FREE {
            let id = w.free_head as usize;
            w.free_head = self.entries[id].key_lo.load(Relaxed) as u32;
            (id, None)
        } else {
            w.used += 1;
            (w.used - 1, None)
        };
        let (gi, fingerprint) = Self::ghost_index(w.ghost.len(), hash);
        let to_main = w.ghost[gi] == fingerprint;
        if to_main {
            w.ghost[gi] = 0;
            w.stats.ghost_admissions += 1;
        } else {
            w.small_len += 1;
        }
        let e = &self.entries[id];
        e.key_lo.store(key.0 as u64, Relaxed);
        e.key_hi.store((key.0 >> 64) as u64, Relaxed);
        self.write_location(id, location);
        w.meta[id] = LIVE | if to_main { MAIN } else { 0 };
        self.freq[id].store(0, Relaxed);
        self.place(hash, id);
        w.len += 1;
        w.stats.inserts += 1;
        debug_assert!(w.len <= w.capacity);
        InsertOutcome { replaced: None, evicted }
    }

    /// Puts entry `id` in the first free slot from its home bucket on, counting the
    /// overflow on every full bucket it passes. There are more slots than entries, so a
    /// free slot exists.
    fn place(&self, hash: u64, id: usize) {
        let tag = Self::tag(hash);
        let mut b = self.home(hash);
        loop {
            let bucket = &self.buckets[b];
            if let Some(slot) = each_slot(Bucket::matches(bucket.tag_words(), 0), Some) {
                bucket.set(slot, tag, id);
                return;
            }
            bucket.add_overflow(1);
            b = self.next(b);
        }
    }

    fn delete(&self, key: CacheKey, hash: u64) -> Option<Location> {
        let mut w = self.writer.lock();
        let (pos, id) = self.find_locked(key, hash)?;
        let _section = WriteSection::begin(&self.version);
        let location = self.location_of(id);
        self.release(&mut w, hash, pos, id);
        self.entries[id].key_lo.store(u64::from(w.free_head), Relaxed);
        self.entries[id].key_hi.store(0, Relaxed);
        w.free_head = id as u32;
        w.stats.deletes += 1;
        Some(location)
    }

    /// Unlinks entry `id` (at index position `pos`, key hashing to `hash`) and marks it dead.
    fn release(&self, w: &mut WriterState, hash: u64, pos: SlotPos, id: usize) {
        if w.meta[id] & MAIN == 0 {
            w.small_len -= 1;
        }
        w.meta[id] = 0;
        w.len -= 1;
        self.buckets[pos.bucket].set(pos.slot, 0, 0);
        let mut b = self.home(hash);
        while b != pos.bucket {
            self.buckets[b].add_overflow(-1);
            b = self.next(b);
        }
    }

    /// Evicts one entry per S3-FIFO and returns its (now free) id. Requires `len > 0`.
    fn evict_one(&self, w: &mut WriterState) -> (usize, (CacheKey, Location)) {
        debug_assert!(w.len > 0);
        let small_target = (w.capacity * SMALL_QUEUE_TENTHS / 10).max(1);
        let n = w.capacity;
        loop {
            let main_len = w.len - w.small_len;
            let from_small = w.small_len > 0 && (w.small_len >= small_target || main_len == 0);
            let id = if from_small {
                let id = w.small_hand;
                w.small_hand = if id + 1 == n { 0 } else { id + 1 };
                let m = w.meta[id];
                if m & LIVE == 0 || m & MAIN != 0 {
                    continue;
                }
                if self.freq[id].load(Relaxed) != 0 {
                    // Hit while on probation: promote to main with a fresh frequency.
                    w.meta[id] = LIVE | MAIN;
                    self.freq[id].store(0, Relaxed);
                    w.small_len -= 1;
                    continue;
                }
                id
            } else {
                let id = w.main_hand;
                w.main_hand = if id + 1 == n { 0 } else { id + 1 };
                let m = w.meta[id];
                if m & LIVE == 0 || m & MAIN == 0 {
                    continue;
                }
                let f = self.freq[id].load(Relaxed);
                if f != 0 {
                    self.freq[id].store(f - 1, Relaxed);
                    continue;
                }
                id
            };
            let key = self.key_of(id);
            let victim = (key, self.location_of(id));
            let hash = hash_key(key);
            if from_small {
                let (gi, fingerprint) = Self::ghost_index(w.ghost.len(), hash);
                w.ghost[gi] = fingerprint;
            }
            let pos = self.position_of(hash, id);
            self.release(w, hash, pos, id);
            w.stats.evictions += 1;
            return (id, victim);
        }
    }

    /// Index position of live entry `id` whose key hashes to `hash`. Lock held.
    fn position_of(&self, hash: u64, id: usize) -> SlotPos {
        let tag = Self::tag(hash);
        let mut b = self.home(hash);
        loop {
            let bucket = &self.buckets[b];
            let found = each_slot(Bucket::matches(bucket.tag_words(), tag), |slot| {
                (bucket.id(slot) == id).then_some(SlotPos { bucket: b, slot })
            });
            if let Some(pos) = found {
                return pos;
            }
            debug_assert!(Bucket::overflow(bucket.tag_words()) != 0, "live entry missing from the index");
            b = self.next(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn key(n: u64) -> CacheKey {
        CacheKey::for_chunk(1, n)
    }

    fn loc(n: u64) -> Location {
        Location::new(1, 0, n * 4096, 4096, n as u32).expect("small offset")
    }

    #[test]
    fn location_wire_layout() {
        let l = Location::new(0xAB, 0xCD, 0x0000_1234_5678_9ABC, 0x0102_0304, 0xDEAD_BEEF).expect("fits");
        let bytes = l.to_bytes();
        assert_eq!(
            bytes,
            [0xBC, 0x9A, 0x78, 0x56, 0x34, 0x12, 0xAB, 0xCD, 0x04, 0x03, 0x02, 0x01, 0xEF, 0xBE, 0xAD, 0xDE]
        );
        assert_eq!(Location::from_bytes(bytes), l);
        assert_eq!(Location::from_slice(&bytes), Ok(l));
        assert!(matches!(
            Location::from_slice(&bytes[..15]),
            Err(KernelError::BadEncodingLength { got: 15, .. })
        ));
        assert_eq!(Location::new(0, 0, 1 << 48, 0, 0), Err(KernelError::OffsetTooLarge { offset: 1 << 48 }));
        assert!(Location::new(0, 0, Location::MAX_OFFSET, 0, 0).is_ok());
    }

    #[test]
    fn keys() {
        assert_eq!(CacheKey::new(0), Err(KernelError::ZeroKey));
        assert_eq!(CacheKey::from_bytes([0; 16]), Err(KernelError::ZeroKey));
        let k = CacheKey::for_chunk(7, 9);
        assert_eq!(CacheKey::from_bytes(k.to_bytes()), Ok(k));
        assert_ne!(CacheKey::for_chunk(7, 9), CacheKey::for_chunk(9, 7));
        let first = CacheKey::for_token_block(None, &[1, 2, 3]);
        let second = CacheKey::for_token_block(Some(first), &[4, 5, 6]);
        assert_ne!(second, CacheKey::for_token_block(None, &[4, 5, 6]));
        assert_eq!(second, CacheKey::for_token_block(Some(first), &[4, 5, 6]));
    }

    #[test]
    fn insert_lookup_replace_delete() {
        let index = CacheIndex::new(100).expect("valid");
        assert_eq!(index.lookup(key(1)), None);
        let first = index.insert(key(1), loc(1));
        assert_eq!(first, InsertOutcome { replaced: None, evicted: None });
        assert_eq!(index.lookup(key(1)), Some(loc(1)));
        // Duplicate insert replaces and says so.
        let again = index.insert(key(1), loc(2));
        assert_eq!(again.replaced, Some(loc(1)));
        assert_eq!(index.len(), 1);
        assert_eq!(index.delete(key(1)), Ok(loc(2)));
        assert_eq!(index.delete(key(1)), Err(KernelError::NotFound { key: key(1).as_u128() }));
        assert!(index.is_empty());
        let s = index.stats();
        assert_eq!((s.hits, s.misses, s.inserts, s.updates, s.deletes), (1, 1, 1, 1, 1));
    }

    #[test]
    fn bad_configurations() {
        assert!(CacheIndex::new(0).is_err());
        assert!(CacheIndex::with_shards(10, 3).is_err());
        assert!(CacheIndex::with_shards(10, 16).is_err());
        assert!(CacheIndex::with_shards(MAX_CAPACITY_ENTRIES + 1, 1).is_err());
        assert_eq!(CacheIndex::new(1).map(|i| i.shard_count()), Ok(1));
        assert_eq!(CacheIndex::new(5).map(|i| i.shard_count()), Ok(4));
    }

    #[test]
    fn at_capacity_evicts_and_reports() {
        let capacity = 1000;
        let index = CacheIndex::new(capacity).expect("valid");
        let mut evicted = 0;
        for n in 0..5000 {
            if let Some((k, l)) = index.insert(key(n), loc(n)).evicted {
                evicted += 1;
                assert!(!index.contains(k));
                assert_eq!(l.crc32c as u64, (0..n).find(|m| key(*m) == k).expect("known key"));
            }
            assert!(index.len() <= capacity);
        }
        let s = index.stats();
        assert_eq!(s.evictions, evicted);
        assert_eq!(s.inserts - s.evictions, index.len() as u64);
        // Per-shard bounds: the whole capacity is used, less a little for uneven spread.
        assert!(index.len() > capacity * 9 / 10);
    }

    #[test]
    fn memory_per_entry_within_budget() {
        for capacity in [100_000, 1 << 20] {
            let index = CacheIndex::new(capacity).expect("valid");
            let per_entry = index.bytes_per_entry();
            assert!(per_entry <= 48.0, "{capacity}: {per_entry} bytes per entry");
        }
    }

    /// A plain LRU, for comparison.
    fn lru_survivors(capacity: usize, hot: &[u64], scan: std::ops::Range<u64>) -> usize {
        let mut lru: VecDeque<u64> = VecDeque::new();
        let access = |k: u64, lru: &mut VecDeque<u64>| {
            if let Some(p) = lru.iter().position(|x| *x == k) {
                lru.remove(p);
            } else if lru.len() == capacity {
                lru.pop_front();
            }
            lru.push_back(k);
        };
        for _ in 0..3 {
            for &k in hot {
                access(k, &mut lru);
            }
        }
        for k in scan {
            access(k, &mut lru);
        }
        hot.iter().filter(|k| lru.contains(k)).count()
    }

    #[test]
    fn hot_set_survives_a_one_time_scan() {
        let capacity = 1000;
        let hot: Vec<u64> = (0..200).collect();
        let scan = 10_000..13_000; // three times the capacity, each key once
        let index = CacheIndex::with_shards(capacity, 1).expect("valid");
        for _ in 0..3 {
            for &k in &hot {
                if index.lookup(key(k)).is_none() {
                    index.insert(key(k), loc(k));
                }
            }
        }
        for k in scan.clone() {
            if index.lookup(key(k)).is_none() {
                index.insert(key(k), loc(k));
            }
        }
        let survivors = hot.iter().filter(|k| index.contains(key(**k))).count();
        let lru = lru_survivors(capacity, &hot, scan);
        assert_eq!(lru, 0, "LRU (and FIFO) lose the whole hot set to the scan");
        assert!(survivors >= 190, "S3-FIFO kept {survivors} of 200 hot keys");
    }

    #[test]
    fn ghost_readmits_to_main() {
        let index = CacheIndex::with_shards(100, 1).expect("valid");
        for n in 0..300 {
            index.insert(key(n), loc(n));
        }
        // Keys evicted from the small queue recently are remembered.
        for n in 100..200 {
            index.insert(key(n), loc(n));
        }
        assert!(index.stats().ghost_admissions > 0);
    }

    #[test]
    fn concurrent_use() {
        let index = CacheIndex::new(100_000).expect("valid");
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let index = &index;
                scope.spawn(move || {
                    for n in 0..2000 {
                        let k = key(t * 1_000_000 + n);
                        index.insert(k, loc(n));
                        assert_eq!(index.lookup(k), Some(loc(n)));
                    }
                });
            }
        });
        assert_eq!(index.len(), 8000);
    }

    #[test]
    fn overflow_chains_stay_consistent_under_churn() {
        // One small shard: home buckets fill up and entries spill into later buckets.
        let index = CacheIndex::with_shards(64, 1).expect("valid");
        let mut present = std::collections::BTreeSet::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let n = rng % 200;
            if rng & (1 << 20) == 0 {
                if let Some((evicted, _)) = index.insert(key(n), loc(n)).evicted {
                    present.retain(|m| key(*m) != evicted);
                }
                present.insert(n);
            } else if index.delete(key(n)).is_ok() {
                assert!(present.remove(&n));
            }
        }
        index.check_invariants();
        for n in 0..200 {
            assert_eq!(index.lookup(key(n)), present.contains(&n).then(|| loc(n)), "key {n}");
        }
    }

    #[test]
    fn readers_see_stable_keys_while_writers_churn() {
        // Readers probe without locks while a writer inserts, evicts and deletes in the same
        // shards: a stable key must always be found with its own location. Large enough
        // that nothing is evicted: this is about torn reads, not policy.
        let index = CacheIndex::with_shards(32_768, 2).expect("valid");
        for n in 0..256 {
            index.insert(key(n), loc(n));
        }
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (index, done) = (&index, &done);
            scope.spawn(move || {
                for round in 0..20u64 {
                    for n in 1000..3000 {
                        index.insert(key(round * 10_000 + n), loc(n));
                    }
                    for n in (1000..3000).step_by(2) {
                        let _ = index.delete(key(round * 10_000 + n));
                    }
                }
                done.store(true, Relaxed);
            });
            scope.spawn(move || {
                let mut rounds = 0u64;
                while !done.load(Relaxed) || rounds == 0 {
                    for n in 0..256 {
                        assert_eq!(index.lookup(key(n)), Some(loc(n)), "stable key {n}");
                    }
                    rounds += 1;
                }
            });
        });
        assert_eq!(index.stats().evictions, 0);
        index.check_invariants();
    }

    #[test]
    fn lookup_many_matches_lookup() {
        let index = CacheIndex::new(1000).expect("valid");
        for n in 0..500 {
            index.insert(key(n), loc(n));
        }
        let keys: Vec<CacheKey> = (400..700).map(key).collect();
        let mut out = vec![None; keys.len()];
        index.lookup_many(&keys, &mut out);
        for (k, got) in keys.iter().zip(&out) {
            assert_eq!(*got, index.lookup(*k));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agrees_with_a_hashmap_model(ops in prop::collection::vec(any::<u8>(), 0..800)) {
            crate::fuzzing::cache_index_target(&ops);
        }

        #[test]
        fn decompress_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            crate::fuzzing::decompress_target(&bytes);
        }
    }
}
