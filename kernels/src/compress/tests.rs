use super::*;
use crate::datagen::{DataGen, Preset};
use proptest::prelude::*;

fn all_codecs() -> Vec<Codec> {
    let mut codecs = Vec::new();
    for algorithm in Algorithm::ALL {
        for level in [*levels(algorithm).start(), *levels(algorithm).end()] {
            codecs.push(Codec::new(algorithm, level).expect("level in range"));
        }
    }
    codecs
}

fn data(preset: Preset, len: usize, seed: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    DataGen::preset(preset).fill(seed, 0, &mut buf);
    buf
}

fn compressed(codec: &Codec, src: &[u8]) -> Vec<u8> {
    let mut dst = vec![0u8; max_compressed_len(codec, src.len())];
    let n = compress(codec, src, &mut dst).expect("compress into max_compressed_len");
    dst.truncate(n);
    dst
}

/// A frame written by `lz4_flex`'s encoder with the given options.
fn lz4_flex_frame(info: lz4_flex::frame::FrameInfo, src: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(src).expect("write");
    enc.finish().expect("finish")
}

#[test]
fn lz4_frames_read_both_ways_with_lz4_flex() {
    let lz4 = Codec::with_default_level(Algorithm::Lz4);
    for len in [0, 1, 15, 4096, 65_536, 65_537, 262_144, 262_145, 1 << 20, (4 << 20) + 3] {
        let src = data(Preset::CheckpointLike, len, len as u64);
        // Ours, read by lz4_flex's decoder.
        let packed = compressed(&lz4, &src);
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&packed[..]).read_to_end(&mut back).expect("lz4_flex reads it");
        assert_eq!(back, src, "{len}");
        // lz4_flex's, with every option our frames leave off, read by ours.
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            let info = FrameInfo::new()
                .block_mode(mode)
                .block_size(BlockSize::Max64KB)
                .block_checksums(true)
                .content_checksum(true);
            let theirs = lz4_flex_frame(info, &src);
            let mut out = vec![0u8; len];
            assert_eq!(decompress(Algorithm::Lz4, &theirs, &mut out).expect("reads"), len, "{mode:?}");
            assert_eq!(out, src);
        }
    }
}

#[test]
fn library_versions_are_the_ones_built_in() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("workspace Cargo.lock");
    let version_of = |name: &str| -> String {
        let at = lock.find(&format!("name = \"{name}\"\nversion = \"")).expect(name);
        let rest = &lock[at..];
        let start = rest.find("version = \"").expect("version") + 11;
        rest[start..start + rest[start..].find('"').expect("quote")].to_owned()
    };
    assert!(version_of("lz4-sys").ends_with(&format!("+lz4-{LIBLZ4_VERSION}")));
    assert!(version_of("zstd-sys").ends_with(&format!("+zstd.{LIBZSTD_VERSION}")));
    assert!(version_of("libdeflate-sys").starts_with(&format!("{LIBDEFLATE_VERSION}.")));
    assert_eq!(version_of("lz4_flex"), LZ4_FLEX_VERSION);
    assert_eq!(zstd_safe::version_string(), LIBZSTD_VERSION);
    let n = lz4::version();
    assert_eq!(format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100), LIBLZ4_VERSION);
    for algorithm in Algorithm::ALL {
        for lib in [compress_library(algorithm), decompress_library(algorithm)] {
            assert!(!lib.name.is_empty() && !lib.version.is_empty());
        }
    }
}

