//! Synthetic data with a target compressibility, deterministic from a seed.
//!
//! Scenarios write and read objects of many gigabytes; storing them is pointless, so chunks
//! are generated on demand: [`DataGen::fill`] writes any sub-range of an object, and the
//! byte at a given offset depends only on (generator parameters, object seed, offset). Host
//! and DPU, or two machines, therefore produce the same bytes for the same chunk, and chunks
//! can be generated in any order or in parallel.
//!
//! How the ratio is reached: the object is a sequence of 64-byte runs. A run is either a
//! literal (fresh pseudo-random words, which no compressor can shrink) or a repeat of one of
//! a few per-object dictionary runs (which LZ4 encodes as a ~4-byte match). Which runs repeat
//! follows a Weyl (golden-ratio) sequence, so the repeat share is even over any window and a
//! 4 KiB chunk compresses about like a 1 MiB one. The repeat share is derived from the target
//! LZ4 ratio; the byte style of the words (uniform, bf16-like, text-like) shapes how much
//! more entropy coders (zstd, deflate) gain on top.
//!
//! Words come from a wyrand-style 64x64->128-bit multiply mix, written little-endian, so the
//! output is the same on any platform. No allocation; several GB/s per core.

use crate::KernelError;

/// Bytes per run: the unit that is either literal or repeated.
pub const RUN_BYTES: usize = 64;
const RUN_WORDS: usize = RUN_BYTES / 8;
/// Distinct dictionary runs per object: few enough that each recurs early in every chunk.
const DICT_RUNS: u64 = 4;
/// Highest target LZ4 ratio accepted (all runs repeats gives about 14).
pub const MAX_LZ4_RATIO: f64 = 12.0;

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
const DICT_SALT: u64 = 0x1d8e_4e27_c47d_124f;

/// LZ4 bytes per 64-byte repeat run (token, 2-byte offset, 1 length byte), measured.
const REPEAT_COST_BYTES: f64 = 4.0;

/// How generated words look; affects entropy coders, not LZ4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteStyle {
    /// Uniform random bytes.
    Random,
    /// Little-endian bf16 values of small magnitude: random mantissa byte, a high byte
    /// (sign and exponent) from four values, as in trained weights.
    Bf16,
    /// Printable ASCII from a 64-symbol alphabet.
    Text,
}

/// Named generator settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// LZ4 ratio 1.0, uniform bytes.
    Incompressible,
    /// LZ4 ratio ~2, bf16-like words (zstd and deflate gain more from the exponent bytes).
    CheckpointLike,
    /// LZ4 ratio ~4, printable text.
    TextLike,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 3] = [Preset::Incompressible, Preset::CheckpointLike, Preset::TextLike];

    /// Name as used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Incompressible => "incompressible",
            Preset::CheckpointLike => "checkpoint-like",
            Preset::TextLike => "text-like",
        }
    }

    /// The preset with this name.
    pub fn from_name(name: &str) -> Result<Self, KernelError> {
        Self::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| KernelError::InvalidParameter {
            what: "data preset",
            reason: format!("unknown preset {name:?} (known: incompressible, checkpoint-like, text-like)"),
        })
    }

    /// Target LZ4 ratio of the preset.
    pub fn lz4_ratio(self) -> f64 {
        match self {
            Preset::Incompressible => 1.0,
            Preset::CheckpointLike => 2.0,
            Preset::TextLike => 4.0,
        }
    }

    /// Byte style of the preset.
    pub fn style(self) -> ByteStyle {
        match self {
            Preset::Incompressible => ByteStyle::Random,
            Preset::CheckpointLike => ByteStyle::Bf16,
            Preset::TextLike => ByteStyle::Text,
        }
    }
}

/// A deterministic generator of compressible data. Cheap to copy; holds no buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataGen {
    target_lz4_ratio: f64,
    style: ByteStyle,
    /// A run is a repeat when its Weyl value is below this (share of repeats * 2^64).
    repeat_threshold: u64,
}

