//! Hardware profiles: what a device has and how fast it is, every figure with its source.
//!
//! A profile is a TOML file (see `dpu-sim/profiles/`). Each number is a [`Figure`]:
//! `{ value = .., source = "..", confidence = "measured|vendor|derived|assumed" }`.
//! Loading parses with `deny_unknown_fields`, then [`Profile::validate`] checks ranges and
//! consistency, so the timing model only ever sees a profile that makes sense.
//! Any failure is one [`ProfileError`] naming the file, the key and the reason.

#![forbid(unsafe_code)]

use std::path::Path;

use serde::Deserialize;

/// The profiles shipped with the kit, embedded so they load from any working directory.
const BUILTIN: &[(&str, &str)] = &[
    ("host-only", include_str!("../profiles/host-only.toml")),
    ("bluefield-2", include_str!("../profiles/bluefield-2.toml")),
    ("bluefield-3", include_str!("../profiles/bluefield-3.toml")),
    ("fungible-f1", include_str!("../profiles/fungible-f1.toml")),
    ("intel-dsa-iaa", include_str!("../profiles/intel-dsa-iaa.toml")),
    ("host-thread", include_str!("../profiles/host-thread.toml")),
];

/// The only schema version this code reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Largest PCIe generation whose per-lane rate and encoding this code knows.
const MAX_PCIE_GENERATION: u32 = 5;

/// A profile that failed to load or validate.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A key is missing, unknown, malformed, out of range or inconsistent.
    #[error("{file}: {key}: {reason}")]
    Invalid { file: String, key: String, reason: String },
    /// `Profile::builtin` was given a name that is not shipped.
    #[error("unknown built-in profile `{name}`; available: {available}")]
    UnknownBuiltin { name: String, available: String },
}

/// How much to trust a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Someone's measurement table.
    Measured,
    /// A datasheet or product brief peak.
    Vendor,
    /// Arithmetic on measured or vendor figures.
    Derived,
    /// No source reachable; the assumption is stated in `source`. Sweep it.
    Assumed,
}

/// A number with its provenance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure<T> {
    pub value: T,
    pub source: String,
    pub confidence: Confidence,
}

/// What kind of machine a profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    /// No device: the host CPU does everything (measured, never modelled).
    HostOnly,
    /// A PCIe-attached DPU with its own cores, accelerators and memory.
    Dpu,
    /// Accelerators on the host CPU's die (no PCIe hop modelled, no device cores).
    OnCpuAccelerator,
    /// Host cores dedicated to serving the queue pair, as SPDK's software accel module runs
    /// on reactor threads (`dpukit run --device thread`): `[cores]` describes those cores
    /// (rates of this machine's kernels, from `dpukit calibrate --device-profile`); there
    /// is no PCIe hop (the device reads host memory where it lies), no device memory, no
    /// network and no accelerators.
    HostCores,
}

/// Compression algorithms the kit knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Deflate,
    Lz4,
    Zstd,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::Deflate, Algorithm::Lz4, Algorithm::Zstd];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Deflate => "deflate",
            Algorithm::Lz4 => "lz4",
            Algorithm::Zstd => "zstd",
        }
    }
}

/// Operations an accelerator can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccelOp {
    Crc32c,
    Copy,
    CopyCrc32c,
    Compress,
    Decompress,
}

impl AccelOp {
    pub fn name(self) -> &'static str {
        match self {
            AccelOp::Crc32c => "crc32c",
            AccelOp::Copy => "copy",
            AccelOp::CopyCrc32c => "copy_crc32c",
            AccelOp::Compress => "compress",
            AccelOp::Decompress => "decompress",
        }
    }

    fn takes_algorithm(self) -> bool {
        matches!(self, AccelOp::Compress | AccelOp::Decompress)
    }
}

/// A validated hardware profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub schema_version: u32,
    pub name: String,
    pub kind: ProfileKind,
    pub description: String,
    pub host: HostSpec,
    #[serde(default)]
    pub cores: Option<CoreSpec>,
    #[serde(default)]
    pub accelerators: Vec<AcceleratorSpec>,
    #[serde(default)]
    pub pcie: Option<PcieSpec>,
    #[serde(default)]
    pub memory: Option<MemorySpec>,
    #[serde(default)]
    pub network: Option<NetworkSpec>,
    /// Default fault injection for runs with this profile (none if absent).
    #[serde(default)]
    pub faults: Option<FaultConfig>,
    /// Costs of user kernels (C plugins or Rust), by the name the kernel reports.
    #[serde(default)]
    pub user_kernels: Vec<UserKernelSpec>,
}

