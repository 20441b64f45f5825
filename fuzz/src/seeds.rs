//! Writes the seed corpora of the binary-input targets from the kit's own encoders (real
//! compressed streams, real descriptors, real blob keys); the text targets' seeds are real
//! files (shipped profiles, example scenarios, a calibration, results, a manifest).
//! Regenerate with `cargo test --manifest-path fuzz/Cargo.toml --lib -- --ignored write_seeds`.

use std::path::Path;

use dpukit_ffi::{Algorithm as DescAlgorithm, BufRef, DescFlags, Descriptor, Op};
use dpukit_host::tier::{ChunkRecord, CopiedRecord, ManifestRecord};
use dpukit_kernels::compress::{compress, max_compressed_len, Algorithm, Codec};
use dpukit_kernels::crc32c::crc32c;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

fn descriptors() -> Vec<Descriptor> {
    let b = |offset: u64, len: u32| BufRef::new(1, offset, len);
    let ops = [
        Op::Nop,
        Op::Crc32c { src: b(0, 4096), seed: 0 },
        Op::Copy { src: b(0, 4096), dst: b(8192, 4096) },
        Op::CopyCrc32c { src: b(0, 4096), dst: b(16384, 4096), seed: 7 },
        Op::Compress { src: b(0, 8192), dst: b(24576, 9000), algorithm: DescAlgorithm::Lz4, level: 0 },
        Op::Decompress { src: b(24576, 9000), dst: b(40960, 8192), algorithm: DescAlgorithm::Lz4 },
        Op::Compress { src: b(0, 8192), dst: b(24576, 9000), algorithm: DescAlgorithm::Zstd, level: 3 },
        Op::Compress { src: b(0, 8192), dst: b(24576, 9000), algorithm: DescAlgorithm::Gzip, level: 6 },
        Op::CacheInsert { key: [3; 16], value: [1; 16] },
        Op::CacheLookup { key: [3; 16], dst: b(60000, 16) },
        Op::CacheDelete { key: [3; 16] },
    ];
    ops.iter().enumerate().map(|(i, op)| Descriptor::new(i as u64, *op)).collect()
}

fn encoded(descs: &[Descriptor]) -> Vec<u8> {
    descs.iter().flat_map(|d| d.encode().as_bytes().to_vec()).collect()
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand"]
fn write_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    // decompress: byte 0 picks the small destination, then a stream of each format.
    let text = b"dpukit checkpoint chunk 0000: the quick brown fox jumps over the lazy dog. ".repeat(8);
    for algorithm in Algorithm::ALL {
        let codec = Codec::with_default_level(algorithm);
        let mut out = vec![0u8; max_compressed_len(&codec, text.len())];
        let n = compress(&codec, &text, &mut out).expect("compresses");
        let mut seed = vec![16u8];
        seed.extend_from_slice(&out[..n]);
        write(&dir, "decompress", &format!("{algorithm}"), &seed);
    }
    // device: a job of each op kind, answered each way a device can.
    for what in 0..9u8 {
        write(&dir, "device", &format!("answer-{what}"), &crate::device::example(what));
    }
    // cache_index: a mix of inserts, lookups and deletes.
    write(&dir, "cache_index", "ops", &[0x47, 0, 5, 1, 2, 2, 5, 0, 0, 1, 9, 3, 4, 3, 5, 0, 0, 2, 9, 0, 0]);
    // engine: every profile with a device, aimed and not, each kind of descriptor.
    let descs = encoded(&descriptors());
    for profile in 0..4u8 {
        let mut seed = vec![profile, 1 | 2 << 1 | 1 << 3];
        seed.extend_from_slice(&descs);
        write(&dir, "engine", &format!("profile{profile}"), &seed);
    }
    let chained: Vec<Descriptor> = descriptors()
        .into_iter()
        .map(|d| match d.op {
            Op::Crc32c { .. } | Op::CopyCrc32c { .. } => {
                d.with_flags(DescFlags::CRC_SEED_PREV | DescFlags::FENCE)
            }
            _ => d.with_flags(DescFlags::NONE),
        })
        .collect();
    let mut seed = vec![0, 0];
    seed.extend_from_slice(&encoded(&chained));
    write(&dir, "engine", "flags", &seed);
    // capi: ring sizes 64/16, budget 8, aimed.
    let mut seed = vec![64, 0, 16, 0, 1 | 7 << 1];
    seed.extend_from_slice(&descs);
    write(&dir, "capi", "loopback", &seed);
    // The same, served through the C API's device side.
    seed[4] |= 0x80;
    write(&dir, "capi", "device-side", &seed);
    // blob: a key with the body's CRC32C and its metadata; a key whose CRC32C is wrong.
    let body = b"chunk bytes as uploaded";
    let key = format!("chunks/node0000/0000000003.{:08x}", crc32c(body));
    for (name, meta) in [("verified", format!("{:08x}", crc32c(body))), ("wrong-metadata", "00000000".into())]
    {
        let mut seed = vec![0u8, key.len() as u8];
        seed.extend_from_slice(key.as_bytes());
        seed.push(meta.len() as u8);
        seed.extend_from_slice(meta.as_bytes());
        seed.extend_from_slice(body);
        write(&dir, "blob", name, &seed);
    }
    // manifest: generated records with damage (mode 0), and kit-encoded lines as arbitrary bytes (mode 1).
    write(
        &dir,
        "manifest",
        "damaged",
        &[0, 6, 0, 1, 7, 9, 1, 1, 7, 0, 2, 2, 3, 1, 0, 4, 3, 3, 9, 9, 1, 40, 0, 0, 250, 0],
    );
    let chunk = ChunkRecord {
        shard: "node0000".into(),
        chunk_index: 0,
        offset_bytes: 0,
        stored_len_bytes: 33354,
        uncompressed_len_bytes: 65536,
        compression: "lz4".into(),
        crc32c: 1951657346,
    };
    let copied = CopiedRecord {
        shard: "node0000".into(),
        chunk_index: 0,
        crc32c: 1951657346,
        blob_key: "chunks/node0000/0000000000.7453ed82".into(),
        lag_ns: 81234,
    };
    let mut seed = vec![1u8];
    for r in [ManifestRecord::Chunk(chunk), ManifestRecord::Copied(copied)] {
        seed.extend_from_slice(r.encode_line().expect("encodes").as_bytes());
    }
    seed.extend_from_slice(b"{\"crc32c\":\"0000");
    write(&dir, "manifest", "torn", &seed);
}

/// Every committed seed, and every input kept in `regressions/`, passes its target.
#[test]
fn every_seed_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 11] = [
        ("decompress", dpukit_kernels::fuzzing::decompress_target),
        ("cache_index", dpukit_kernels::fuzzing::cache_index_target),
        ("engine", crate::engine::target),
        ("capi", crate::capi::target),
        ("device", crate::device::target),
        ("manifest", crate::manifest::target),
        ("blob", crate::blob::target),
        ("profile", crate::profile::target),
        ("scenario", crate::scenario::target),
        ("calibration", crate::calibration::target),
        ("result", crate::result::target),
    ];
    for (name, target) in targets {
        let dir = root.join("seeds").join(name);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("read a seed");
            println!("{name}: {}", path.display());
            target(&bytes);
            n += 1;
        }
        assert!(n > 0, "no seeds for {name}");
    }
}