impl DataGen {
    /// A generator aiming at `target_lz4_ratio` (1.0 ..= [`MAX_LZ4_RATIO`]) under LZ4.
    pub fn new(target_lz4_ratio: f64, style: ByteStyle) -> Result<Self, KernelError> {
        if !(1.0..=MAX_LZ4_RATIO).contains(&target_lz4_ratio) {
            return Err(KernelError::InvalidParameter {
                what: "target LZ4 ratio",
                reason: format!("{target_lz4_ratio} is outside 1.0..={MAX_LZ4_RATIO}"),
            });
        }
        // Compressed bytes per run: (1-p)*64 + p*cost = 64/ratio.
        let run = RUN_BYTES as f64;
        let share = ((run - run / target_lz4_ratio) / (run - REPEAT_COST_BYTES)).clamp(0.0, 1.0);
        let repeat_threshold = if share >= 1.0 { u64::MAX } else { (share * 2f64.powi(64)) as u64 };
        Ok(Self { target_lz4_ratio, style, repeat_threshold })
    }

    /// The generator of a preset.
    pub fn preset(preset: Preset) -> Self {
        Self::new(preset.lz4_ratio(), preset.style()).unwrap_or(Self {
            target_lz4_ratio: 1.0,
            style: ByteStyle::Random,
            repeat_threshold: 0,
        })
    }

    /// The LZ4 ratio aimed at.
    pub fn target_lz4_ratio(&self) -> f64 {
        self.target_lz4_ratio
    }

    /// The byte style.
    pub fn style(&self) -> ByteStyle {
        self.style
    }

    /// Writes bytes `offset .. offset + buf.len()` of the object named by `object_seed`.
    /// Filling a range in pieces gives the same bytes as filling it at once.
    pub fn fill(&self, object_seed: u64, offset: u64, buf: &mut [u8]) {
        let mut run_index = offset / RUN_BYTES as u64;
        let head_skip = (offset % RUN_BYTES as u64) as usize;
        let mut rest = buf;
        if head_skip != 0 {
            let mut run = [0u8; RUN_BYTES];
            self.run(object_seed, run_index, &mut run);
            let take = (RUN_BYTES - head_skip).min(rest.len());
            let (head, tail) = rest.split_at_mut(take);
            head.copy_from_slice(&run[head_skip..head_skip + take]);
            rest = tail;
            run_index = run_index.wrapping_add(1);
        }
        let mut chunks = rest.chunks_exact_mut(RUN_BYTES);
        for chunk in &mut chunks {
            if let Ok(run) = <&mut [u8; RUN_BYTES]>::try_from(chunk) {
                self.run(object_seed, run_index, run);
            }
            run_index = run_index.wrapping_add(1);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let mut run = [0u8; RUN_BYTES];
            self.run(object_seed, run_index, &mut run);
            let n = tail.len();
            tail.copy_from_slice(&run[..n]);
        }
    }

