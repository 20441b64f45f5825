//! The op under test: what `-w` names (with `--algorithm` and `-l`), why a benchmark
//! cannot run, and where a profile runs the op.

#![forbid(unsafe_code)]

use super::*;
use crate::plugin::{self, PLUGIN_OPCODE};
use dpukit_sim::timing::UserOpCost;

/// The op under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AccelOp {
    Copy,
    Crc32c,
    CopyCrc32c,
    /// Compress at `level` (the ABI's levels: LZ4 has one, 0).
    Compress {
        #[serde(with = "algorithm_name")]
        algorithm: Algorithm,
        level: u8,
    },
    /// Decompress data compressed by the host kernel at `level`.
    Decompress {
        #[serde(with = "algorithm_name")]
        algorithm: Algorithm,
        level: u8,
    },
    /// Look a present key up in the cache index.
    Lookup,
    /// Insert (or replace) a key in the cache index.
    Insert,
    /// A C kernel plugin's op (`user:NAME`): a length-preserving transform of one buffer,
    /// the plugin named `name` called with `arg` as its seed, forward.
    User {
        name: String,
        arg: u64,
    },
}

/// An algorithm by its name (`gzip`) in the result document.
mod algorithm_name {
    use dpukit_ffi::Algorithm;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Algorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Algorithm, D::Error> {
        let name = String::deserialize(d)?;
        Algorithm::from_name(&name).ok_or_else(|| D::Error::custom(format!("unknown algorithm `{name}`")))
    }
}

/// Why a benchmark cannot run; each names the flag and the reason in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccelError {
    #[error(
        "-w `{0}`: unknown op (copy, crc32c, copy_crc32c, compress, decompress, lookup, insert, user:NAME)"
    )]
    UnknownOp(String),
    #[error(
        "-w user:{0}: a plugin op needs its plugin: give --plugin PATH.so (a C kernel plugin named `{0}`)"
    )]
    PluginNeeded(String),
    #[error("-w user:{op}: plugin {path} is named `{found}`, not `{op}`")]
    PluginName { op: String, path: String, found: String },
    #[error("--plugin {0}: applies to -w user:NAME only")]
    PluginUnused(String),
    #[error("{0}")]
    Plugin(String),
    #[error("--algorithm `{0}`: unknown (lz4, zstd, gzip, zlib)")]
    UnknownAlgorithm(String),
    #[error("-l {level}: out of range for {algorithm} ({min}..={max})")]
    LevelOutOfRange { algorithm: &'static str, level: String, min: u8, max: u8 },
    #[error("{flag}: applies to compress and decompress only")]
    NotACodecOp { flag: &'static str },
    #[error("{flag} {value}: {reason}")]
    Bad { flag: &'static str, value: String, reason: String },
    #[error(
        "-w {op}: profile `{profile}` cannot run it: {missing}; run it on this CPU with --mode host, or pick another --profile"
    )]
    ProfileCannotRun { op: String, profile: String, missing: String },
    #[error("--input {path}: {reason}")]
    Input { path: String, reason: String },
    #[error("offload: {0}")]
    Offload(String),
}

impl From<OffloadError> for AccelError {
    fn from(e: OffloadError) -> AccelError {
        AccelError::Offload(e.to_string())
    }
}

impl AccelOp {
    /// The op named by `-w`, with `--algorithm` and `-l` for the codec ops. A level out of
    /// the algorithm's range, or a codec flag on another op, is refused here.
    pub fn parse(
        workload: &str,
        algorithm: Option<&str>,
        level: Option<&str>,
    ) -> Result<AccelOp, AccelError> {
        let w = workload.trim().to_ascii_lowercase().replace('-', "_");
        if w.starts_with("user:") {
            // The plugin's name as given (names are case-sensitive); its argument is the
            // caller's (`--plugin-arg`).
            let name = workload.trim()["user:".len()..].trim();
            if name.is_empty() {
                return Err(AccelError::UnknownOp(workload.to_owned()));
            }
            if algorithm.is_some() {
                return Err(AccelError::NotACodecOp { flag: "--algorithm" });
            }
            if level.is_some() {
                return Err(AccelError::NotACodecOp { flag: "-l" });
            }
            return Ok(AccelOp::User { name: name.to_owned(), arg: 0 });
        }
        let codec = |decompress: bool| -> Result<AccelOp, AccelError> {
            let name = algorithm.unwrap_or("lz4").trim().to_ascii_lowercase();
            let alg =
                Algorithm::from_name(&name).ok_or_else(|| AccelError::UnknownAlgorithm(name.clone()))?;
            let range = alg.levels();
            let level = match level {
                None => default_level(alg),
                Some(text) => {
                    let out = || AccelError::LevelOutOfRange {
                        algorithm: alg.name(),
                        level: text.to_owned(),
                        min: *range.start(),
                        max: *range.end(),
                    };
                    let l: i64 = text.trim().parse().map_err(|_| out())?;
                    let l = u8::try_from(l).map_err(|_| out())?;
                    if !range.contains(&l) {
                        return Err(out());
                    }
                    l
                }
            };
            Ok(if decompress {
                AccelOp::Decompress { algorithm: alg, level }
            } else {
                AccelOp::Compress { algorithm: alg, level }
            })
        };
        let op = match w.as_str() {
            "copy" => AccelOp::Copy,
            "crc32c" => AccelOp::Crc32c,
            "copy_crc32c" => AccelOp::CopyCrc32c,
            "compress" => return codec(false),
            "decompress" => return codec(true),
            "lookup" => AccelOp::Lookup,
            "insert" => AccelOp::Insert,
            _ => return Err(AccelError::UnknownOp(workload.to_owned())),
        };
        if algorithm.is_some() {
            return Err(AccelError::NotACodecOp { flag: "--algorithm" });
        }
        if level.is_some() {
            return Err(AccelError::NotACodecOp { flag: "-l" });
        }
        Ok(op)
    }