/// A corrupt block is never `DstTooSmall`, and a match offset of zero (which liblz4's
/// decoder would accept, copying the destination's old bytes) is corrupt.
#[test]
fn lz4_corrupt_blocks_and_short_destinations() {
    let src = data(Preset::TextLike, 100_000, 12);
    let packed = compressed(&Codec::with_default_level(Algorithm::Lz4), &src);
    // Header 15 bytes, then the first block's size word; the block is compressed.
    let word = u32::from_le_bytes(packed[15..19].try_into().expect("4 bytes"));
    assert_eq!(word & LZ4_UNCOMPRESSED, 0);
    let mut out = vec![0u8; src.len()];
    assert_eq!(decompress(Algorithm::Lz4, &packed, &mut out), Ok(src.len()));
    // A block whose one sequence is a match at offset zero, which no valid block holds.
    let mut zero_offset = packed[..15].to_vec();
    zero_offset.extend_from_slice(&3u32.to_le_bytes());
    zero_offset.extend_from_slice(&[0x00, 0x00, 0x00]);
    zero_offset.extend_from_slice(&0u32.to_le_bytes());
    for dst_len in [src.len(), 1 << 20, 1000, 0] {
        let mut out = vec![0u8; dst_len];
        match decompress(Algorithm::Lz4, &zero_offset, &mut out) {
            Err(KernelError::CorruptInput { .. }) => {}
            // The frame declares src.len() bytes: a smaller destination may be refused first.
            Err(KernelError::DstTooSmall { .. }) if dst_len < src.len() => {}
            other => panic!("zero offset into {dst_len} bytes: {other:?}"),
        }
    }
    let len = (word & !LZ4_UNCOMPRESSED) as usize;
    let mut cut = packed[..19 + len / 2].to_vec();
    cut[15..19].copy_from_slice(&((len / 2) as u32).to_le_bytes());
    cut.extend_from_slice(&0u32.to_le_bytes());
    for dst_len in [src.len(), 1 << 20] {
        let mut out = vec![0u8; dst_len];
        match decompress(Algorithm::Lz4, &cut, &mut out) {
            Err(KernelError::CorruptInput { .. }) => {}
            other => panic!("cut block into {dst_len} bytes: {other:?}"),
        }
    }
}

/// libdeflate reads a cut stream as if zero bits followed, which can decode past a
/// destination the whole stream fits: still `CorruptInput`, never `DstTooSmall`.
#[test]
fn deflate_cut_streams_into_exact_destinations_are_corrupt() {
    for preset in [Preset::TextLike, Preset::CheckpointLike] {
        let src = data(preset, 20_000, 13);
        for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
            for level in [1, 6, 9] {
                let codec = Codec::new(algorithm, level).expect("level");
                let packed = compressed(&codec, &src);
                let mut out = vec![0u8; src.len()];
                for cut in (1..packed.len()).step_by(7).chain([packed.len() - 1]) {
                    match decompress(algorithm, &packed[..cut], &mut out) {
                        Err(KernelError::CorruptInput { .. }) => {}
                        other => panic!("{codec:?} cut at {cut}: {other:?}"),
                    }
                }
                // A whole stream into one byte too few: too small, and by how much.
                let mut short = vec![0u8; src.len() - 1];
                assert_eq!(
                    decompress(algorithm, &packed, &mut short),
                    Err(KernelError::DstTooSmall { capacity: src.len() - 1, needed: Some(src.len()) })
                );
            }
        }
    }
}

/// A gzip member may carry a header CRC (FLG.FHCRC), which zlib checks and libdeflate
/// skips: the kit checks it.
#[test]
fn gzip_header_crc_is_checked() {
    let src = data(Preset::TextLike, 5000, 14);
    let plain = compressed(&Codec::new(Algorithm::Gzip, 6).expect("level"), &src);
    // The same member with FNAME "x" and a header CRC.
    let mut header = plain[..10].to_vec();
    header[3] |= 0x08 | 0x02;
    header.extend_from_slice(b"x\0");
    let crc = (libdeflater::crc32(&header) & 0xFFFF) as u16;
    let mut good = header.clone();
    good.extend_from_slice(&crc.to_le_bytes());
    good.extend_from_slice(&plain[10..]);
    let mut out = vec![0u8; src.len()];
    assert_eq!(decompress(Algorithm::Gzip, &good, &mut out), Ok(src.len()));
    let mut flate = flate2::read::GzDecoder::new(&good[..]);
    let mut reference = Vec::new();
    flate.read_to_end(&mut reference).expect("zlib-rs reads it too");
    assert_eq!(reference, src);
    let mut bad = good.clone();
    bad[header.len()] ^= 1;
    assert!(matches!(decompress(Algorithm::Gzip, &bad, &mut out), Err(KernelError::CorruptInput { .. })));
    // A second member with a bad header CRC after a good one.
    let both = [plain.clone(), bad].concat();
    let mut out = vec![0u8; 2 * src.len()];
    assert!(matches!(decompress(Algorithm::Gzip, &both, &mut out), Err(KernelError::CorruptInput { .. })));
}