/// The modelled cost of one user kernel on ONE device core.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserKernelSpec {
    /// The name the kernel reports (a plugin's `name`).
    pub name: String,
    /// Fixed cost per op, on top of the cores' `per_op_fixed_ns`.
    pub fixed_ns: Figure<f64>,
    /// Streaming rate over the source bytes.
    pub bytes_per_s: Figure<f64>,
}

impl Profile {
    /// The cost entry for the user kernel called `name`.
    pub fn user_kernel(&self, name: &str) -> Option<&UserKernelSpec> {
        self.user_kernels.iter().find(|k| k.name == name)
    }
}

/// The host the profile pairs with; named so a host-only model can say what runs the ops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub cpu: String,
}

/// Per-algorithm rates in bytes per second.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmRates {
    pub deflate: Figure<f64>,
    pub lz4: Figure<f64>,
    pub zstd: Figure<f64>,
}

impl AlgorithmRates {
    pub fn get(&self, algorithm: Algorithm) -> &Figure<f64> {
        match algorithm {
            Algorithm::Deflate => &self.deflate,
            Algorithm::Lz4 => &self.lz4,
            Algorithm::Zstd => &self.zstd,
        }
    }
}

/// The device's general-purpose cores. Rates are for ONE core.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreSpec {
    pub model: String,
    pub count: Figure<u32>,
    pub clock_ghz: Figure<f64>,
    /// Fixed software cost per op (descriptor parse, dispatch, completion build).
    pub per_op_fixed_ns: Figure<f64>,
    pub crc32c_bytes_per_s: Figure<f64>,
    pub copy_bytes_per_s: Figure<f64>,
    /// Compression rate per input byte.
    pub compress_bytes_per_s: AlgorithmRates,
    /// Decompression rate per output (uncompressed) byte.
    pub decompress_bytes_per_s: AlgorithmRates,
    pub cache_lookup_ops_per_s: Figure<f64>,
    pub cache_insert_ops_per_s: Figure<f64>,
    pub cache_delete_ops_per_s: Figure<f64>,
    /// Cores that sleep when idle (threads of a host-cores device): ns from a signal to
    /// the sleeping thread running. The model charges it to a doorbell that finds the
    /// cores asleep, and to a host wait that blocks for a completion (the device signals
    /// it). `dpukit calibrate --device-profile` measures it as the median of a NOP
    /// ping-pong through the device's own park/unpark and condition variable. Absent: 0
    /// (cores that poll, as a DPU's do).
    #[serde(default)]
    pub wake_ns: Option<Figure<f64>>,
    /// How long an idle core, and a host waiting for it, poll before they sleep, ns: a
    /// doorbell or a completion within it costs no wake. Absent: 0 (with `wake_ns`, every
    /// doorbell on idle cores and every host wait pays a wake).
    #[serde(default)]
    pub idle_spin_ns: Option<Figure<f64>>,
}

/// A hardware engine pool serving some ops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceleratorSpec {
    pub name: String,
    pub ops: Vec<AccelOp>,
    /// Algorithms for compress/decompress; empty if the engine lists neither.
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    pub engines: Figure<u32>,
    /// Streaming rate of ONE engine (input bytes; uncompressed bytes for decompress).
    pub bandwidth_bytes_per_s: Figure<f64>,
    /// Fixed cost per op on an engine (submission to first byte, completion).
    pub setup_latency_ns: Figure<f64>,
    /// Below this size the fixed cost dominates; reported on each op, not enforced.
    pub min_efficient_size_bytes: Figure<u64>,
}

impl AcceleratorSpec {
    /// Whether this engine serves `op` (with `algorithm` for compress/decompress).
    pub fn serves(&self, op: AccelOp, algorithm: Option<Algorithm>) -> bool {
        self.ops.contains(&op)
            && match algorithm {
                Some(a) => self.algorithms.contains(&a),
                None => true,
            }
    }
}