    /// `crc32c`, `compress gzip:1`.
    pub fn name(&self) -> String {
        match self {
            AccelOp::Copy => "copy".into(),
            AccelOp::Crc32c => "crc32c".into(),
            AccelOp::CopyCrc32c => "copy_crc32c".into(),
            AccelOp::Compress { algorithm, level } => format!("compress {}:{level}", algorithm.name()),
            AccelOp::Decompress { algorithm, level } => format!("decompress {}:{level}", algorithm.name()),
            AccelOp::Lookup => "lookup".into(),
            AccelOp::Insert => "insert".into(),
            AccelOp::User { name, .. } => format!("user:{name}"),
        }
    }

    /// The plugin a user op names.
    pub fn plugin_name(&self) -> Option<&str> {
        match self {
            AccelOp::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether the op moves data buffers (lookup and insert move a 16-byte value).
    pub fn moves_buffers(&self) -> bool {
        !matches!(self, AccelOp::Lookup | AccelOp::Insert)
    }

    /// Whether `-C` (several buffers per op) applies.
    pub fn takes_several_buffers(&self) -> bool {
        matches!(self, AccelOp::Copy | AccelOp::Crc32c | AccelOp::CopyCrc32c)
    }

    /// The timing model's op; a user op has no cost of its own here ([`route_on`] asks
    /// the profile for it).
    fn kind(&self) -> OpKind {
        match *self {
            AccelOp::Copy => OpKind::Copy,
            AccelOp::Crc32c => OpKind::Crc32c,
            AccelOp::CopyCrc32c => OpKind::CopyCrc32c,
            AccelOp::Compress { algorithm, .. } => OpKind::Compress(profile_algorithm(algorithm)),
            AccelOp::Decompress { algorithm, .. } => OpKind::Decompress(profile_algorithm(algorithm)),
            AccelOp::Lookup => OpKind::CacheLookup,
            AccelOp::Insert => OpKind::CacheInsert,
            AccelOp::User { .. } => {
                OpKind::User(UserOpCost { id: u32::from(PLUGIN_OPCODE), fixed_ns: 0.0, bytes_per_s: 1.0 })
            }
        }
    }
}

fn default_level(alg: Algorithm) -> u8 {
    match alg {
        Algorithm::Lz4 => 0,
        Algorithm::Zstd => 1,
        Algorithm::Gzip | Algorithm::Zlib => 6,
    }
}

/// Where a profile runs `op`: `Ok(where)` ("accel:dsa", "dpu-cores"), or why it cannot
/// (which resource is missing), checked before any work. A plugin op runs on the device's
/// cores at the profile's `[[user_kernels]]` cost: a profile without either is refused
/// with [`plugin::check_profile`]'s line.
pub fn route_on(profile: &Profile, op: &AccelOp) -> Result<String, AccelError> {
    let cannot = |missing: String| AccelError::ProfileCannotRun {
        op: op.name(),
        profile: profile.name.clone(),
        missing,
    };
    let model = TimingModel::new(profile).map_err(|e| match e {
        ModelError::NoDevice { .. } => cannot("it has no device (host CPU only)".into()),
        other => cannot(other.to_string()),
    })?;
    if let AccelOp::User { name, .. } = op {
        plugin::check_profile(profile, name).map_err(|e| AccelError::Plugin(e.to_string()))?;
        return Ok("dpu-cores".into());
    }
    match model.route(&op.kind()) {
        Ok(Route::Accelerator(i)) => Ok(format!("accel:{}", profile.accelerators[i].name)),
        Ok(Route::DpuCores) => Ok("dpu-cores".into()),
        Ok(Route::NoCompute) => Ok("none".into()),
        Err(_) => {
            let engines: Vec<&str> = profile.accelerators.iter().map(|a| a.name.as_str()).collect();
            let what = match op {
                AccelOp::Compress { algorithm, .. } | AccelOp::Decompress { algorithm, .. } => {
                    format!("{} {}", op.kind().name(), algorithm.name())
                }
                _ => op.kind().name().to_owned(),
            };
            Err(cannot(format!(
                "no accelerator runs {what} (engines: {}) and it has no DPU cores",
                if engines.is_empty() { "none".to_owned() } else { engines.join(", ") }
            )))
        }
    }
}
