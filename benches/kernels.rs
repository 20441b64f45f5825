//! Kernel microbenchmarks. Every group has a reference beside the kernel: memcpy of the same
//! size (the physical floor), the bare library call the kernel wraps (liblz4's block call,
//! libzstd, libdeflate) and the library it replaced (lz4_flex's frame codec, zlib-rs), and
//! for CRC32C both candidate crates; for the cache index a bare `hashbrown::HashMap<u128, _>`. Figures are
//! meant to be read as ratios within a group.
//!
//! Parameters (env): DPUKIT_BENCH_SIZES (bytes, default "4096,65536,1048576"),
//! DPUKIT_BENCH_INDEX_ENTRIES (cache index entries, default 1048576).

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_kernels::compress::{self, Algorithm, Codec};
use dpukit_kernels::crc32c;
use dpukit_kernels::datagen::{DataGen, Preset};

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name}: not a number: {s:?}")))
        .collect()
}

fn sizes() -> Vec<usize> {
    env_list("DPUKIT_BENCH_SIZES", "4096,65536,1048576")
}

fn short(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.measurement_time(Duration::from_millis(1500));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(20);
}

fn data(preset: Preset, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    DataGen::preset(preset).fill(0x5eed, 0, &mut buf);
    buf
}

const DATA: [(Preset, &str); 2] =
    [(Preset::Incompressible, "random"), (Preset::CheckpointLike, "checkpoint")];

fn bench_crc32c(c: &mut Criterion) {
    for size in sizes() {
        // CRC cost does not depend on the bytes; one data kind is enough.
        let src = data(Preset::Incompressible, size);
        let mut dst = vec![0u8; size];
        let mut group = c.benchmark_group(format!("crc32c/{size}"));
        short(&mut group);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("memcpy", |b| b.iter(|| dst.copy_from_slice(black_box(&src))));
        group.bench_function("kernel", |b| b.iter(|| crc32c::crc32c(black_box(&src))));
        group.bench_function("crc-fast", |b| b.iter(|| crc_fast::crc32_iscsi(black_box(&src))));
        group.bench_function("crc32c-crate", |b| b.iter(|| ::crc32c::crc32c(black_box(&src))));
        group.finish();
    }
}

fn lz4_direct_compress(src: &[u8], dst: &mut [u8]) -> usize {
    let capacity = dst.len();
    let mut out: &mut [u8] = dst;
    let mut encoder = lz4_flex::frame::FrameEncoder::new(&mut out);
    encoder.write_all(src).expect("fits");
    encoder.finish().expect("fits");
    capacity - out.len()
}

fn gzip_direct_compress(level: u32, src: &[u8], dst: &mut [u8]) -> usize {
    let mut z = flate2::Compress::new_gzip(flate2::Compression::new(level), 15);
    z.compress(src, dst, flate2::FlushCompress::Finish).expect("fits");
    z.total_out() as usize
}

