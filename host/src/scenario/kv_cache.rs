//! KV cache

#![forbid(unsafe_code)]

use crate::spec::ScenarioSpec;

/// Blocks per KV request: 1..=this.
pub(crate) const KV_MAX_BLOCKS_PER_REQUEST: u64 = 4;

/// Popular documents the KV prefixes are drawn from.
pub(crate) const KV_POPULAR_DOCS: u64 = 256;

// KV cache

/// A seeded SplitMix64 stream for request generation.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over 0..n by inverse CDF on a precomputed table.
pub(crate) struct Zipf {
    pub(crate) cdf: Vec<f64>,
}

impl Zipf {
    pub(crate) fn new(n: u64, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for x in &mut cdf {
            *x /= acc;
        }
        Zipf { cdf }
    }
    pub(crate) fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

/// The requests of one node: (document, prefix blocks). Shared prefixes come from a Zipf
/// over popular documents; the rest are unique to the request.
pub(crate) fn kv_requests(spec: &ScenarioSpec, node: u32) -> Vec<(u64, u64)> {
    let zipf = Zipf::new(KV_POPULAR_DOCS, spec.skew);
    let mut rng = Rng(spec.seed ^ (node as u64).wrapping_mul(0xa076_1d64_78bd_642f));
    (0..spec.kv_requests)
        .map(|req| {
            let shared = rng.unit() < spec.kv_prefix_sharing;
            let doc = if shared {
                zipf.sample(&mut rng)
            } else {
                KV_POPULAR_DOCS + (node as u64) * spec.kv_requests + req
            };
            (doc, 1 + rng.next() % KV_MAX_BLOCKS_PER_REQUEST)
        })
        .collect()
}