/// The PCIe link between host and device, and the device's DMA engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcieSpec {
    pub generation: Figure<u32>,
    pub lanes: Figure<u32>,
    pub max_payload_size_bytes: Figure<u32>,
    pub max_read_request_bytes: Figure<u32>,
    /// Header, sequence number, LCRC and framing per TLP.
    pub tlp_overhead_bytes: Figure<u32>,
    /// Unloaded round trip of a DMA read (request out, completion back).
    pub dma_read_latency_ns: Figure<f64>,
    /// One-way time for a posted DMA write to land in host memory.
    pub dma_write_latency_ns: Figure<f64>,
    /// Cost of the host's MMIO doorbell write, per batch.
    pub doorbell_ns: Figure<f64>,
    /// Peak DMA read requests per second of the device's DMA engine (small payloads).
    pub max_dma_read_requests_per_s: Figure<f64>,
    /// Peak DMA write requests per second of the device's DMA engine (small payloads).
    pub max_dma_write_requests_per_s: Figure<f64>,
    /// DMA engine's own read bandwidth limit, if below the link's (large payloads).
    #[serde(default)]
    pub dma_read_bandwidth_bytes_per_s: Option<Figure<f64>>,
    /// DMA engine's own write bandwidth limit, if below the link's (large payloads).
    #[serde(default)]
    pub dma_write_bandwidth_bytes_per_s: Option<Figure<f64>>,
}

impl PcieSpec {
    /// Raw bit rate per direction after line encoding, in bytes per second.
    pub fn raw_bandwidth_bytes_per_s(&self) -> f64 {
        let (gigatransfers_per_s, encoding) = match self.generation.value {
            1 => (2.5, 8.0 / 10.0),
            2 => (5.0, 8.0 / 10.0),
            3 => (8.0, 128.0 / 130.0),
            4 => (16.0, 128.0 / 130.0),
            _ => (32.0, 128.0 / 130.0),
        };
        gigatransfers_per_s * 1e9 * encoding / 8.0 * f64::from(self.lanes.value)
    }

    /// Bytes on the wire for a posted write of `payload_bytes` (MPS-sized TLPs).
    pub fn write_wire_bytes(&self, payload_bytes: u64) -> u64 {
        let mps = u64::from(self.max_payload_size_bytes.value);
        let overhead = u64::from(self.tlp_overhead_bytes.value);
        payload_bytes + payload_bytes.div_ceil(mps).max(1) * overhead
    }

    /// Bytes charged for a DMA read of `payload_bytes`: completions split at MPS, plus the
    /// MRRS-sized read requests (which travel the other way; charged here for simplicity).
    pub fn read_wire_bytes(&self, payload_bytes: u64) -> u64 {
        let mps = u64::from(self.max_payload_size_bytes.value);
        let mrrs = u64::from(self.max_read_request_bytes.value);
        let overhead = u64::from(self.tlp_overhead_bytes.value);
        payload_bytes
            + payload_bytes.div_ceil(mps).max(1) * overhead
            + payload_bytes.div_ceil(mrrs).max(1) * overhead
    }

    /// Link payload bandwidth for large writes, from MPS and TLP overhead.
    pub fn effective_write_bandwidth_bytes_per_s(&self) -> f64 {
        let mps = f64::from(self.max_payload_size_bytes.value);
        let overhead = f64::from(self.tlp_overhead_bytes.value);
        self.raw_bandwidth_bytes_per_s() * mps / (mps + overhead)
    }

    /// Link payload bandwidth for large reads, from MPS, MRRS and TLP overhead.
    pub fn effective_read_bandwidth_bytes_per_s(&self) -> f64 {
        let mps = f64::from(self.max_payload_size_bytes.value);
        let mrrs = f64::from(self.max_read_request_bytes.value);
        let overhead = f64::from(self.tlp_overhead_bytes.value);
        self.raw_bandwidth_bytes_per_s() / (1.0 + overhead / mps + overhead / mrrs)
    }
}

/// The device's own memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    pub size_gib: Figure<f64>,
    pub bandwidth_bytes_per_s: Figure<f64>,
}

/// The device's network ports, aggregate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub bandwidth_gbit_per_s: Figure<f64>,
}