#[test]
fn lz4_checksums_and_sizes_are_checked() {
    use lz4_flex::frame::{BlockSize, FrameInfo};
    let src = data(Preset::CheckpointLike, 200_000, 9);
    let info = FrameInfo::new().block_size(BlockSize::Max64KB).block_checksums(true).content_checksum(true);
    let frame = lz4_flex_frame(info, &src);
    let mut out = vec![0u8; src.len()];
    // A flipped byte inside the first block: its checksum no longer matches.
    let mut bad = frame.clone();
    bad[7 + 4 + 10] ^= 0x40;
    let e = decompress(Algorithm::Lz4, &bad, &mut out).unwrap_err();
    assert!(matches!(e, KernelError::CorruptInput { .. }), "{e}");
    // Our own frame with a wrong declared content size: the header checksum catches it.
    let lz4 = Codec::with_default_level(Algorithm::Lz4);
    let mut ours = compressed(&lz4, &src);
    ours[6] ^= 0x40; // 200,000 declared as 199,936
    let e = decompress(Algorithm::Lz4, &ours, &mut out).unwrap_err();
    assert!(e.to_string().contains("header checksum"), "{e}");
}

#[test]
fn lz4_concatenated_frames_of_both_kinds() {
    let lz4 = Codec::with_default_level(Algorithm::Lz4);
    let a = data(Preset::CheckpointLike, 100_000, 1);
    let b = data(Preset::TextLike, 70_000, 2);
    let linked = lz4_flex::frame::FrameInfo::new().block_mode(lz4_flex::frame::BlockMode::Linked);
    let mut stream = compressed(&lz4, &a);
    stream.extend(lz4_flex_frame(linked, &b));
    stream.extend(compressed(&lz4, &a));
    let mut out = vec![0u8; 270_000];
    assert_eq!(decompress(Algorithm::Lz4, &stream, &mut out).expect("reads"), 270_000);
    assert_eq!(&out[..100_000], &a[..]);
    assert_eq!(&out[100_000..170_000], &b[..]);
    assert_eq!(&out[170_000..], &a[..]);
}

#[test]
fn lz4_compresses_into_a_buffer_below_the_block_bound() {
    // A destination that holds the compressed frame but not the block format's worst
    // case: the block is compressed aside and copied in.
    let lz4 = Codec::with_default_level(Algorithm::Lz4);
    let src = data(Preset::CheckpointLike, 1 << 20, 3);
    let full = compressed(&lz4, &src);
    let mut dst = vec![0u8; full.len() + 8];
    let n = compress(&lz4, &src, &mut dst).expect("fits");
    assert_eq!(&dst[..n], &full[..]);
    let mut exact = vec![0u8; full.len()];
    assert_eq!(compress(&lz4, &src, &mut exact).expect("fits exactly"), full.len());
    let mut short = vec![0u8; full.len() - 1];
    assert!(matches!(compress(&lz4, &src, &mut short), Err(KernelError::DstTooSmall { .. })));
}

#[test]
fn levels_are_validated() {
    for (algorithm, bad) in [
        (Algorithm::Lz4, 0),
        (Algorithm::Lz4, 2),
        (Algorithm::Zstd, 0),
        (Algorithm::Zstd, 20),
        (Algorithm::Gzip, 0),
        (Algorithm::Gzip, 10),
        (Algorithm::Zlib, -1),
    ] {
        assert!(matches!(
            Codec::new(algorithm, bad),
            Err(KernelError::BadLevel { level, .. }) if level == bad
        ));
    }
    assert_eq!(Codec::new(Algorithm::Zstd, 19).map(|c| c.level()), Ok(19));
}