    #[inline(always)]
    fn run(&self, object_seed: u64, run_index: u64, out: &mut [u8; RUN_BYTES]) {
        let phase = mix(object_seed, P3);
        let weyl = run_index.wrapping_mul(GOLDEN).wrapping_add(phase);
        let run_seed = if weyl < self.repeat_threshold {
            let dict = mix(object_seed ^ run_index, P2) % DICT_RUNS;
            mix(object_seed ^ DICT_SALT, dict ^ P1)
        } else {
            mix(object_seed, run_index ^ P0)
        };
        let mut state = run_seed;
        let mut words = [0u64; RUN_WORDS];
        for w in &mut words {
            state = state.wrapping_add(P0);
            *w = style_word(self.style, mix(state, state ^ P1));
        }
        for (dst, w) in out.chunks_exact_mut(8).zip(words) {
            dst.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// wyhash's mixing step: 64x64 -> 128-bit multiply, folded.
#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    let r = u128::from(a ^ P0).wrapping_mul(u128::from(b ^ P1));
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn style_word(style: ByteStyle, w: u64) -> u64 {
    match style {
        ByteStyle::Random => w,
        // Per 16-bit lane: keep the mantissa byte, the sign bit and the exponent's low bit;
        // fix the rest of the exponent around 2^-6..2^-7.
        ByteStyle::Bf16 => (w & 0x81FF_81FF_81FF_81FF) | 0x3A00_3A00_3A00_3A00,
        // Each byte becomes one of 64 printable characters '?'..='~'.
        ByteStyle::Text => (w & 0x3F3F_3F3F_3F3F_3F3F) + 0x3F3F_3F3F_3F3F_3F3F,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lz4_ratio(data: &[u8]) -> f64 {
        data.len() as f64 / lz4_flex::block::compress(data).len() as f64
    }

    #[test]
    fn presets_hit_their_lz4_ratio() {
        for preset in Preset::ALL {
            let generator = DataGen::preset(preset);
            let mut buf = vec![0u8; 256 * 1024];
            generator.fill(7, 0, &mut buf);
            // Chunks are compressed one by one on the data path: measure at 64 KiB.
            let ratios: Vec<f64> = buf.chunks(64 * 1024).map(lz4_ratio).collect();
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            let want = preset.lz4_ratio();
            eprintln!("{}: LZ4 ratio per 64 KiB chunk {ratios:.3?}", preset.name());
            assert!(
                (mean - want).abs() <= want * 0.08,
                "{}: LZ4 ratio {mean:.3}, want {want} +-8%",
                preset.name()
            );
        }
    }

    #[test]
    fn small_chunks_stay_close_to_target() {
        let generator = DataGen::preset(Preset::TextLike);
        let mut buf = vec![0u8; 4096];
        for object in 0..8u64 {
            generator.fill(object, object * 12_345, &mut buf);
            let ratio = lz4_ratio(&buf);
            assert!((2.8..=5.2).contains(&ratio), "4 KiB text-like ratio {ratio:.2}");
        }
    }

    #[test]
    fn same_seed_same_bytes_and_known_prefix() {
        let generator = DataGen::preset(Preset::CheckpointLike);
        let mut a = vec![0u8; 1000];
        let mut b = vec![0u8; 1000];
        generator.fill(42, 0, &mut a);
        generator.fill(42, 0, &mut b);
        assert_eq!(a, b);
        generator.fill(43, 0, &mut b);
        assert_ne!(a, b);
        // Pinned so a change of the generator (and of every seeded scenario) is noticed.
        assert_eq!(crate::crc32c::crc32c(&a), GOLDEN_CRC_SEED42_1000);
    }

    const GOLDEN_CRC_SEED42_1000: u32 = 0xf359_b838;

    #[test]
    fn bad_ratio_is_rejected() {
        assert!(DataGen::new(0.5, ByteStyle::Random).is_err());
        assert!(DataGen::new(f64::NAN, ByteStyle::Random).is_err());
        assert!(DataGen::new(100.0, ByteStyle::Random).is_err());
        assert!(Preset::from_name("nope").is_err());
        assert_eq!(Preset::from_name("text-like").ok(), Some(Preset::TextLike));
    }

    #[test]
    fn zero_length_fill_is_a_no_op() {
        DataGen::preset(Preset::TextLike).fill(1, u64::MAX, &mut []);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn sub_ranges_match_whole(seed in any::<u64>(), start in 0usize..3000, len in 0usize..3000, ratio in 1.0f64..8.0) {
            let generator = DataGen::new(ratio, ByteStyle::Text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let base = 1u64 << 40;
            let mut whole = vec![0u8; 6000];
            generator.fill(seed, base, &mut whole);
            let mut part = vec![0u8; len];
            generator.fill(seed, base + start as u64, &mut part);
            prop_assert_eq!(&part[..], &whole[start..start + len]);
        }
    }
}
