//! Stable-toolchain stand-in for `cargo fuzz`: runs the fuzz target bodies of
//! `dpukit_kernels::fuzzing` on generated inputs for a fixed time, without coverage
//! guidance. Decompress inputs are both random bytes and valid streams with random
//! mutations (flips, truncation, splices), which reach deeper into the decoders than
//! random bytes alone.
//!
//! Usage: `cargo run --release -p dpukit-kernels --features fuzzing --example fuzz_soak --
//! [seconds per target, default 60] [seed, default 1]`.

use std::time::{Duration, Instant};

use dpukit_kernels::compress::{compress, max_compressed_len, Algorithm, Codec};
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_kernels::fuzzing::{cache_index_target, decompress_target};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn mutated_stream(rng: &mut Rng) -> Vec<u8> {
    let algorithm = Algorithm::ALL[rng.below(4)];
    let levels = dpukit_kernels::compress::levels(algorithm);
    let level = *levels.start() + rng.below((levels.end() - levels.start()) as usize + 1).min(8) as i32;
    let codec = Codec::new(algorithm, level).expect("level in range");
    let len = rng.below(200_000);
    let mut src = vec![0u8; len];
    let ratio = 1.0 + (rng.below(50) as f64) / 10.0;
    DataGen::new(ratio, ByteStyle::Text).expect("valid ratio").fill(rng.next(), 0, &mut src);
    let mut packed = vec![0u8; max_compressed_len(&codec, len)];
    let n = compress(&codec, &src, &mut packed).expect("fits the bound");
    packed.truncate(n);
    for _ in 0..rng.below(4) {
        if packed.is_empty() {
            break;
        }
        match rng.below(4) {
            0 => {
                let i = rng.below(packed.len());
                packed[i] ^= 1 << rng.below(8);
            }
            1 => packed.truncate(rng.below(packed.len())),
            2 => {
                let i = rng.below(packed.len());
                let junk_len = rng.below(16);
                let junk = rng.bytes(junk_len);
                packed.splice(i..i, junk);
            }
            _ => {
                let i = rng.below(packed.len());
                packed[i] = rng.next() as u8;
            }
        }
    }
    // First byte selects the small destination size in the target.
    let mut input = vec![rng.next() as u8];
    input.extend_from_slice(&packed);
    input
}

fn run(name: &str, budget: Duration, rng: &mut Rng, mut one: impl FnMut(&mut Rng)) {
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < budget {
        one(rng);
        runs += 1;
    }
    println!("{name}: {runs} inputs in {:.1} s, no contract violation", start.elapsed().as_secs_f64());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let budget = Duration::from_secs(seconds);
    let mut rng = Rng(seed.max(1));
    run("decompress (random bytes)", budget / 2, &mut rng, |rng| {
        let len = rng.below(4096);
        decompress_target(&rng.bytes(len));
    });
    run("decompress (mutated valid streams)", budget / 2, &mut rng, |rng| {
        decompress_target(&mutated_stream(rng));
    });
    run("cache_index (random op sequences)", budget, &mut rng, |rng| {
        let len = rng.below(8192);
        cache_index_target(&rng.bytes(len));
    });
}
