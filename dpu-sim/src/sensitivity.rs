//! A profile's figures as data: every [`Figure`] listed under the key it has in the TOML
//! file (`cores.compress_bytes_per_s.lz4`, `accelerators[decompress].engines`), and a copy
//! of the profile with exactly one figure changed and re-validated.
//!
//! This is what one-at-a-time sensitivity stands on (the host's `sensitivity` module
//! re-runs the model per perturbed figure): a figure is changed through its key, never by
//! editing a struct field by hand, and a change that makes the profile invalid (a DMA cap
//! above its link, a non-power-of-two MPS) is refused with the validator's reason.
//! One walk over the profile ([`visit`]) serves listing and changing, so they cannot drift.

#![forbid(unsafe_code)]

use crate::profile::{AlgorithmRates, Confidence, Figure, Profile};

/// What values a figure can take, which decides how it is perturbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// A finite real (rates, latencies, sizes in GiB): scaled by a fraction.
    Continuous,
    /// A whole number >= 1 (cores, engines, bytes): scaled, rounded, moved by at least one.
    Count,
    /// A power of two (MPS, MRRS): the neighbours are half and double.
    PowerOfTwo,
    /// One of a fixed list (PCIe generation, lane count): the neighbours in the list.
    OneOf(&'static [u32]),
}

/// PCIe generations the profile validator accepts.
const GENERATIONS: &[u32] = &[1, 2, 3, 4, 5];
/// Link widths the profile validator accepts.
const LANES: &[u32] = &[1, 2, 4, 8, 16];

/// One figure of a profile, read-only.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureInfo {
    /// The TOML key, e.g. `cores.compress_bytes_per_s.zstd`.
    pub key: String,
    pub value: f64,
    /// The value as the profile's type prints it (`16`, not `16.0`, for a count).
    pub display: String,
    pub confidence: Confidence,
    pub source: String,
    pub domain: Domain,
}

/// A figure key that names nothing, or a change the profile cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FigureError {
    #[error("profile `{profile}` has no figure `{key}` (its figures: {available})")]
    UnknownKey { profile: String, key: String, available: String },
    #[error("profile `{profile}`: {key} = {value}: {reason}")]
    Invalid { profile: String, key: String, value: f64, reason: String },
}

impl Confidence {
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Measured => "measured",
            Confidence::Vendor => "vendor",
            Confidence::Derived => "derived",
            Confidence::Assumed => "assumed",
        }
    }

    /// All confidences, most trusted first.
    pub const ALL: [Confidence; 4] =
        [Confidence::Measured, Confidence::Vendor, Confidence::Derived, Confidence::Assumed];
}