#[test]
fn zero_length_and_odd_lengths_round_trip() {
    for codec in all_codecs() {
        for len in [0usize, 1, 3, 4095, 4097, 65_537] {
            let src = data(Preset::TextLike, len, len as u64);
            let packed = compressed(&codec, &src);
            let mut out = vec![0u8; len];
            let n = decompress(codec.algorithm(), &packed, &mut out)
                .unwrap_or_else(|e| panic!("{codec:?} len {len}: {e}"));
            assert_eq!(n, len);
            assert_eq!(out, src, "{codec:?} len {len}");
        }
    }
}

#[test]
fn incompressible_data_fits_max_compressed_len() {
    // Several LZ4 blocks and deflate blocks, at the fastest and strongest levels.
    let src = data(Preset::Incompressible, 200_000, 3);
    for codec in all_codecs() {
        let mut dst = vec![0u8; max_compressed_len(&codec, src.len())];
        assert!(compress(&codec, &src, &mut dst).is_ok(), "{codec:?}");
    }
}

#[test]
fn unaligned_slices() {
    let backing = data(Preset::CheckpointLike, 10_003, 9);
    let src = &backing[3..];
    for codec in all_codecs() {
        let mut dst_backing = vec![0u8; max_compressed_len(&codec, src.len()) + 5];
        let n = compress(&codec, src, &mut dst_backing[5..]).expect("compress");
        let mut out_backing = vec![0u8; src.len() + 7];
        let m =
            decompress(codec.algorithm(), &dst_backing[5..5 + n], &mut out_backing[7..]).expect("decompress");
        assert_eq!(&out_backing[7..7 + m], src);
    }
}

#[test]
fn compress_dst_too_small() {
    let src = data(Preset::Incompressible, 5000, 1);
    for codec in all_codecs() {
        for cap in [0usize, 1, 10, 2500, 4999] {
            let mut dst = vec![0u8; cap];
            match compress(&codec, &src, &mut dst) {
                Err(KernelError::DstTooSmall { capacity, .. }) => assert_eq!(capacity, cap),
                other => panic!("{codec:?} cap {cap}: {other:?}"),
            }
        }
    }
}

#[test]
fn decompress_dst_too_small_and_exact() {
    let src = data(Preset::TextLike, 70_000, 2);
    for codec in all_codecs() {
        let packed = compressed(&codec, &src);
        for cap in [0usize, 1, 65_536, src.len() - 1] {
            let mut out = vec![0u8; cap];
            match decompress(codec.algorithm(), &packed, &mut out) {
                Err(KernelError::DstTooSmall { capacity, needed }) => {
                    assert_eq!(capacity, cap);
                    assert!(needed.is_none() || needed == Some(src.len()));
                }
                other => panic!("{codec:?} cap {cap}: {other:?}"),
            }
        }
        for cap in [src.len(), src.len() + 1] {
            let mut out = vec![0u8; cap];
            assert_eq!(decompress(codec.algorithm(), &packed, &mut out), Ok(src.len()));
        }
    }
}

