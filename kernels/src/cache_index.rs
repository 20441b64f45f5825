//! The cache index a DPU keeps in its own memory: 128-bit chunk or KV-block keys to a
//! compact [`Location`] (tier, offset, length, CRC32C), bounded in entries, sharded for
//! concurrent use.
//!
//! Layout: each shard holds a dense entry array (key 16 bytes + location in its 16-byte wire
//! form = 32 bytes, preallocated to the shard's capacity), one policy byte per entry, and an
//! open-addressing index (linear probing, load <= 4/5, backward-shift deletion, so no
//! tombstones) of 8-byte slots: 32 bits of the key hash as a tag and the entry id. A probe
//! reads 8 slots per cache line and touches an entry only on a 32-bit tag match. With the
//! ghost table this is about 45 bytes per entry of capacity ([`CacheIndex::bytes_per_entry`]).
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

use parking_lot::Mutex;

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
    shards: Box<[Mutex<Shard>]>,
    shard_mask: u64,
    capacity_entries: usize,
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
        let shards_vec: Vec<Mutex<Shard>> =
            (0..shards).map(|i| Mutex::new(Shard::new(base + usize::from(i < extra)))).collect();
        Ok(Self { shards: shards_vec.into_boxed_slice(), shard_mask: shards as u64 - 1, capacity_entries })
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
        self.shards.iter().map(|s| s.lock().len).sum()
    }

    /// Whether no entries are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The location of `key`, counting a hit or a miss.
    #[inline]
    pub fn lookup(&self, key: CacheKey) -> Option<Location> {
        let hash = hash_key(key);
        self.shard(hash).lock().lookup(key, hash)
    }

    /// Looks up many keys, filling `out[i]` for `keys[i]` (`out` shorter than `keys` limits
    /// the work to `out.len()`). Same result as repeated [`Self::lookup`], but each shard is
    /// locked once per block of [`LOOKUP_BLOCK`] keys, and the lookups under one lock are
    /// independent loads the CPU can overlap (a lock per key serializes them).
    pub fn lookup_many(&self, keys: &[CacheKey], out: &mut [Option<Location>]) {
        let n = keys.len().min(out.len());
        let mut hashes = [0u64; LOOKUP_BLOCK];
        for (block_keys, block_out) in keys[..n].chunks(LOOKUP_BLOCK).zip(out[..n].chunks_mut(LOOKUP_BLOCK)) {
            let mut shards_seen: u128 = 0;
            for (h, key) in hashes.iter_mut().zip(block_keys) {
                *h = hash_key(*key);
                shards_seen |= 1 << ((*h & self.shard_mask) % 128);
            }
            let hashes = &hashes[..block_keys.len()];
            for shard_index in 0..self.shards.len() {
                if shards_seen & (1 << (shard_index % 128)) == 0 {
                    continue;
                }
                let mut shard = self.shards[shard_index].lock();
                for ((key, hash), slot) in block_keys.iter().zip(hashes).zip(block_out.iter_mut()) {
                    if (hash & self.shard_mask) as usize == shard_index {
                        *slot = shard.lookup(*key, *hash);
                    }
                }
            }
        }
    }

    /// Inserts or replaces `key`'s location, evicting per policy when the shard is full.
    pub fn insert(&self, key: CacheKey, location: Location) -> InsertOutcome {
        let hash = hash_key(key);
        self.shard(hash).lock().insert(key, hash, location)
    }

    /// Removes `key`, returning its location, or `NotFound`.
    pub fn delete(&self, key: CacheKey) -> Result<Location, KernelError> {
        let hash = hash_key(key);
        self.shard(hash).lock().delete(key, hash).ok_or(KernelError::NotFound { key: key.0 })
    }

    /// Whether `key` is present, without counting a lookup or touching its frequency.
    pub fn contains(&self, key: CacheKey) -> bool {
        let hash = hash_key(key);
        self.shard(hash).lock().find(key, hash).is_some()
    }

    /// Counters summed over shards.
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for shard in self.shards.iter() {
            let s = shard.lock().stats;
            total.hits += s.hits;
            total.misses += s.misses;
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
            + self
                .shards
                .iter()
                .map(|s| std::mem::size_of::<Mutex<Shard>>() + s.lock().heap_bytes())
                .sum::<usize>()
    }

    /// [`Self::memory_bytes`] divided by the capacity: the memory cost of one entry,
    /// overhead included.
    pub fn bytes_per_entry(&self) -> f64 {
        self.memory_bytes() as f64 / self.capacity_entries as f64
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Mutex<Shard> {
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

/// One cached entry: the key and the location in its packed wire words.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    key: u128,
    word: u64,
    length: u32,
    crc32c: u32,
}

// Per-entry policy byte.
const LIVE: u8 = 0x80;
const MAIN: u8 = 0x04;
const FREQ_MASK: u8 = 0x03;

/// Index slot: 0 = empty, else high 32 bits the key hash's top half (tag, and the home
/// slot derives from it, so shifting needs no entry access), low 32 bits entry id + 1.
type IndexSlot = u64;

const NO_FREE: u32 = u32::MAX;

#[derive(Debug)]
struct Shard {
    /// Open-addressing table (linear probing, load <= 4/5) from key to entry id.
    index: Vec<IndexSlot>,
    /// Entries by id; the CLOCK hands sweep this array, so eviction order is independent
    /// of hash positions (a hand sweeping hash order would pile live entries up ahead of
    /// itself and grow probe runs without bound).
    entries: Vec<Entry>,
    /// Policy byte per entry id.
    meta: Vec<u8>,
    ghost: Vec<u16>,
    /// Head of the free list of deleted entry ids, linked through `entries[id].key`.
    free_head: u32,
    /// Entry ids below this have been used at least once.
    used: usize,
    capacity: usize,
    len: usize,
    small_len: usize,
    small_hand: usize,
    main_hand: usize,
    stats: CacheStats,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        debug_assert!(capacity > 0 && capacity < u32::MAX as usize);
        let index_slots = capacity + capacity.div_ceil(4) + 1;
        Self {
            index: vec![0; index_slots],
            entries: vec![Entry::default(); capacity],
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
        }
    }

    fn heap_bytes(&self) -> usize {
        self.index.capacity() * std::mem::size_of::<IndexSlot>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.meta.capacity()
            + self.ghost.capacity() * std::mem::size_of::<u16>()
    }

    #[inline(always)]
    fn tag(hash: u64) -> u64 {
        hash >> 32
    }

    #[inline(always)]
    fn home(&self, tag: u64) -> usize {
        ((tag * self.index.len() as u64) >> 32) as usize
    }

    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.index.len() {
            0
        } else {
            i + 1
        }
    }

    /// (index position, entry id) of `key`.
    #[inline(always)]
    fn find(&self, key: CacheKey, hash: u64) -> Option<(usize, usize)> {
        let tag = Self::tag(hash);
        let mut i = self.home(tag);
        loop {
            let slot = self.index[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag {
                let id = (slot as u32 - 1) as usize;
                if self.entries[id].key == key.0 {
                    return Some((i, id));
                }
            }
            i = self.next(i);
        }
    }

    #[inline(always)]
    fn location_of(&self, id: usize) -> Location {
        let e = &self.entries[id];
        Location::from_parts(e.word, e.length, e.crc32c)
    }

    #[inline(always)]
    fn touch(&mut self, id: usize) {
        let m = self.meta[id];
        if m & FREQ_MASK != FREQ_MASK {
            self.meta[id] = m + 1;
        }
    }

    #[inline(always)]
    fn lookup(&mut self, key: CacheKey, hash: u64) -> Option<Location> {
        match self.find(key, hash) {
            Some((_, id)) => {
                self.touch(id);
                self.stats.hits += 1;
                Some(self.location_of(id))
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    fn ghost_index(&self, hash: u64) -> (usize, u16) {
        let index = fast_range(hash.rotate_left(23), self.ghost.len());
        (index, ((hash >> 16) as u16).max(1))
    }

    fn insert(&mut self, key: CacheKey, hash: u64, location: Location) -> InsertOutcome {
        if let Some((_, id)) = self.find(key, hash) {
            let replaced = self.location_of(id);
            self.write_location(id, location);
            self.touch(id);
            self.stats.updates += 1;
            return InsertOutcome { replaced: Some(replaced), evicted: None };
        }
        let (id, evicted) = if self.len >= self.capacity {
            let (id, victim) = self.evict_one();
            (id, Some(victim))
        } else if self.free_head != NO_FREE {
            let id = self.free_head as usize;
            self.free_head = self.entries[id].key as u32;
            (id, None)
        } else {
            self.used += 1;
            (self.used - 1, None)
        };
        let (gi, fingerprint) = self.ghost_index(hash);
        let to_main = self.ghost[gi] == fingerprint;
        if to_main {
            self.ghost[gi] = 0;
            self.stats.ghost_admissions += 1;
        } else {
            self.small_len += 1;
        }
        self.entries[id].key = key.0;
        self.write_location(id, location);
        self.meta[id] = LIVE | if to_main { MAIN } else { 0 };
        let tag = Self::tag(hash);
        let mut i = self.home(tag);
        while self.index[i] != 0 {
            i = self.next(i);
        }
        self.index[i] = (tag << 32) | (id as u64 + 1);
        self.len += 1;
        self.stats.inserts += 1;
        debug_assert!(self.len <= self.capacity);
        InsertOutcome { replaced: None, evicted }
    }

    fn write_location(&mut self, id: usize, location: Location) {
        let e = &mut self.entries[id];
        e.word = location.packed_word();
        e.length = location.length;
        e.crc32c = location.crc32c;
    }

    fn delete(&mut self, key: CacheKey, hash: u64) -> Option<Location> {
        let (pos, id) = self.find(key, hash)?;
        let location = self.location_of(id);
        self.release(pos, id);
        self.entries[id].key = u128::from(self.free_head);
        self.free_head = id as u32;
        self.stats.deletes += 1;
        Some(location)
    }

    /// Unlinks entry `id` (at index position `pos`) and marks it dead.
    fn release(&mut self, pos: usize, id: usize) {
        if self.meta[id] & MAIN == 0 {
            self.small_len -= 1;
        }
        self.meta[id] = 0;
        self.len -= 1;
        self.remove_index_at(pos);
    }

    /// Evicts one entry per S3-FIFO and returns its (now free) id. Requires `len > 0`.
    fn evict_one(&mut self) -> (usize, (CacheKey, Location)) {
        debug_assert!(self.len > 0);
        let small_target = (self.capacity * SMALL_QUEUE_TENTHS / 10).max(1);
        let n = self.capacity;
        loop {
            let main_len = self.len - self.small_len;
            let from_small = self.small_len > 0 && (self.small_len >= small_target || main_len == 0);
            let id = if from_small {
                let id = self.small_hand;
                self.small_hand = if id + 1 == n { 0 } else { id + 1 };
                let m = self.meta[id];
                if m & LIVE == 0 || m & MAIN != 0 {
                    continue;
                }
                if m & FREQ_MASK != 0 {
                    // Hit while on probation: promote to main with a fresh frequency.
                    self.meta[id] = LIVE | MAIN;
                    self.small_len -= 1;
                    continue;
                }
                id
            } else {
                let id = self.main_hand;
                self.main_hand = if id + 1 == n { 0 } else { id + 1 };
                let m = self.meta[id];
                if m & LIVE == 0 || m & MAIN == 0 {
                    continue;
                }
                if m & FREQ_MASK != 0 {
                    self.meta[id] = m - 1;
                    continue;
                }
                id
            };
            let key = CacheKey(self.entries[id].key);
            let victim = (key, self.location_of(id));
            let hash = hash_key(key);
            if from_small {
                let (gi, fingerprint) = self.ghost_index(hash);
                self.ghost[gi] = fingerprint;
            }
            let pos = self.position_of(hash, id);
            self.release(pos, id);
            self.stats.evictions += 1;
            return (id, victim);
        }
    }

    /// Index position of live entry `id` whose key hashes to `hash`.
    fn position_of(&self, hash: u64, id: usize) -> usize {
        let want = (Self::tag(hash) << 32) | (id as u64 + 1);
        let mut i = self.home(Self::tag(hash));
        while self.index[i] != want {
            debug_assert!(self.index[i] != 0, "live entry missing from the index");
            i = self.next(i);
        }
        i
    }

    /// Empties index position `i` and shifts later slots of the probe run back (no
    /// tombstones, so probe runs do not grow with churn).
    fn remove_index_at(&mut self, mut i: usize) {
        let mut j = self.next(i);
        loop {
            let slot = self.index[j];
            if slot == 0 {
                self.index[i] = 0;
                return;
            }
            let home = self.home(slot >> 32);
            // j may move to i unless its home lies cyclically in (i, j].
            let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
            if !stays {
                self.index[i] = slot;
                i = j;
            }
            j = self.next(j);
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