/// Fault injection parameters: experiment knobs, not hardware figures, so no sources.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Explicit stalls: the device answers nothing in `[at_ns, at_ns + duration_ns)`.
    #[serde(default)]
    pub stalls: Vec<StallWindow>,
    /// One stall of `duration_ns` at a seeded offset in every `interval_ns`.
    #[serde(default)]
    pub periodic_stall: Option<PeriodicStall>,
    /// Probability that a doorbell is lost.
    #[serde(default)]
    pub doorbell_drop_rate: f64,
    /// Probability that an op completes with an error status.
    #[serde(default)]
    pub error_completion_rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallWindow {
    pub at_ns: u64,
    pub duration_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicStall {
    pub interval_ns: u64,
    pub duration_ns: u64,
}

impl FaultConfig {
    /// Checks rates and stall shapes; `Err((key, reason))` with a key relative to the config.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, rate) in [
            ("doorbell_drop_rate", self.doorbell_drop_rate),
            ("error_completion_rate", self.error_completion_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err((key.into(), format!("must be in [0, 1], got {rate}")));
            }
        }
        for (i, stall) in self.stalls.iter().enumerate() {
            if stall.duration_ns == 0 {
                return Err((format!("stalls[{i}].duration_ns"), "must be > 0".into()));
            }
            if stall.at_ns.checked_add(stall.duration_ns).is_none() {
                return Err((format!("stalls[{i}]"), "end overflows u64 ns".into()));
            }
        }
        if let Some(p) = self.periodic_stall {
            if p.interval_ns == 0 || p.duration_ns == 0 {
                return Err(("periodic_stall".into(), "interval_ns and duration_ns must be > 0".into()));
            }
            // A stall filling its whole interval would stall the device for ever.
            if p.duration_ns >= p.interval_ns {
                return Err((
                    "periodic_stall.duration_ns".into(),
                    format!("must be less than interval_ns ({}), got {}", p.interval_ns, p.duration_ns),
                ));
            }
        }
        Ok(())
    }
}

impl Profile {
    /// Names of the shipped profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// The TOML text of a shipped profile, as built into the binary.
    pub fn builtin_toml(name: &str) -> Option<&'static str> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
    }

    /// Loads a shipped profile by name (works from any working directory).
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Profile::from_toml_str(text, &format!("profiles/{n}.toml")),
            None => Err(ProfileError::UnknownBuiltin {
                name: name.into(),
                available: Profile::builtin_names().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// Loads a profile from a file.
    pub fn from_path(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ProfileError::Io { file: file.clone(), source })?;
        Profile::from_toml_str(&text, &file)
    }

    /// Loads a shipped name if it is one, else a path.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        if BUILTIN.iter().any(|(n, _)| *n == name_or_path) {
            Profile::builtin(name_or_path)
        } else {
            Profile::from_path(Path::new(name_or_path))
        }
    }

    /// Parses and validates TOML text; `file` names the source in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let deserializer = toml::Deserializer::new(text);
        let profile: Profile = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let key = if path == "." || path.is_empty() {
                match inner.span() {
                    Some(span) => format!("line {}", line_of(text, span.start)),
                    None => "(document)".into(),
                }
            } else {
                path
            };
            ProfileError::Invalid { file: file.into(), key, reason: one_line(inner.message()) }
        })?;
        profile.validate().map_err(|(key, reason)| ProfileError::Invalid {
            file: file.into(),
            key,
            reason,
        })?;
        Ok(profile)
    }

    /// Range and consistency checks; `Err((key, reason))` for the first problem found.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.schema_version != SCHEMA_VERSION {
            return Err((
                "schema_version".into(),
                format!("must be {SCHEMA_VERSION}, got {}", self.schema_version),
            ));
        }
        non_empty("name", &self.name)?;
        non_empty("description", &self.description)?;
        non_empty("host.cpu", &self.host.cpu)?;
        for (i, k) in self.user_kernels.iter().enumerate() {
            let at = format!("user_kernels[{i}]");
            non_empty(&format!("{at}.name"), &k.name)?;
            if let Some(j) = self.user_kernels[..i].iter().position(|o| o.name == k.name) {
                return Err((
                    format!("{at}.name"),
                    format!("`{}` already used by user_kernels[{j}]", k.name.escape_debug()),
                ));
            }
            non_negative(&format!("{at}.fixed_ns"), &k.fixed_ns)?;
            positive(&format!("{at}.bytes_per_s"), &k.bytes_per_s)?;
        }
        match self.kind {
            ProfileKind::HostOnly => {
                absent("cores", self.cores.is_some())?;
                absent("accelerators", !self.accelerators.is_empty())?;
                absent("pcie", self.pcie.is_some())?;
                absent("memory", self.memory.is_some())?;
                absent("network", self.network.is_some())?;
            }
            ProfileKind::Dpu => {
                present("cores", self.cores.is_some())?;
                present("pcie", self.pcie.is_some())?;
                present("memory", self.memory.is_some())?;
                present("network", self.network.is_some())?;
            }
            ProfileKind::OnCpuAccelerator => {
                if self.accelerators.is_empty() {
                    return Err((
                        "accelerators".into(),
                        "an on-cpu-accelerator profile needs at least one accelerator".into(),
                    ));
                }
                // Ops without an engine run on host cores, which are measured, not profiled.
                absent("cores", self.cores.is_some())?;
                absent("pcie", self.pcie.is_some())?;
            }
            ProfileKind::HostCores => {
                if self.cores.is_none() {
                    return Err(("cores".into(), "missing section, required for kind `host-cores`".into()));
                }
                absent("accelerators", !self.accelerators.is_empty())?;
                absent("pcie", self.pcie.is_some())?;
                absent("memory", self.memory.is_some())?;
                absent("network", self.network.is_some())?;
            }
        }
        if let Some(cores) = &self.cores {
            validate_cores(cores)?;
        }
        validate_accelerators(&self.accelerators)?;
        if let Some(pcie) = &self.pcie {
            validate_pcie(pcie)?;
        }
        if let Some(memory) = &self.memory {
            positive("memory.size_gib", &memory.size_gib)?;
            positive("memory.bandwidth_bytes_per_s", &memory.bandwidth_bytes_per_s)?;
        }
        if let Some(network) = &self.network {
            positive("network.bandwidth_gbit_per_s", &network.bandwidth_gbit_per_s)?;
        }
        if let Some(faults) = &self.faults {
            faults.check().map_err(|(k, r)| (format!("faults.{k}"), r))?;
        }
        Ok(())
    }
}