/// Found by the `decompress` fuzz target: a zstd frame whose window is 2,560 bytes holds
/// one RLE block of 8,169 bytes. The spec caps a block at the window; libzstd's one-shot
/// decoder (the kit's) reads it all the same, its streaming decoder (the `zstd` tool's)
/// refuses it. The kit never writes such a frame; this pins the library's behaviour, so a
/// change in either decoder is seen here (the fuzz target's reference check allows it).
#[test]
fn zstd_one_shot_reads_a_block_larger_than_its_window() {
    use std::io::Read;
    let src: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd, 0x10, 0x0a, 0x4b, 0xff, 0x00, 0x00];
    let mut dst = vec![0xffu8; 1 << 20];
    assert_eq!(decompress(Algorithm::Zstd, src, &mut dst), Ok(8169));
    assert!(dst[..8169].iter().all(|&b| b == 0));
    let mut streamed = Vec::new();
    let e = zstd::stream::read::Decoder::new(src).unwrap().read_to_end(&mut streamed).unwrap_err();
    assert!(e.to_string().contains("Destination buffer is too small"), "{e}");
    // The fuzz target's inputs that found it (a first byte picks the small destination):
    // blocks of 8,169 and 6,665 bytes, which the streaming decoder refuses with two
    // different errors.
    for block in [[0x4b, 0xff], [0x4b, 0xd0]] {
        let mut input = vec![0x10, 0x28, 0xb5, 0x2f, 0xfd, 0x10, 0x0a];
        input.extend_from_slice(&block);
        input.extend_from_slice(&[0x00, 0x00]);
        assert!(crate::fuzzing::zstd_streaming_refuses(&input[1..]));
        crate::fuzzing::decompress_target(&input);
    }
    // A 160 MiB window: over the streaming decoder's memory limit, nothing to the one-shot
    // decoder into a buffer that holds the frame's 9 bytes.
    let big_window = [0x10, 0x28, 0xb5, 0x2f, 0xfd, 0x10, 0x8a, 0x4b, 0x00, 0x00, 0x10];
    assert!(crate::fuzzing::zstd_streaming_refuses(&big_window[1..]));
    crate::fuzzing::decompress_target(&big_window);
    // A frame the kit writes keeps its blocks within its window.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i / 977) as u8).collect();
    let codec = Codec::with_default_level(Algorithm::Zstd);
    let mut packed = vec![0u8; max_compressed_len(&codec, data.len())];
    let n = compress(&codec, &data, &mut packed).unwrap();
    assert!(!crate::fuzzing::zstd_streaming_refuses(&packed[..n]));
}

