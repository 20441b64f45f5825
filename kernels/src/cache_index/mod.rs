//! The cache index a DPU keeps in its own memory: 128-bit chunk or KV-block keys to a
//! compact [`Location`] (tier, offset, length, CRC32C), bounded in entries, sharded for
//! concurrent use.
//!
//! Layout, as in a SwissTable: each shard has groups of fifteen 8-bit tags (from the key
//! hash) and an overflow count, 16 bytes per group, and an entry array beside them: slot
//! `s` of group `g` holds entry `g * 15 + s` (key 16 bytes + location in its 16-byte wire
//! form = 32 bytes), so the entry's address follows from where its tag matched, with no
//! entry id to load. Groups are sized for a load of 0.8 when the shard is full. The tags
//! take about 1.3 bytes per entry (1.4 MB at a million entries), small enough to stay in
//! cache and in the TLB's reach, so a hit costs one trip to memory, the entry's. A probe
//! loads the home group, compares its fifteen tags at once (one SIMD byte compare, no
//! data-dependent branch until a tag matches) and reads an entry only on a tag match (a
//! false tag match costs one extra entry read about 2 % of the time). An entry that finds
//! its home group full goes to the next group with room, and every group it passes counts
//! it; a probe moves on only while that count is not zero. Deletion decrements the counts
//! again: no tombstones, nothing to rehash. With the policy bytes and the ghost table this
//! is about 46 bytes per entry of capacity ([`CacheIndex::bytes_per_entry`]).
//!
//! Eviction: S3-FIFO (Yang et al., SOSP 2023). New keys enter a small probationary queue
//! (10 % of the shard); a key hit while there is promoted to the main queue, a key that was
//! not is evicted and remembered in a ghost table; a key re-inserted while remembered goes
//! straight to main. Main is a CLOCK with 2-bit frequency. Chosen over CLOCK-Pro because it
//! is as scan-resistant for this workload (one-time scans of a checkpoint or dataset must
//! not flush hot model chunks or KV blocks) and much simpler: per entry it needs 4 bits of
//! metadata and, for the ghost, 2 bytes. An entry's slot is set by its hash, so both queues
//! are CLOCK hands sweeping the slots (entries carry small/main bits) instead of separate
//! rings, which keeps the 48-byte budget; a small entry is evicted only on the small hand's
//! second pass, so every new entry gets at least a full sweep of probation wherever it
//! lands (see `Shard::evict_one`). The ghost is a direct-mapped array of 16-bit
//! fingerprints. Capacity is per shard (total / shards), so eviction may begin a little
//! before the total is reached when keys spread unevenly.
//!
//! Concurrency: lookups take no lock and do no atomic read-modify-write, which would stall
//! the loads of the lookups around them. Each shard is a seqlock: writers (insert, delete,
//! eviction) take the shard's mutex and make its version odd while they change the index
//! or the entries; a reader loads the version, probes with relaxed loads of the atomic
//! group and entry words, and retries if the version was odd or changed meanwhile (after
//! `SEQLOCK_READ_ATTEMPTS` tries it takes the lock, so a reader always finishes). A hit's
//! S3-FIFO frequency bump is a relaxed load then store: concurrent lookups of one entry may
//! lose a bump (the frequency is a 2-bit approximation anyway). Hits and misses are counted
//! per thread (each thread writes only its own counters), so the counts are exact.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{fence, AtomicU64, AtomicU8};

use parking_lot::Mutex;
use thread_local::ThreadLocal;
use wide::u8x16;

use crate::KernelError;