/// A parser's message as one line: the TOML parser puts what it expected on a line of its
/// own, and an error is printed as one line.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(": ")
}

fn line_of(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.matches('\n').count()) + 1
}

type Check = Result<(), (String, String)>;

fn non_empty(key: &str, value: &str) -> Check {
    if value.trim().is_empty() {
        return Err((key.into(), "must not be empty".into()));
    }
    Ok(())
}

fn absent(key: &str, is_present: bool) -> Check {
    if is_present {
        return Err((key.into(), "must be absent for this profile kind".into()));
    }
    Ok(())
}

fn present(key: &str, is_present: bool) -> Check {
    if !is_present {
        return Err((key.into(), "missing section, required for kind `dpu`".into()));
    }
    Ok(())
}

fn sourced<T>(key: &str, figure: &Figure<T>) -> Check {
    non_empty(&format!("{key}.source"), &figure.source)
}

/// A rate or size that must be a finite number above zero.
fn positive(key: &str, figure: &Figure<f64>) -> Check {
    sourced(key, figure)?;
    let v = figure.value;
    if !v.is_finite() || v <= 0.0 {
        return Err((key.into(), format!("must be a finite number > 0, got {v}")));
    }
    Ok(())
}

/// A latency or fixed cost: finite and not negative.
fn non_negative(key: &str, figure: &Figure<f64>) -> Check {
    sourced(key, figure)?;
    let v = figure.value;
    if !v.is_finite() || v < 0.0 {
        return Err((key.into(), format!("must be a finite number >= 0, got {v}")));
    }
    Ok(())
}

fn count(key: &str, figure: &Figure<u32>) -> Check {
    sourced(key, figure)?;
    if figure.value == 0 {
        return Err((key.into(), "must be >= 1, got 0".into()));
    }
    Ok(())
}

fn validate_cores(c: &CoreSpec) -> Check {
    non_empty("cores.model", &c.model)?;
    count("cores.count", &c.count)?;
    positive("cores.clock_ghz", &c.clock_ghz)?;
    non_negative("cores.per_op_fixed_ns", &c.per_op_fixed_ns)?;
    positive("cores.crc32c_bytes_per_s", &c.crc32c_bytes_per_s)?;
    positive("cores.copy_bytes_per_s", &c.copy_bytes_per_s)?;
    for algorithm in Algorithm::ALL {
        let name = algorithm.name();
        positive(&format!("cores.compress_bytes_per_s.{name}"), c.compress_bytes_per_s.get(algorithm))?;
        positive(&format!("cores.decompress_bytes_per_s.{name}"), c.decompress_bytes_per_s.get(algorithm))?;
    }
    positive("cores.cache_lookup_ops_per_s", &c.cache_lookup_ops_per_s)?;
    positive("cores.cache_insert_ops_per_s", &c.cache_insert_ops_per_s)?;
    positive("cores.cache_delete_ops_per_s", &c.cache_delete_ops_per_s)?;
    if let Some(w) = &c.wake_ns {
        non_negative("cores.wake_ns", w)?;
    }
    if let Some(w) = &c.idle_spin_ns {
        non_negative("cores.idle_spin_ns", w)?;
    }
    Ok(())
}