/// Found by the `decompress` fuzz target: two zstd frames whose first declares 1296
/// bytes overflow 1 MiB, and the error claimed 1296 bytes were needed.
#[test]
fn zstd_dst_too_small_never_claims_less_than_the_capacity() {
    let src: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x10, 0x04, 0x22, 0x4d, 0x69, 0x6e, 0x0b, 0x00, 0xf1, 0x19, 0x75, 0x6e,
        0x6b, 0x20, 0x30, 0x30, 0x30, 0x30, 0x3a, 0x30, 0x3a, 0x20, 0x74, 0x68, 0x65, 0x20, 0x71, 0x75, 0x69,
        0x63, 0x6b, 0x20, 0x62, 0x72, 0x6f, 0x18, 0x68, 0x40, 0x58, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x3c, 0x02, 0x68, 0x65, 0x63, 0x6b, 0x70, 0x6f, 0x69, 0x6e, 0x0b, 0x00, 0xf1, 0x19, 0x75, 0x6e, 0x6b,
        0x20, 0x30, 0x30, 0x30, 0x30, 0x3a, 0x20, 0x74, 0x10, 0x04, 0x22, 0x4d, 0x18, 0x20, 0x30, 0x30, 0x30,
        0x30, 0x3a, 0x20, 0x74, 0x10, 0x25, 0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 0x58, 0x3a, 0x28, 0xb5, 0x2f,
        0x68, 0x65, 0xfd,
    ];
    let mut dst = vec![0u8; 1 << 20];
    match decompress(Algorithm::Zstd, src, &mut dst) {
        Err(KernelError::DstTooSmall { capacity, needed }) => {
            assert_eq!(capacity, dst.len());
            assert!(needed.is_none_or(|n| n > capacity), "claims {needed:?} of {capacity}");
        }
        Err(KernelError::CorruptInput { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_truncation_is_corrupt_input() {
    let src = data(Preset::TextLike, 3000, 4);
    for codec in all_codecs() {
        let packed = compressed(&codec, &src);
        let mut out = vec![0u8; src.len() + 16];
        for cut in 0..packed.len() {
            match decompress(codec.algorithm(), &packed[..cut], &mut out) {
                Err(KernelError::CorruptInput { .. }) => {}
                other => panic!("{codec:?} cut at {cut}/{}: {other:?}", packed.len()),
            }
        }
    }
}

#[test]
fn garbage_empty_and_foreign_streams_are_corrupt_input() {
    let src = data(Preset::TextLike, 3000, 5);
    let garbage = data(Preset::Incompressible, 300, 6);
    for algorithm in Algorithm::ALL {
        let mut out = vec![0u8; 8192];
        for input in [&[][..], &garbage[..], &[0u8; 64][..]] {
            assert!(
                matches!(decompress(algorithm, input, &mut out), Err(KernelError::CorruptInput { .. })),
                "{algorithm}"
            );
        }
        // A stream of another algorithm.
        for other in Algorithm::ALL.into_iter().filter(|a| *a != algorithm) {
            let packed = compressed(&Codec::with_default_level(other), &src);
            assert!(
                decompress(algorithm, &packed, &mut out).is_err(),
                "{other} stream accepted as {algorithm}"
            );
        }
        // Trailing bytes after a valid stream.
        let mut packed = compressed(&Codec::with_default_level(algorithm), &src);
        packed.extend_from_slice(&[1, 2, 3]);
        assert!(decompress(algorithm, &packed, &mut out).is_err(), "{algorithm}");
    }
}

#[test]
fn concatenated_gzip_members_and_zstd_frames() {
    for algorithm in [Algorithm::Gzip, Algorithm::Zstd, Algorithm::Lz4] {
        let codec = Codec::with_default_level(algorithm);
        let a = data(Preset::TextLike, 1000, 7);
        let b = data(Preset::CheckpointLike, 2000, 8);
        let mut packed = compressed(&codec, &a);
        packed.extend_from_slice(&compressed(&codec, &b));
        let mut out = vec![0u8; 3000];
        assert_eq!(decompress(algorithm, &packed, &mut out), Ok(3000));
        assert_eq!(&out[..1000], &a[..]);
        assert_eq!(&out[1000..], &b[..]);
    }
}

fn codec_strategy() -> impl Strategy<Value = Codec> {
    prop::sample::select(Algorithm::ALL.to_vec()).prop_flat_map(|algorithm| {
        // zstd above 9 is slow in debug builds; the top level is covered above.
        let levels = *levels(algorithm).start()..=(*levels(algorithm).end()).min(9);
        levels.prop_map(move |level| Codec::new(algorithm, level).expect("in range"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn round_trips(codec in codec_strategy(), len in 0usize..=8192, ratio in 1.0f64..6.0, seed in any::<u64>()) {
        let mut src = vec![0u8; len];
        DataGen::new(ratio, crate::datagen::ByteStyle::Text)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .fill(seed, seed % 1000, &mut src);
        let packed = compressed(&codec, &src);
        let mut out = vec![0u8; len];
        prop_assert_eq!(decompress(codec.algorithm(), &packed, &mut out), Ok(len));
        prop_assert_eq!(out, src);
    }

    #[test]
    fn corrupted_streams_never_panic(codec in codec_strategy(), flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let src = data(Preset::TextLike, 2000, 11);
        let mut packed = compressed(&codec, &src);
        for (at, xor) in flips {
            let i = at.index(packed.len());
            packed[i] ^= xor;
        }
        let mut out = vec![0u8; 2000];
        if let Ok(n) = decompress(codec.algorithm(), &packed, &mut out) {
            prop_assert!(n <= out.len());
        }
    }
}

/// Found by the `decompress` fuzz target: an LZ4 skippable frame (magic 0x184D2A51, length
/// 0) is a valid stream of no data, which the `lz4` tool reads as such and the kit too;
/// lz4_flex's frame decoder, the fuzz target's reference, stops at it.
#[test]
fn an_lz4_skippable_frame_is_an_empty_stream() {
    let input: [u8; 9] = [0x6b, 0x51, 0x2a, 0x4d, 0x18, 0x00, 0x00, 0x00, 0x00];
    let mut dst = vec![0u8; 64];
    assert_eq!(decompress(Algorithm::Lz4, &input[1..], &mut dst), Ok(0));
    crate::fuzzing::decompress_target(&input);
}

/// Found by the `decompress` fuzz target: an LZ4 frame declaring 600 bytes whose blocks
/// hold more. Into a 688-byte destination the error claimed 600 bytes were needed; it is
/// corrupt (the blocks disagree with the header), whatever the destination.
#[test]
fn lz4_blocks_past_the_declared_content_size_are_corrupt_not_too_small() {
    let input: &[u8] = &[
        0x2b, 0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 0x58, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbe, 0x56,
        0x00, 0x00, 0x00, 0xf0, 0x01, 0x64, 0x70, 0x75, 0x6b, 0x69, 0x74, 0x20, 0x63, 0x68, 0x65, 0x63, 0x6b,
        0x70, 0x6f, 0x69, 0x6e, 0x0b, 0x00, 0xf1, 0x19, 0x75, 0x6e, 0x6b, 0x20, 0x31, 0x36, 0x31, 0x35, 0x3a,
        0x20, 0x74, 0x68, 0x65, 0x20, 0x71, 0x75, 0x69, 0x63, 0x6b, 0x20, 0x62, 0x72, 0x6f, 0x77, 0x20, 0x6e,
        0x66, 0x6f, 0x78, 0x20, 0x6a, 0x75, 0x6d, 0x70, 0x73, 0x20, 0x6f, 0x76, 0x65, 0x72, 0x1f, 0x00, 0xaf,
        0x6c, 0x61, 0x7a, 0x79, 0x20, 0x64, 0x6f, 0x67, 0x2e, 0x20, 0x4b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x67, 0x2e, 0x20, 0x00, 0x00, 0x00, 0x00,
    ];
    let mut dst = vec![0u8; usize::from(input[0]) * 16];
    match decompress(Algorithm::Lz4, &input[1..], &mut dst) {
        Err(KernelError::DstTooSmall { capacity, needed }) => {
            assert!(needed.is_none_or(|n| n > capacity), "needs {needed:?} of {capacity}")
        }
        Err(KernelError::CorruptInput { .. }) => {}
        other => panic!("{other:?}"),
    }
    crate::fuzzing::decompress_target(input);
}

/// Where the tests must use every library (`scripts/test.sh` sets DPUKIT_REQUIRE_TOOLS),
/// this build linked ISA-L: a machine without libisal-dev builds, and compresses gzip/zlib
/// level 1 with libdeflate, but is not what the kit is tested as.
#[test]
fn isal_linked_where_tools_are_required() {
    if std::env::var("DPUKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
        assert!(isal_linked(), "built without ISA-L (libisal-dev): run scripts/install-deps.sh and rebuild");
    }
}

/// gzip and zlib level 1 switch from libdeflate to ISA-L at 32 KiB of input: both sides of
/// the switch (and incompressible input on each) are streams zlib reads back exactly, in
/// destinations of max_compressed_len, and the library named is the one used.
#[test]
fn deflate_level_1_either_side_of_the_isal_switch() {
    use std::io::Read;
    for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
        let codec = Codec::new(algorithm, 1).expect("level 1");
        for len in [ISAL_MIN_BYTES - 1, ISAL_MIN_BYTES, 300_000] {
            for preset in [Preset::TextLike, Preset::Incompressible] {
                let src = data(preset, len, 5);
                let packed = compressed(&codec, &src);
                let mut back = Vec::new();
                if algorithm == Algorithm::Gzip {
                    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut back).expect("zlib reads it");
                } else {
                    flate2::read::ZlibDecoder::new(&packed[..])
                        .read_to_end(&mut back)
                        .expect("zlib reads it");
                }
                assert_eq!(back, src, "{algorithm:?} {len} {preset:?}");
                let mut out = vec![0u8; len];
                assert_eq!(decompress(algorithm, &packed, &mut out), Ok(len));
                assert_eq!(out, src);
            }
            let name = compress_library_at(&codec, len).name;
            assert_eq!(name.starts_with("ISA-L"), isal_linked() && len >= ISAL_MIN_BYTES, "{len}: {name}");
        }
        assert!(compress_library_at(&Codec::new(algorithm, 2).expect("level 2"), 1 << 20)
            .name
            .starts_with("libdeflate"));
    }
}

/// The `decompress` fuzz target's committed seeds (fuzz/seeds/decompress: the kit's streams
/// and every input a fuzzer found) pass its body, as the fuzz crate's own seed test runs
/// them, without building the fuzz workspace.
#[test]
fn every_decompress_seed_passes_the_fuzz_body() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/decompress");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        crate::fuzzing::decompress_target(&bytes);
        n += 1;
    }
    assert!(n >= 10, "{n} seeds in {}", dir.display());
}