/// A mutable reference to one figure, whatever its number type.
pub enum FigureMut<'a> {
    F64(&'a mut Figure<f64>),
    U32(&'a mut Figure<u32>),
    U64(&'a mut Figure<u64>),
}

impl FigureMut<'_> {
    fn info(&self, key: String, domain: Domain) -> FigureInfo {
        let (value, display, confidence, source) = match self {
            FigureMut::F64(f) => (f.value, f.value.to_string(), f.confidence, &f.source),
            FigureMut::U32(f) => (f64::from(f.value), f.value.to_string(), f.confidence, &f.source),
            FigureMut::U64(f) => (f.value as f64, f.value.to_string(), f.confidence, &f.source),
        };
        FigureInfo { key, value, display, confidence, source: source.clone(), domain }
    }

    /// Sets the value; an integer figure takes `value` rounded, which must fit its type.
    fn set(&mut self, value: f64) -> Result<(), String> {
        if !value.is_finite() {
            return Err("must be a finite number".into());
        }
        match self {
            FigureMut::F64(f) => f.value = value,
            FigureMut::U32(f) => {
                let r = value.round();
                if !(0.0..=f64::from(u32::MAX)).contains(&r) {
                    return Err(format!("must be a whole number in 0..={}", u32::MAX));
                }
                f.value = r as u32;
            }
            FigureMut::U64(f) => {
                let r = value.round();
                // 2^53: beyond it an f64 no longer holds every whole number.
                if !(0.0..=9.007_199_254_740_992e15).contains(&r) {
                    return Err("must be a whole number in 0..=2^53".into());
                }
                f.value = r as u64;
            }
        }
        Ok(())
    }
}

fn rates(prefix: &str, r: &mut AlgorithmRates, f: &mut dyn FnMut(String, Domain, FigureMut<'_>)) {
    f(format!("{prefix}.deflate"), Domain::Continuous, FigureMut::F64(&mut r.deflate));
    f(format!("{prefix}.lz4"), Domain::Continuous, FigureMut::F64(&mut r.lz4));
    f(format!("{prefix}.zstd"), Domain::Continuous, FigureMut::F64(&mut r.zstd));
}

/// Calls `f` on every figure of `p`, in file order, with its key and domain.
pub fn visit(p: &mut Profile, f: &mut dyn FnMut(String, Domain, FigureMut<'_>)) {
    use Domain::*;
    use FigureMut::*;
    if let Some(c) = &mut p.cores {
        f("cores.count".into(), Count, U32(&mut c.count));
        f("cores.clock_ghz".into(), Continuous, F64(&mut c.clock_ghz));
        f("cores.per_op_fixed_ns".into(), Continuous, F64(&mut c.per_op_fixed_ns));
        f("cores.crc32c_bytes_per_s".into(), Continuous, F64(&mut c.crc32c_bytes_per_s));
        f("cores.copy_bytes_per_s".into(), Continuous, F64(&mut c.copy_bytes_per_s));
        f("cores.cache_lookup_ops_per_s".into(), Continuous, F64(&mut c.cache_lookup_ops_per_s));
        f("cores.cache_insert_ops_per_s".into(), Continuous, F64(&mut c.cache_insert_ops_per_s));
        f("cores.cache_delete_ops_per_s".into(), Continuous, F64(&mut c.cache_delete_ops_per_s));
        if let Some(w) = &mut c.wake_ns {
            f("cores.wake_ns".into(), Continuous, F64(w));
        }
        if let Some(w) = &mut c.idle_spin_ns {
            f("cores.idle_spin_ns".into(), Continuous, F64(w));
        }
        rates("cores.compress_bytes_per_s", &mut c.compress_bytes_per_s, f);
        rates("cores.decompress_bytes_per_s", &mut c.decompress_bytes_per_s, f);
    }
    for a in &mut p.accelerators {
        let at = format!("accelerators[{}]", a.name);
        f(format!("{at}.engines"), Count, U32(&mut a.engines));
        f(format!("{at}.bandwidth_bytes_per_s"), Continuous, F64(&mut a.bandwidth_bytes_per_s));
        f(format!("{at}.setup_latency_ns"), Continuous, F64(&mut a.setup_latency_ns));
        f(format!("{at}.min_efficient_size_bytes"), Count, U64(&mut a.min_efficient_size_bytes));
    }
    if let Some(x) = &mut p.pcie {
        f("pcie.generation".into(), OneOf(GENERATIONS), U32(&mut x.generation));
        f("pcie.lanes".into(), OneOf(LANES), U32(&mut x.lanes));
        f("pcie.max_payload_size_bytes".into(), PowerOfTwo, U32(&mut x.max_payload_size_bytes));
        f("pcie.max_read_request_bytes".into(), PowerOfTwo, U32(&mut x.max_read_request_bytes));
        f("pcie.tlp_overhead_bytes".into(), Count, U32(&mut x.tlp_overhead_bytes));
        f("pcie.dma_read_latency_ns".into(), Continuous, F64(&mut x.dma_read_latency_ns));
        f("pcie.dma_write_latency_ns".into(), Continuous, F64(&mut x.dma_write_latency_ns));
        f("pcie.doorbell_ns".into(), Continuous, F64(&mut x.doorbell_ns));
        f("pcie.max_dma_read_requests_per_s".into(), Continuous, F64(&mut x.max_dma_read_requests_per_s));
        f("pcie.max_dma_write_requests_per_s".into(), Continuous, F64(&mut x.max_dma_write_requests_per_s));
        if let Some(b) = &mut x.dma_read_bandwidth_bytes_per_s {
            f("pcie.dma_read_bandwidth_bytes_per_s".into(), Continuous, F64(b));
        }
        if let Some(b) = &mut x.dma_write_bandwidth_bytes_per_s {
            f("pcie.dma_write_bandwidth_bytes_per_s".into(), Continuous, F64(b));
        }
    }
    if let Some(m) = &mut p.memory {
        f("memory.size_gib".into(), Continuous, F64(&mut m.size_gib));
        f("memory.bandwidth_bytes_per_s".into(), Continuous, F64(&mut m.bandwidth_bytes_per_s));
    }
    if let Some(n) = &mut p.network {
        f("network.bandwidth_gbit_per_s".into(), Continuous, F64(&mut n.bandwidth_gbit_per_s));
    }
    for k in &mut p.user_kernels {
        let at = format!("user_kernels[{}]", k.name);
        f(format!("{at}.fixed_ns"), Continuous, F64(&mut k.fixed_ns));
        f(format!("{at}.bytes_per_s"), Continuous, F64(&mut k.bytes_per_s));
    }
}

impl Profile {
    /// Every figure of the profile, in file order.
    pub fn figures(&self) -> Vec<FigureInfo> {
        let mut copy = self.clone();
        let mut out = Vec::new();
        visit(&mut copy, &mut |key, domain, fig| out.push(fig.info(key, domain)));
        out
    }

    /// The figure called `key`.
    pub fn figure(&self, key: &str) -> Result<FigureInfo, FigureError> {
        self.figures().into_iter().find(|f| f.key == key).ok_or_else(|| self.unknown(key))
    }

    fn unknown(&self, key: &str) -> FigureError {
        let keys: Vec<String> = self.figures().into_iter().map(|f| f.key).collect();
        FigureError::UnknownKey { profile: self.name.clone(), key: key.into(), available: keys.join(", ") }
    }

    /// A copy with the figure `key` set to `value` (rounded for a whole-number figure),
    /// validated as a loaded profile is; nothing else changes, source and confidence included.
    pub fn with_figure(&self, key: &str, value: f64) -> Result<Profile, FigureError> {
        let mut copy = self.clone();
        let mut outcome: Option<Result<(), String>> = None;
        visit(&mut copy, &mut |k, _, mut fig| {
            if k == key {
                outcome = Some(fig.set(value));
            }
        });
        let invalid = |reason: String| FigureError::Invalid {
            profile: self.name.clone(),
            key: key.into(),
            value,
            reason,
        };
        match outcome {
            None => Err(self.unknown(key)),
            Some(Err(reason)) => Err(invalid(reason)),
            Some(Ok(())) => match copy.validate() {
                Ok(()) => Ok(copy),
                Err((k, reason)) if k == key => Err(invalid(reason)),
                Err((k, reason)) => Err(invalid(format!("makes {k} invalid: {reason}"))),
            },
        }
    }

    /// A copy with the figure `key` multiplied by `factor` (see [`Profile::with_figure`]).
    pub fn with_figure_scaled(&self, key: &str, factor: f64) -> Result<Profile, FigureError> {
        let value = self.figure(key)?.value * factor;
        self.with_figure(key, value)
    }
}

/// The values one step below and above `fig` for a perturbation of `fraction` (0.25 =
/// ±25 %): a continuous figure is scaled; a count is scaled, rounded and moved by at least
/// one (never below 1); a power of two halves and doubles; a listed value takes its
/// neighbours. `None` where no such value exists (a count of 1 has no value below).
pub fn perturbed_values(fig: &FigureInfo, fraction: f64) -> [Option<f64>; 2] {
    let v = fig.value;
    match fig.domain {
        Domain::Continuous => [Some(v * (1.0 - fraction)), Some(v * (1.0 + fraction))],
        Domain::Count => {
            let down = (v * (1.0 - fraction)).round().min(v - 1.0);
            let up = (v * (1.0 + fraction)).round().max(v + 1.0);
            [(down >= 1.0).then_some(down), Some(up)]
        }
        Domain::PowerOfTwo => [Some(v / 2.0), Some(v * 2.0)],
        Domain::OneOf(list) => {
            let i = list.iter().position(|&x| f64::from(x) == v);
            match i {
                Some(i) => {
                    [i.checked_sub(1).map(|j| f64::from(list[j])), list.get(i + 1).map(|&x| f64::from(x))]
                }
                None => [None, None],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_lists_unique_keys_that_read_back() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap();
            let figs = p.figures();
            let mut keys: Vec<&str> = figs.iter().map(|f| f.key.as_str()).collect();
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), n, "{name}: duplicate keys");
            for f in &figs {
                assert_eq!(p.figure(&f.key).unwrap(), *f);
            }
        }
        let bf3 = Profile::builtin("bluefield-3").unwrap();
        assert_eq!(bf3.figure("cores.compress_bytes_per_s.lz4").unwrap().domain, Domain::Continuous);
        assert_eq!(bf3.figure("accelerators[decompress].engines").unwrap().display, "8");
    }

    /// Scaling one figure changes that figure and nothing else in the profile.
    #[test]
    fn scaling_changes_only_the_named_figure() {
        let p = Profile::builtin("bluefield-3").unwrap();
        let key = "cores.compress_bytes_per_s.lz4";
        let before = p.figures();
        let q = p.with_figure_scaled(key, 1.25).unwrap();
        let after = q.figures();
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.key, b.key);
            assert_eq!((&a.source, a.confidence), (&b.source, b.confidence));
            if a.key == key {
                assert!((a.value - b.value * 1.25).abs() < 1e-6 * b.value, "{} -> {}", b.value, a.value);
            } else {
                assert_eq!(a.value, b.value, "{} changed", a.key);
            }
        }
        // The non-figure parts are untouched too.
        assert_eq!((q.name.as_str(), q.kind, &q.description), (p.name.as_str(), p.kind, &p.description));
        assert_eq!(q.accelerators.len(), p.accelerators.len());
    }

    #[test]
    fn unknown_key_is_a_clear_error_listing_the_keys() {
        let p = Profile::builtin("bluefield-3").unwrap();
        let e = p.with_figure_scaled("cores.compress_bytes_per_s.brotli", 1.25).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, FigureError::UnknownKey { .. }), "{text}");
        assert!(text.contains("no figure `cores.compress_bytes_per_s.brotli`"), "{text}");
        assert!(text.contains("cores.compress_bytes_per_s.lz4"), "{text}");
        assert!(p.figure("").is_err());
    }

    #[test]
    fn invalid_values_are_refused_with_the_validators_reason() {
        let p = Profile::builtin("bluefield-2").unwrap();
        let e = p.with_figure("pcie.max_payload_size_bytes", 300.0).unwrap_err().to_string();
        assert!(e.contains("power of two"), "{e}");
        let e = p.with_figure_scaled("cores.crc32c_bytes_per_s", 0.0).unwrap_err().to_string();
        assert!(e.contains("> 0"), "{e}");
        let e = p.with_figure("cores.count", f64::NAN).unwrap_err().to_string();
        assert!(e.contains("finite"), "{e}");
        // A narrower link falls below BlueField-2's measured DMA bandwidth: named.
        let e = p.with_figure("pcie.lanes", 8.0).unwrap_err().to_string();
        assert!(e.contains("makes pcie.dma_read_bandwidth_bytes_per_s invalid"), "{e}");
    }

    #[test]
    fn perturbation_steps_respect_each_domain() {
        let p = Profile::builtin("bluefield-3").unwrap();
        let at = |k: &str| perturbed_values(&p.figure(k).unwrap(), 0.25);
        assert_eq!(at("cores.count"), [Some(12.0), Some(20.0)]);
        assert_eq!(at("accelerators[decompress].engines"), [Some(6.0), Some(10.0)]);
        // One engine has no value below it.
        let bf2 = Profile::builtin("bluefield-2").unwrap();
        assert_eq!(
            perturbed_values(&bf2.figure("accelerators[compress].engines").unwrap(), 0.25),
            [None, Some(2.0)]
        );
        assert_eq!(at("pcie.max_payload_size_bytes"), [Some(128.0), Some(512.0)]);
        assert_eq!(at("pcie.generation"), [Some(4.0), None]);
        assert_eq!(at("pcie.lanes"), [Some(8.0), None]);
        let [down, up] = at("pcie.doorbell_ns");
        assert_eq!((down, up), (Some(75.0), Some(125.0)));
        // Every step of every shipped profile is a change.
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap();
            for f in p.figures() {
                for v in perturbed_values(&f, 0.25).into_iter().flatten() {
                    assert_ne!(v, f.value, "{name}: {}", f.key);
                }
            }
        }
    }
}