fn validate_accelerators(accelerators: &[AcceleratorSpec]) -> Check {
    for (i, a) in accelerators.iter().enumerate() {
        let at = format!("accelerators[{i}]");
        non_empty(&format!("{at}.name"), &a.name)?;
        if let Some(j) = accelerators[..i].iter().position(|b| b.name == a.name) {
            return Err((
                format!("{at}.name"),
                format!("`{}` already used by accelerators[{j}]", a.name.escape_debug()),
            ));
        }
        if a.ops.is_empty() {
            return Err((format!("{at}.ops"), "must list at least one op".into()));
        }
        let takes_algorithm = a.ops.iter().any(|op| op.takes_algorithm());
        if takes_algorithm && a.algorithms.is_empty() {
            return Err((
                format!("{at}.algorithms"),
                "must list at least one algorithm for compress/decompress".into(),
            ));
        }
        if !takes_algorithm && !a.algorithms.is_empty() {
            return Err((
                format!("{at}.algorithms"),
                "listed, but the engine lists neither compress nor decompress".into(),
            ));
        }
        // Two pools serving the same op would make routing ambiguous.
        for op in &a.ops {
            let algorithms: Vec<Option<Algorithm>> = if op.takes_algorithm() {
                a.algorithms.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            for algorithm in algorithms {
                if let Some(j) = accelerators[..i].iter().position(|b| b.serves(*op, algorithm)) {
                    let what = match algorithm {
                        Some(alg) => format!("{} {}", op.name(), alg.name()),
                        None => op.name().to_string(),
                    };
                    return Err((
                        format!("{at}.ops"),
                        format!("{what} is already served by accelerators[{j}]"),
                    ));
                }
            }
        }
        count(&format!("{at}.engines"), &a.engines)?;
        positive(&format!("{at}.bandwidth_bytes_per_s"), &a.bandwidth_bytes_per_s)?;
        non_negative(&format!("{at}.setup_latency_ns"), &a.setup_latency_ns)?;
        sourced(&format!("{at}.min_efficient_size_bytes"), &a.min_efficient_size_bytes)?;
    }
    Ok(())
}

fn power_of_two_in(key: &str, figure: &Figure<u32>, lo: u32, hi: u32) -> Check {
    sourced(key, figure)?;
    let v = figure.value;
    if !v.is_power_of_two() || v < lo || v > hi {
        return Err((key.into(), format!("must be a power of two in {lo}..={hi}, got {v}")));
    }
    Ok(())
}

fn validate_pcie(p: &PcieSpec) -> Check {
    sourced("pcie.generation", &p.generation)?;
    if p.generation.value == 0 || p.generation.value > MAX_PCIE_GENERATION {
        return Err((
            "pcie.generation".into(),
            format!("must be one of 1..={MAX_PCIE_GENERATION}, got {}", p.generation.value),
        ));
    }
    sourced("pcie.lanes", &p.lanes)?;
    if ![1, 2, 4, 8, 16].contains(&p.lanes.value) {
        return Err(("pcie.lanes".into(), format!("must be one of 1,2,4,8,16, got {}", p.lanes.value)));
    }
    power_of_two_in("pcie.max_payload_size_bytes", &p.max_payload_size_bytes, 128, 4096)?;
    power_of_two_in("pcie.max_read_request_bytes", &p.max_read_request_bytes, 128, 4096)?;
    sourced("pcie.tlp_overhead_bytes", &p.tlp_overhead_bytes)?;
    if !(12..=64).contains(&p.tlp_overhead_bytes.value) {
        return Err((
            "pcie.tlp_overhead_bytes".into(),
            format!("must be in 12..=64 (a TLP header alone is 12-16 B), got {}", p.tlp_overhead_bytes.value),
        ));
    }
    non_negative("pcie.dma_read_latency_ns", &p.dma_read_latency_ns)?;
    non_negative("pcie.dma_write_latency_ns", &p.dma_write_latency_ns)?;
    non_negative("pcie.doorbell_ns", &p.doorbell_ns)?;
    positive("pcie.max_dma_read_requests_per_s", &p.max_dma_read_requests_per_s)?;
    positive("pcie.max_dma_write_requests_per_s", &p.max_dma_write_requests_per_s)?;
    let link = [
        (
            "pcie.dma_read_bandwidth_bytes_per_s",
            &p.dma_read_bandwidth_bytes_per_s,
            p.effective_read_bandwidth_bytes_per_s(),
        ),
        (
            "pcie.dma_write_bandwidth_bytes_per_s",
            &p.dma_write_bandwidth_bytes_per_s,
            p.effective_write_bandwidth_bytes_per_s(),
        ),
    ];
    for (key, figure, effective) in link {
        if let Some(figure) = figure {
            positive(key, figure)?;
            if figure.value > effective {
                return Err((
                    key.into(),
                    format!(
                        "{:.3e} B/s exceeds the link's effective bandwidth {:.3e} B/s \
                         (gen {} x{}, MPS {}, MRRS {}, {} B TLP overhead)",
                        figure.value,
                        effective,
                        p.generation.value,
                        p.lanes.value,
                        p.max_payload_size_bytes.value,
                        p.max_read_request_bytes.value,
                        p.tlp_overhead_bytes.value
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, name);
        }
    }

    /// Found by the `profile` fuzz target: the TOML parser's message for an unclosed
    /// inline table spans two lines ("invalid inline table" / "expected `}`").
    #[test]
    fn a_toml_syntax_error_is_one_line() {
        let text = "schema_version = 1\n[cores]\ncount = { value = 16, source = \"x\"\n";
        let e = Profile::from_toml_str(text, "p.toml").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e:?}");
        assert!(e.contains("invalid inline table: expected `}`"), "{e}");
    }

    #[test]
    fn a_duplicate_name_with_a_line_break_is_echoed_on_one_line() {
        let mut text = BUILTIN.iter().find(|(n, _)| *n == "bluefield-2").unwrap().1.to_string();
        for _ in 0..2 {
            text.push_str(
                "\n[[user_kernels]]\nname = \"a\\nb\"\nfixed_ns = { value = 1.0, source = \"s\", confidence = \"assumed\" }\nbytes_per_s = { value = 1.0, source = \"s\", confidence = \"assumed\" }\n",
            );
        }
        let e = Profile::from_toml_str(&text, "p.toml").unwrap_err().to_string();
        assert!(e.contains("already used") && !e.contains('\n'), "{e:?}");
    }

    /// A host-cores profile describes dedicated host cores: cores required; no PCIe hop,
    /// no accelerators.
    #[test]
    fn a_host_cores_profile_needs_cores_and_refuses_pcie_and_engines() {
        let text = Profile::builtin_toml("host-thread").unwrap();
        let p = Profile::from_toml_str(text, "host-thread.toml").unwrap();
        assert_eq!(p.kind, ProfileKind::HostCores);
        let no_cores = text.split("\n[cores").next().unwrap();
        let e = Profile::from_toml_str(no_cores, "p.toml").unwrap_err().to_string();
        assert!(e.contains("cores: missing section, required for kind `host-cores`"), "{e}");
        let bf2 = Profile::builtin_toml("bluefield-2").unwrap();
        let pcie = &bf2[bf2.find("[pcie]").unwrap()..];
        let pcie = &pcie[..pcie[1..].find("\n[").map_or(pcie.len(), |i| i + 1)];
        let e = Profile::from_toml_str(&format!("{text}\n{pcie}"), "p.toml").unwrap_err().to_string();
        assert!(e.contains("pcie: must be absent for this profile kind"), "{e}");
    }

    #[test]
    fn gen4_x16_raw_and_effective() {
        let p = Profile::builtin("bluefield-2").unwrap();
        let pcie = p.pcie.unwrap();
        let raw = pcie.raw_bandwidth_bytes_per_s();
        assert!((raw - 31.5e9).abs() < 0.1e9, "raw {raw}");
        assert!(pcie.effective_write_bandwidth_bytes_per_s() < raw);
        assert!(pcie.effective_read_bandwidth_bytes_per_s() < pcie.effective_write_bandwidth_bytes_per_s());
    }
}