mod key;
pub use key::{CacheKey, Location};

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
    /// the work to `out.len()`). Same result as repeated [`Self::lookup`], faster for hits:
    /// for a block of [`LOOKUP_BLOCK`] keys it first finds each key's likely slot (the first
    /// tag match in its home group, whose tags are usually in cache), then loads those
    /// entries in a tight loop of independent loads, so that many trips to memory overlap
    /// instead of as many as fit in the CPU's reorder window of whole lookups, and only
    /// then runs the validated probes, which find their entries in cache.
    pub fn lookup_many(&self, keys: &[CacheKey], out: &mut [Option<Location>]) {
        let counters = self.counters.get_or_default();
        let n = keys.len().min(out.len());
        let mut hashes = [0u64; LOOKUP_BLOCK];
        for (block_keys, block_out) in keys[..n].chunks(LOOKUP_BLOCK).zip(out[..n].chunks_mut(LOOKUP_BLOCK)) {
            let hashes = &mut hashes[..block_keys.len()];
            for (h, key) in hashes.iter_mut().zip(block_keys) {
                *h = hash_key(*key);
            }
            self.warm(hashes);
            for ((key, hash), found) in block_keys.iter().zip(hashes.iter()).zip(block_out.iter_mut()) {
                *found = self.shard(*hash).lookup(*key, *hash);
                counters.count(found.is_some());
            }
        }
    }

    /// Starts pulling the entries of `keys` into cache, as the first two passes of
    /// [`Self::lookup_many`] do, without looking anything up: no counting, no frequency
    /// bump, no effect on what later calls return. For a caller whose lookups come in a
    /// batch but must run one at a time, in order, between other operations (the DPU
    /// engine executing a fetched batch of descriptors).
    pub fn prefetch(&self, keys: &[CacheKey]) {
        let mut hashes = [0u64; LOOKUP_BLOCK];
        for block in keys.chunks(LOOKUP_BLOCK) {
            let hashes = &mut hashes[..block.len()];
            for (h, key) in hashes.iter_mut().zip(block) {
                *h = hash_key(*key);
            }
            self.warm(hashes);
        }
    }

    /// The first two passes of a batch (at most [`LOOKUP_BLOCK`] hashes): each key's likely
    /// slot from its home group's tags, then a tight loop loading those entries, so their
    /// trips to memory overlap. Unvalidated loads, for their cache effect only.
    fn warm(&self, hashes: &[u64]) {
        let mut slots = [0u32; LOOKUP_BLOCK];
        for (slot, h) in slots.iter_mut().zip(hashes) {
            *slot = self.shard(*h).likely_slot(*h) as u32;
        }
        let mut touched = 0u64;
        for (h, slot) in hashes.iter().zip(&slots) {
            touched ^= self.shard(*h).entries[*slot as usize].key_lo.load(Relaxed);
        }
        std::hint::black_box(touched);
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
    /// entry is reachable from its home group under its own tag, every empty slot has tag
    /// 0, the queue lengths add up, and every group's overflow count is the number of
    /// entries placed past it (or stuck at its ceiling). For tests and fuzzing.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn check_invariants(&self) {
        for (s, shard) in self.shards.iter().enumerate() {
            let w = shard.writer.lock();
            let mut expected = vec![0u64; shard.groups.len()];
            let (mut live, mut small) = (0, 0);
            for slot in 0..w.meta.len() {
                let (g, lane) = (slot / GROUP_SLOTS, slot % GROUP_SLOTS);
                let tag = (shard.groups[g].load()[lane / 8] >> (8 * (lane % 8))) as u8;
                if w.meta[slot] & LIVE == 0 {
                    assert_eq!(tag, 0, "shard {s}: empty slot {slot} has a tag");
                    continue;
                }
                live += 1;
                small += usize::from(w.meta[slot] & MAIN == 0);
                let key = shard.key_of(slot);
                let hash = hash_key(key);
                assert_eq!(tag, Shard::tag(hash), "shard {s}: slot {slot} tag");
                assert_eq!(shard.find_locked(key, hash), Some(slot), "shard {s}: slot {slot} not reachable");
                let mut at = shard.home(hash);
                while at != g {
                    expected[at] += 1;
                    at = shard.next(at);
                }
            }
            assert_eq!(live, w.len, "shard {s}: live entries");
            assert_eq!(small, w.small_len, "shard {s}: small-queue entries");
            for (g, group) in shard.groups.iter().enumerate() {
                let got = u64::from(Group::overflow(group.load()));
                let want = expected[g].min(u64::from(OVERFLOW_STICKY));
                assert!(
                    got == want || got == u64::from(OVERFLOW_STICKY),
                    "shard {s}: group {g} overflow count {got}, expected {}",
                    expected[g]
                );
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

// Per-slot policy byte (writer-owned).
const LIVE: u8 = 0x80;
/// In the main queue (else the small, probationary one).
const MAIN: u8 = 0x04;
/// A small-queue entry the small hand has passed once: evicted (or promoted) the next time.
const SEEN: u8 = 0x08;
/// Largest value of the per-entry frequency (2 bits).
const FREQ_MAX: u8 = 3;

/// Optimistic read attempts before a lookup falls back to taking the shard's lock.
const SEQLOCK_READ_ATTEMPTS: u32 = 64;

/// Slots per group.
const GROUP_SLOTS: usize = 15;
/// Entries per group when the shard is full, as a fraction: 12 of 15 slots (load 0.8).
/// Denser packs more entries into the budget but sends more probes to a second group.
const GROUP_FILL_AT_CAPACITY: (usize, usize) = (12, 1);
/// Overflow counts stop here and stay: the probe then always moves on, which is only slower.
const OVERFLOW_STICKY: u8 = u8::MAX;
/// Bits of a group's match mask that are slots (byte 15 is the overflow count).
const SLOT_BITS: u32 = (1 << GROUP_SLOTS) - 1;

/// Sixteen bytes of the index: fifteen 8-bit tags (0 = empty slot) and an overflow count,
/// the number of entries whose probe passed this group (it was full when they were
/// inserted) and that live in later groups. A probe stops at the first group with a zero
/// count. Four groups share a cache line; a shard's groups take about 1.3 bytes per entry,
/// small enough to stay in cache. Slot `s` of group `g` holds entry `g * 15 + s`.
#[derive(Debug, Default)]
#[repr(C, align(16))]
struct Group {
    words: [AtomicU64; 2],
}

const _: () = assert!(std::mem::size_of::<Group>() == 16);

impl Group {
    #[inline(always)]
    fn load(&self) -> [u64; 2] {
        [self.words[0].load(Relaxed), self.words[1].load(Relaxed)]
    }

    /// Slots of `words` whose tag is `tag`, one bit per slot: one byte compare and one
    /// mask extraction (SSE2 / NEON through `wide`), no data-dependent branch.
    #[inline(always)]
    fn matches(words: [u64; 2], tag: u8) -> u32 {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&words[0].to_le_bytes());
        bytes[8..].copy_from_slice(&words[1].to_le_bytes());
        let equal = u8x16::new(bytes).cmp_eq(u8x16::splat(tag));
        equal.move_mask() as u32 & SLOT_BITS
    }

    #[inline(always)]
    fn overflow(words: [u64; 2]) -> u8 {
        (words[1] >> 56) as u8
    }

    /// Writer only: sets `slot`'s tag (0 empties it).
    fn set_tag(&self, slot: usize, tag: u8) {
        debug_assert!(slot < GROUP_SLOTS);
        let (w, shift) = (slot / 8, 8 * (slot % 8));
        let word = self.words[w].load(Relaxed);
        self.words[w].store((word & !(0xff << shift)) | (u64::from(tag) << shift), Relaxed);
    }

    /// Writer only: adds `delta` (±1) to the overflow count, which sticks once it reaches
    /// [`OVERFLOW_STICKY`].
    fn add_overflow(&self, delta: i8) {
        let word = self.words[1].load(Relaxed);
        let count = Self::overflow([0, word]);
        if count == OVERFLOW_STICKY {
            return;
        }
        let count = count.checked_add_signed(delta).expect("overflow count out of range");
        self.words[1].store((word & !(0xff << 56)) | (u64::from(count) << 56), Relaxed);
    }
}

/// Calls `f(slot)` for each set bit of `mask`, in slot order, until it returns `Some`.
#[inline(always)]
fn each_slot<T>(mut mask: u32, mut f: impl FnMut(usize) -> Option<T>) -> Option<T> {
    while mask != 0 {
        if let Some(found) = f(mask.trailing_zeros() as usize) {
            return Some(found);
        }
        mask &= mask - 1;
    }
    None
}

/// The first slot from `from` on (wrapping once) whose policy byte is live and in the main
/// queue (`main`) or the small one. Eight bytes at a time, so a hand skips empty slots and
/// the other queue's entries without a branch per slot. The caller knows one exists.
fn next_in_queue(meta: &[u8], from: usize, main: bool) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // MAIN (bit 2) moved up to each byte's LIVE bit (bit 7).
    const _: () = assert!(LIVE == 0x80 && MAIN == 0x04);
    let pick = |word: u64| {
        let in_main = (word << 5) & HIGH;
        word & HIGH & if main { in_main } else { !in_main }
    };
    let is_candidate = |m: u8| m & LIVE != 0 && (m & MAIN != 0) == main;
    let n = meta.len();
    let mut at = from;
    for _ in 0..2 {
        while at < n {
            if at.is_multiple_of(8) && at + 8 <= n {
                let bytes: [u8; 8] = meta[at..at + 8].try_into().expect("eight bytes");
                let hits = pick(u64::from_le_bytes(bytes));
                if hits != 0 {
                    return at + (hits.trailing_zeros() / 8) as usize;
                }
                at += 8;
            } else {
                if is_candidate(meta[at]) {
                    return at;
                }
                at += 1;
            }
        }
        at = 0;
    }
    unreachable!("no {} entry in a queue counted non-empty", if main { "main" } else { "small" })
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
    /// Seqlock version: odd while a writer mutates `groups`, `entries` or the policy state.
    /// Changed only with `writer` held.
    version: AtomicU64,
    /// Tags and overflow counts; linear probing over groups.
    groups: Box<[Group]>,
    /// Entries by slot (`group * GROUP_SLOTS + slot`).
    entries: Box<[Entry]>,
    /// S3-FIFO frequency per slot (0..=FREQ_MAX), bumped by readers with a plain load +
    /// store, so bumps racing each other or a writer may be lost or land on a reused slot.
    freq: Box<[AtomicU8]>,
    writer: Mutex<WriterState>,
}

/// Shard state only writers (insert, delete, eviction) touch, under the shard's lock.
#[derive(Debug)]
struct WriterState {
    /// LIVE | MAIN | SEEN per slot.
    meta: Vec<u8>,
    ghost: Vec<u16>,
    capacity: usize,
    len: usize,
    small_len: usize,
    /// CLOCK hands over the slots.
    small_hand: usize,
    main_hand: usize,
    /// Writer counters; hits and misses are counted per thread by the index.
    stats: CacheStats,
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
        let (num, den) = GROUP_FILL_AT_CAPACITY;
        let groups = (capacity * den).div_ceil(num);
        let slots = groups * GROUP_SLOTS;
        Self {
            version: AtomicU64::new(0),
            groups: (0..groups).map(|_| Group::default()).collect(),
            entries: (0..slots).map(|_| Entry::default()).collect(),
            freq: (0..slots).map(|_| AtomicU8::new(0)).collect(),
            writer: Mutex::new(WriterState {
                meta: vec![0; slots],
                ghost: vec![0; capacity],
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
        self.groups.len() * std::mem::size_of::<Group>()
            + self.entries.len() * std::mem::size_of::<Entry>()
            + self.freq.len()
            + w.meta.capacity()
            + w.ghost.capacity() * std::mem::size_of::<u16>()
    }

    /// The key's 8-bit tag (never 0, which marks an empty slot): the hash's top bits, which
    /// neither the shard (low bits) nor the home group (bits 47 down) use.
    #[inline(always)]
    fn tag(hash: u64) -> u8 {
        ((hash >> 56) as u8).max(1)
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        fast_range(hash.rotate_left(16), self.groups.len())
    }

    #[inline(always)]
    fn next(&self, g: usize) -> usize {
        if g + 1 == self.groups.len() {
            0
        } else {
            g + 1
        }
    }

    /// The slot `hash`'s home group suggests first (its first tag match, else its first
    /// slot), unvalidated: only to start pulling that entry's line into cache.
    #[inline(always)]
    fn likely_slot(&self, hash: u64) -> usize {
        let g = self.home(hash);
        let m = Group::matches(self.groups[g].load(), Self::tag(hash));
        g * GROUP_SLOTS + (m.trailing_zeros() as usize % GROUP_SLOTS)
    }

    #[inline(always)]
    fn key_matches(&self, slot: usize, key: CacheKey) -> bool {
        let e = &self.entries[slot];
        e.key_lo.load(Relaxed) == key.0 as u64 && e.key_hi.load(Relaxed) == (key.0 >> 64) as u64
    }

    /// Walks `key`'s probe sequence once, returning its slot: through the home group and
    /// on while the group passed has a non-zero overflow count, at most once around the
    /// shard. Consistent only with the lock held or when validated by the seqlock version
    /// (the bound keeps a torn walk finite).
    #[inline(always)]
    fn probe_slot(&self, key: CacheKey, hash: u64) -> Option<usize> {
        let tag = Self::tag(hash);
        let mut g = self.home(hash);
        for _ in 0..self.groups.len() {
            let words = self.groups[g].load();
            let base = g * GROUP_SLOTS;
            let found = each_slot(Group::matches(words, tag), |s| {
                self.key_matches(base + s, key).then_some(base + s)
            });
            if found.is_some() || Group::overflow(words) == 0 {
                return found;
            }
            g = self.next(g);
        }
        None
    }

    /// One optimistic probe: the slot and its location.
    #[inline(always)]
    fn probe(&self, key: CacheKey, hash: u64) -> Option<(usize, Location)> {
        self.probe_slot(key, hash).map(|slot| (slot, self.location_of(slot)))
    }

    /// (slot, location) of `key`, without a lock: a seqlock read; when a writer was active,
    /// retried out of line.
    #[inline(always)]
    fn read(&self, key: CacheKey, hash: u64) -> Option<(usize, Location)> {
        let before = self.version.load(Acquire);
        let probe = self.probe(key, hash);
        // Orders the probe's loads before the version reload.
        fence(Acquire);
        if before & 1 == 0 && self.version.load(Relaxed) == before {
            return probe;
        }
        self.read_retry(key, hash)
    }

    /// The seqlock read retried while a writer is active, then (bounded) under the lock.
    #[cold]
    #[inline(never)]
    fn read_retry(&self, key: CacheKey, hash: u64) -> Option<(usize, Location)> {
        for _ in 0..SEQLOCK_READ_ATTEMPTS {
            std::hint::spin_loop();
            let before = self.version.load(Acquire);
            if before & 1 == 0 {
                let probe = self.probe(key, hash);
                fence(Acquire);
                if self.version.load(Relaxed) == before {
                    return probe;
                }
            }
        }
        self.read_locked(key, hash)
    }

    #[cold]
    #[inline(never)]
    fn read_locked(&self, key: CacheKey, hash: u64) -> Option<(usize, Location)> {
        let _writer = self.writer.lock();
        self.probe(key, hash)
    }

    #[inline(always)]
    fn lookup(&self, key: CacheKey, hash: u64) -> Option<Location> {
        let (slot, location) = self.read(key, hash)?;
        self.touch(slot);
        Some(location)
    }

    /// Bumps the frequency of `slot` (saturating), without a read-modify-write.
    #[inline(always)]
    fn touch(&self, slot: usize) {
        let f = self.freq[slot].load(Relaxed);
        if f < FREQ_MAX {
            self.freq[slot].store(f + 1, Relaxed);
        }
    }

    /// Slot of `key`. Lock held.
    fn find_locked(&self, key: CacheKey, hash: u64) -> Option<usize> {
        self.probe_slot(key, hash)
    }

    fn key_of(&self, slot: usize) -> CacheKey {
        let e = &self.entries[slot];
        CacheKey(u128::from(e.key_lo.load(Relaxed)) | (u128::from(e.key_hi.load(Relaxed)) << 64))
    }

    #[inline(always)]
    fn location_of(&self, slot: usize) -> Location {
        let e = &self.entries[slot];
        let length_crc = e.length_crc.load(Relaxed);
        Location::from_parts(e.word.load(Relaxed), length_crc as u32, (length_crc >> 32) as u32)
    }

    fn write_location(&self, slot: usize, location: Location) {
        let e = &self.entries[slot];
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
        if let Some(slot) = self.find_locked(key, hash) {
            let replaced = self.location_of(slot);
            self.write_location(slot, location);
            self.touch(slot);
            w.stats.updates += 1;
            return InsertOutcome { replaced: Some(replaced), evicted: None };
        }
        let evicted = (w.len >= w.capacity).then(|| self.evict_one(w));
        let (gi, fingerprint) = Self::ghost_index(w.ghost.len(), hash);
        let to_main = w.ghost[gi] == fingerprint;
        if to_main {
            w.ghost[gi] = 0;
            w.stats.ghost_admissions += 1;
        } else {
            w.small_len += 1;
        }
        let slot = self.place(hash);
        let e = &self.entries[slot];
        e.key_lo.store(key.0 as u64, Relaxed);
        e.key_hi.store((key.0 >> 64) as u64, Relaxed);
        self.write_location(slot, location);
        w.meta[slot] = LIVE | if to_main { MAIN } else { 0 };
        self.freq[slot].store(0, Relaxed);
        w.len += 1;
        w.stats.inserts += 1;
        debug_assert!(w.len <= w.capacity);
        InsertOutcome { replaced: None, evicted }
    }

    /// Takes the first free slot from `hash`'s home group on, tagging it and counting the
    /// overflow on every full group passed. Slots outnumber entries, so one is free.
    fn place(&self, hash: u64) -> usize {
        let tag = Self::tag(hash);
        let mut g = self.home(hash);
        loop {
            let group = &self.groups[g];
            if let Some(s) = each_slot(Group::matches(group.load(), 0), Some) {
                group.set_tag(s, tag);
                return g * GROUP_SLOTS + s;
            }
            group.add_overflow(1);
            g = self.next(g);
        }
    }

    fn delete(&self, key: CacheKey, hash: u64) -> Option<Location> {
        let mut w = self.writer.lock();
        let slot = self.find_locked(key, hash)?;
        let _section = WriteSection::begin(&self.version);
        let location = self.location_of(slot);
        self.release(&mut w, hash, slot);
        w.stats.deletes += 1;
        Some(location)
    }

    /// Empties `slot` (its key hashing to `hash`) and undoes the overflow counts its
    /// placement added.
    fn release(&self, w: &mut WriterState, hash: u64, slot: usize) {
        if w.meta[slot] & MAIN == 0 {
            w.small_len -= 1;
        }
        w.meta[slot] = 0;
        w.len -= 1;
        let at = slot / GROUP_SLOTS;
        self.groups[at].set_tag(slot % GROUP_SLOTS, 0);
        let e = &self.entries[slot];
        e.key_lo.store(0, Relaxed);
        e.key_hi.store(0, Relaxed);
        let mut g = self.home(hash);
        while g != at {
            self.groups[g].add_overflow(-1);
            g = self.next(g);
        }
    }

    /// Evicts one entry per S3-FIFO and returns it. Requires `len > 0`.
    ///
    /// The queues are CLOCK hands over the slots, because an entry's slot is set by its hash,
    /// not by its arrival. Small: a hand passing an entry that was hit promotes it to main;
    /// one not hit is marked on the first pass and evicted (and remembered by the ghost) on
    /// the second, so every new entry gets at least one full sweep of probation, wherever
    /// its slot lies relative to the hand. Main: a CLOCK with a 2-bit frequency; a promoted
    /// entry starts at frequency 1, i.e. it survives the main hand's next pass, as it would
    /// entering a FIFO's tail.
    fn evict_one(&self, w: &mut WriterState) -> (CacheKey, Location) {
        debug_assert!(w.len > 0);
        let small_target = (w.capacity * SMALL_QUEUE_TENTHS / 10).max(1);
        let n = w.meta.len();
        loop {
            let main_len = w.len - w.small_len;
            let from_small = w.small_len > 0 && (w.small_len >= small_target || main_len == 0);
            let slot = if from_small {
                let slot = next_in_queue(&w.meta, w.small_hand, false);
                w.small_hand = if slot + 1 == n { 0 } else { slot + 1 };
                let m = w.meta[slot];
                debug_assert!(m & LIVE != 0 && m & MAIN == 0);
                if self.freq[slot].load(Relaxed) != 0 {
                    // Hit while on probation: promote.
                    w.meta[slot] = LIVE | MAIN;
                    self.freq[slot].store(1, Relaxed);
                    w.small_len -= 1;
                    continue;
                }
                if m & SEEN == 0 {
                    w.meta[slot] = m | SEEN;
                    continue;
                }
                slot
            } else {
                let slot = next_in_queue(&w.meta, w.main_hand, true);
                w.main_hand = if slot + 1 == n { 0 } else { slot + 1 };
                debug_assert!(w.meta[slot] & (LIVE | MAIN) == LIVE | MAIN);
                let f = self.freq[slot].load(Relaxed);
                if f != 0 {
                    self.freq[slot].store(f - 1, Relaxed);
                    continue;
                }
                slot
            };
            let key = self.key_of(slot);
            let victim = (key, self.location_of(slot));
            let hash = hash_key(key);
            if from_small {
                let (gi, fingerprint) = Self::ghost_index(w.ghost.len(), hash);
                w.ghost[gi] = fingerprint;
            }
            self.release(w, hash, slot);
            w.stats.evictions += 1;
            return victim;
        }
    }
}

#[cfg(test)]
mod tests;
