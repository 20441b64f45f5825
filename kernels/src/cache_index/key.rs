//! What the cache index stores: its 128-bit keys ([`CacheKey`], for chunks and for KV
//! token-prefix blocks) and the compact location each maps to ([`Location`], with its
//! 16-byte wire form, the value of the ABI's cache ops).

use crate::KernelError;

/// A 128-bit cache key. Never zero: 0 marks an empty slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub(super) u128);

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

    pub(super) fn packed_word(&self) -> u64 {
        self.offset | (u64::from(self.tier) << 48) | (u64::from(self.flags) << 56)
    }

    pub(super) fn from_parts(word: u64, length: u32, crc32c: u32) -> Self {
        Self {
            tier: (word >> 48) as u8,
            flags: (word >> 56) as u8,
            offset: word & Self::MAX_OFFSET,
            length,
            crc32c,
        }
    }
}