fn bench_compress(c: &mut Criterion) {
    let codecs = [
        Codec::with_default_level(Algorithm::Lz4),
        Codec::new(Algorithm::Zstd, 1).expect("valid"),
        Codec::new(Algorithm::Gzip, 6).expect("valid"),
    ];
    for size in sizes() {
        for (preset, label) in DATA {
            let src = data(preset, size);
            let mut copy = vec![0u8; size];
            let mut group = c.benchmark_group(format!("compress/{label}/{size}"));
            short(&mut group);
            group.sampling_mode(SamplingMode::Flat);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function("memcpy", |b| b.iter(|| copy.copy_from_slice(black_box(&src))));
            for codec in codecs {
                let name = codec.algorithm().name();
                let level = codec.level();
                let mut dst = vec![0u8; compress::max_compressed_len(&codec, size)];
                group.bench_function(format!("{name}-{level}/kernel"), |b| {
                    b.iter(|| compress::compress(&codec, black_box(&src), &mut dst).expect("fits"))
                });
                group.bench_function(format!("{name}-{level}/library"), |b| match codec.algorithm() {
                    Algorithm::Lz4 => b.iter(|| {
                        lz4::block::compress_to_buffer(black_box(&src), None, false, &mut dst).expect("fits")
                    }),
                    Algorithm::Zstd => b.iter(|| {
                        zstd::bulk::compress_to_buffer(black_box(&src), &mut dst, level).expect("fits")
                    }),
                    _ => {
                        let lvl = libdeflater::CompressionLvl::new(level).expect("level");
                        let mut z = libdeflater::Compressor::new(lvl);
                        b.iter(|| z.gzip_compress(black_box(&src), &mut dst).expect("fits"))
                    }
                });
                match codec.algorithm() {
                    Algorithm::Lz4 => group
                        .bench_function(format!("{name}-{level}/previous-lz4_flex"), |b| {
                            b.iter(|| lz4_direct_compress(black_box(&src), &mut dst))
                        }),
                    Algorithm::Gzip => group
                        .bench_function(format!("{name}-{level}/previous-zlib-rs"), |b| {
                            b.iter(|| gzip_direct_compress(level as u32, black_box(&src), &mut dst))
                        }),
                    _ => &mut group,
                };
            }
            group.finish();

            let mut group = c.benchmark_group(format!("decompress/{label}/{size}"));
            short(&mut group);
            group.sampling_mode(SamplingMode::Flat);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function("memcpy", |b| b.iter(|| copy.copy_from_slice(black_box(&src))));
            for codec in codecs {
                let name = codec.algorithm().name();
                let mut packed = vec![0u8; compress::max_compressed_len(&codec, size)];
                let n = compress::compress(&codec, &src, &mut packed).expect("fits");
                packed.truncate(n);
                let mut out = vec![0u8; size];
                group.bench_function(format!("{name}/kernel"), |b| {
                    b.iter(|| {
                        compress::decompress(codec.algorithm(), black_box(&packed), &mut out).expect("ok")
                    })
                });
                group.bench_function(format!("{name}/library"), |b| match codec.algorithm() {
                    Algorithm::Lz4 => {
                        // The frame's single block (chunks up to 4 MiB): header 15 bytes, size word;
                        // a block that did not shrink is stored, and copied as the kernel does.
                        let block = packed.get(19..packed.len() - 4).expect("one block");
                        let stored = u32::from_le_bytes(packed[15..19].try_into().expect("word")) >> 31 == 1;
                        let cap = i32::try_from(size).expect("fits i32");
                        b.iter(|| {
                            if stored {
                                out.copy_from_slice(black_box(block));
                            } else {
                                lz4::block::decompress_to_buffer(black_box(block), Some(cap), &mut out)
                                    .expect("ok");
                            }
                        })
                    }
                    Algorithm::Zstd => {
                        b.iter(|| zstd::bulk::decompress_to_buffer(black_box(&packed), &mut out).expect("ok"))
                    }
                    _ => {
                        let mut z = libdeflater::Decompressor::new();
                        b.iter(|| z.gzip_decompress(black_box(&packed), &mut out).expect("ok"))
                    }
                });
                match codec.algorithm() {
                    Algorithm::Lz4 => group.bench_function(format!("{name}/previous-lz4_flex"), |b| {
                        b.iter(|| {
                            let mut d = lz4_flex::frame::FrameDecoder::new(black_box(&packed[..]));
                            d.read_exact(&mut out).expect("ok");
                        })
                    }),
                    Algorithm::Gzip => group.bench_function(format!("{name}/previous-zlib-rs"), |b| {
                        b.iter(|| {
                            let mut z = flate2::Decompress::new_gzip(15);
                            z.decompress(black_box(&packed), &mut out, flate2::FlushDecompress::Finish)
                                .expect("ok")
                        })
                    }),
                    _ => &mut group,
                };
            }
            group.finish();
        }
    }
}

fn bench_datagen(c: &mut Criterion) {
    for size in sizes() {
        let src = vec![7u8; size];
        let mut dst = vec![0u8; size];
        let mut group = c.benchmark_group(format!("datagen/{size}"));
        short(&mut group);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("memcpy", |b| b.iter(|| dst.copy_from_slice(black_box(&src))));
        for preset in Preset::ALL {
            let generator = DataGen::preset(preset);
            let mut offset = 0u64;
            group.bench_function(preset.name(), |b| {
                b.iter(|| {
                    offset = offset.wrapping_add(size as u64);
                    generator.fill(black_box(1), offset, &mut dst)
                })
            });
        }
        group.finish();
    }
}

fn bench_cache_index(c: &mut Criterion) {
    let entries = env_list("DPUKIT_BENCH_INDEX_ENTRIES", "1048576")[0];
    const BATCH: usize = 1024;
    let index = CacheIndex::new(entries).expect("valid capacity");
    let mut map: hashbrown::HashMap<u128, Location> = hashbrown::HashMap::with_capacity(entries);
    let keys: Vec<CacheKey> = (0..entries as u64).map(|n| CacheKey::for_chunk(n >> 10, n)).collect();
    for (n, key) in keys.iter().enumerate() {
        let location = Location::new(1, 0, n as u64 * 4096, 4096, n as u32).expect("fits");
        index.insert(*key, location);
        map.insert(key.as_u128(), location);
    }
    // Lookups in an order unrelated to insertion: a stride coprime with the key count.
    let stride = (entries / 2 + 1) | 1;
    let order: Vec<CacheKey> = (0..entries).map(|i| keys[(i * stride) % entries]).collect();
    let misses: Vec<CacheKey> = (0..entries as u64).map(|n| CacheKey::for_chunk(u64::MAX - n, n)).collect();

    let mut group = c.benchmark_group(format!("cache_index/{entries}"));
    short(&mut group);
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut at = 0usize;
    let mut next_batch = move |keys: &[CacheKey]| {
        at = (at + BATCH) % (keys.len() - BATCH + 1).max(1);
        at
    };
    group.bench_function("hashbrown-lookup-hit", |b| {
        b.iter(|| {
            let start = next_batch(&order);
            let mut found = 0u32;
            for key in &order[start..start + BATCH] {
                found += map.get(&key.as_u128()).map_or(0, |l| l.length);
            }
            found
        })
    });
    group.bench_function("lookup-hit", |b| {
        b.iter(|| {
            let start = next_batch(&order);
            let mut found = 0u32;
            for key in &order[start..start + BATCH] {
                found += index.lookup(*key).map_or(0, |l| l.length);
            }
            found
        })
    });
    group.bench_function("contains-hit", |b| {
        b.iter(|| {
            let start = next_batch(&order);
            let mut found = 0u32;
            for key in &order[start..start + BATCH] {
                found += index.contains(*key) as u32;
            }
            found
        })
    });
    // As the DPU engine runs a fetched batch of descriptors (64 at most): the batch's
    // entries prefetched together, then each lookup on its own, in order.
    group.bench_function("prefetch64-lookup-hit", |b| {
        b.iter(|| {
            let start = next_batch(&order);
            let mut found = 0u32;
            for batch in order[start..start + BATCH].chunks(64) {
                index.prefetch(batch);
                for key in batch {
                    found += index.lookup(*key).map_or(0, |l| l.length);
                }
            }
            found
        })
    });
    let mut out = vec![None; BATCH];
    group.bench_function("lookup_many-hit", |b| {
        b.iter(|| {
            let start = next_batch(&order);
            index.lookup_many(&order[start..start + BATCH], &mut out);
            out[BATCH - 1]
        })
    });
    group.bench_function("lookup-miss", |b| {
        b.iter(|| {
            let start = next_batch(&misses);
            misses[start..start + BATCH].iter().filter(|k| index.lookup(**k).is_some()).count()
        })
    });
    let mut fresh = 0u64;
    group.bench_function("insert-evicting", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                fresh += 1;
                let key = CacheKey::for_chunk(1 << 40, fresh);
                index.insert(key, Location::new(2, 0, fresh, 4096, 0).expect("fits"));
            }
        })
    });
    group.finish();
    println!(
        "cache_index/{entries}: {:.1} bytes per entry (capacity {}, {} shards); hashbrown HashMap<u128, Location> holds {} buckets",
        index.bytes_per_entry(),
        index.capacity_entries(),
        index.shard_count(),
        map.capacity()
    );
}

criterion_group!(benches, bench_crc32c, bench_compress, bench_datagen, bench_cache_index);
criterion_main!(benches);
