//! Turning knob strings into a validated `ScenarioSpec`: sizes with binary suffixes,
//! numbers, compression names, scenario files, and a sweep's `--vary` lists. A scenario
//! is built in layers: the scenario's defaults, then the scenario file, then the flags,
//! then (in a sweep) the point's values.

use super::args::{BlobArgs, Knobs};
use anyhow::{anyhow, bail, Context, Result};
use dpukit_ffi::Algorithm;
use dpukit_host::preset::Preset;
use dpukit_host::report::fmt_bytes;
use dpukit_host::spec::{CompressionSpec, PluginSpec, ScenarioKind, ScenarioSpec};
use dpukit_host::tier::{BlobLocation, BlobOptions};
use std::str::FromStr;

/// Most runs one sweep may ask for.
pub const MAX_SWEEP_RUNS: usize = 256;

/// A knob the command line can set, by flag or by `--vary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    Nodes,
    Size,
    Chunk,
    QueueDepth,
    Batch,
    Compress,
    Compressibility,
    Skew,
    CacheChunks,
    Readers,
    Seed,
    KvRequests,
    KvPrefixSharing,
    KvBlockTokens,
    ReadShift,
    /// The blob tier (a sweep compares tiers with `--vary blob=A,B`).
    Blob,
}

impl Knob {
    /// (knob, flag, `--vary` names).
    const TABLE: [(Knob, &'static str, &'static [&'static str]); 16] = [
        (Knob::Nodes, "--nodes", &["nodes", "numjobs"]),
        (Knob::Size, "--size", &["size"]),
        (Knob::Chunk, "--chunk", &["chunk", "bs"]),
        (Knob::QueueDepth, "--queue-depth", &["queue-depth", "iodepth", "qd"]),
        (Knob::Batch, "--batch", &["batch"]),
        (Knob::Compress, "--compress", &["compress"]),
        (Knob::Compressibility, "--compressibility", &["compressibility"]),
        (Knob::Skew, "--skew", &["skew"]),
        (Knob::CacheChunks, "--cache-chunks", &["cache-chunks"]),
        (Knob::Readers, "--readers", &["readers"]),
        (Knob::Seed, "--seed", &["seed"]),
        (Knob::KvRequests, "--kv-requests", &["kv-requests"]),
        (Knob::KvPrefixSharing, "--kv-prefix-sharing", &["kv-prefix-sharing"]),
        (Knob::KvBlockTokens, "--kv-block-tokens", &["kv-block-tokens"]),
        (Knob::ReadShift, "--shift", &["shift"]),
        (Knob::Blob, "--blob", &["blob"]),
    ];

    pub fn flag(self) -> &'static str {
        Knob::TABLE.iter().find(|(k, _, _)| *k == self).map(|(_, f, _)| *f).unwrap_or("--?")
    }

    fn from_vary_name(name: &str) -> Option<Knob> {
        Knob::TABLE.iter().find(|(_, _, names)| names.contains(&name)).map(|(k, _, _)| *k)
    }

    /// The flag that sets a `ScenarioSpec` field, to name it in validation errors.
    pub fn flag_of_field(field: &str) -> Option<&'static str> {
        let knob = match field {
            "nodes" => Knob::Nodes,
            "object_size_bytes" => Knob::Size,
            "chunk_size_bytes" => Knob::Chunk,
            "queue_depth" => Knob::QueueDepth,
            "batch" => Knob::Batch,
            "compression" => Knob::Compress,
            "compressibility" => Knob::Compressibility,
            "skew" => Knob::Skew,
            "cache_capacity_chunks" => Knob::CacheChunks,
            "readers" => Knob::Readers,
            "kv_requests" => Knob::KvRequests,
            "kv_prefix_sharing" => Knob::KvPrefixSharing,
            "kv_shape" => Knob::KvBlockTokens,
            "read_shift" => Knob::ReadShift,
            _ => return None,
        };
        Some(knob.flag())
    }
}

/// Parses `512`, `4k`, `64KiB`, `1m`, `1MiB`, `1g`, `2T`: powers of 1024, case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{text}` is not a size (use e.g. 512, 4k, 64KiB, 1m, 1g; powers of 1024)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (use e.g. 512, 4k, 64KiB, 1m, 1g; powers of 1024)"))?;
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

fn number<T: FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| format!("`{text}` is not {what}"))
}

fn fraction(text: &str) -> Result<f64, String> {
    let v: f64 = number(text, "a number")?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{text}` is not a finite number"))
    }
}

/// `lz4`, `zstd:3`, `gzip:6`, `zlib`, `none`. A missing level takes the algorithm's usual default.
pub fn parse_compress(text: &str) -> Result<Option<CompressionSpec>, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "none" || t == "off" {
        return Ok(None);
    }
    let (alg, level) = match t.split_once(':') {
        Some((a, l)) => (a.to_string(), Some(l.to_string())),
        None => (t.clone(), None),
    };
    let Some(algorithm) = Algorithm::from_name(&alg) else {
        return Err(format!("unknown compression `{text}` (lz4, zstd[:1-19], gzip[:1-9], zlib[:1-9], none)"));
    };
    let default_level = match algorithm {
        Algorithm::Lz4 => 0,
        Algorithm::Zstd => 3,
        Algorithm::Gzip | Algorithm::Zlib => 6,
    };
    let level = match level {
        Some(l) => l.parse::<u8>().map_err(|_| format!("`{text}`: level `{l}` is not a whole number"))?,
        None => default_level,
    };
    Ok(Some(CompressionSpec { algorithm, level }))
}

/// Sets one knob from its text; the error names the value and the reason (the caller adds the flag).
pub fn apply(spec: &mut ScenarioSpec, knob: Knob, text: &str) -> Result<(), String> {
    let whole = "a whole number";
    match knob {
        Knob::Nodes => spec.nodes = number(text, whole)?,
        Knob::Size => spec.object_size_bytes = parse_size(text)?,
        Knob::Chunk => {
            let v = parse_size(text)?;
            spec.chunk_size_bytes = u32::try_from(v).map_err(|_| format!("`{text}` is larger than 4 GiB"))?;
        }
        Knob::QueueDepth => spec.queue_depth = number(text, whole)?,
        Knob::Batch => spec.batch = number(text, whole)?,
        Knob::Compress => spec.compression = parse_compress(text)?,
        Knob::Compressibility => spec.compressibility = fraction(text)?,
        Knob::Skew => spec.skew = fraction(text)?,
        Knob::CacheChunks => spec.cache_capacity_chunks = number(text, whole)?,
        Knob::Readers => spec.readers = number(text, whole)?,
        Knob::Seed => spec.seed = number(text, whole)?,
        Knob::KvRequests => spec.kv_requests = number(text, whole)?,
        Knob::KvPrefixSharing => spec.kv_prefix_sharing = fraction(text)?,
        Knob::KvBlockTokens => spec.kv_shape.block_tokens = number(text, whole)?,
        Knob::ReadShift => spec.read_shift = number(text, whole)?,
        Knob::Blob => {
            BlobLocation::parse(text).map_err(|e| e.to_string())?;
            spec.blob = Some(text.trim().to_string());
        }
    }
    Ok(())
}

pub fn kind_from_name(name: &str) -> Result<ScenarioKind> {
    ScenarioKind::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = ScenarioKind::ALL.iter().map(|k| k.name()).collect();
        anyhow!("unknown scenario `{name}` (one of {})", all.join(", "))
    })
}

/// The scenario the flags describe, before validation (a sweep applies its points first),
/// and, with `--preset`, the line that says how the run relates to the preset's full size.
/// Layers: the scenario file (or the scenario's defaults), then the preset, then the flags.
pub fn base_spec(k: &Knobs, scale: bool) -> Result<(ScenarioSpec, Option<String>)> {
    if let Some(t) = &k.time {
        bail!("-t {t}: running for a time is not supported; a run moves --size bytes per node (see --help)");
    }
    let named = k.scenario.as_deref().or(k.workload.as_deref()).map(kind_from_name).transpose()?;
    let mut spec = match &k.scenario_file {
        Some(path) => {
            let file = path.display().to_string();
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read scenario file {file}"))?;
            let spec = ScenarioSpec::from_toml_str(&text, &file).map_err(|e| {
                if e.knob == "toml" || e.knob == "kind" {
                    anyhow!("scenario file {}", e.reason)
                } else {
                    anyhow!("scenario file {file}: {e}")
                }
            })?;
            if let Some(kind) = named {
                if kind != spec.kind {
                    bail!(
                        "scenario `{}` on the command line differs from kind `{}` in {file}",
                        kind.name(),
                        spec.kind.name()
                    );
                }
            }
            spec
        }
        None => ScenarioSpec::defaults(named.unwrap_or(ScenarioKind::FanOutWrite)),
    };
    let mut applied = None;
    if let Some(name) = &k.preset {
        let preset = Preset::by_name(name).map_err(|e| anyhow!("--preset: {e}"))?;
        let given = named.or(k.scenario_file.as_ref().map(|_| spec.kind));
        if let Some(kind) = given.filter(|kind| *kind != preset.kind) {
            bail!("--preset {name} is a {} scenario, not {}", preset.kind.name(), kind.name());
        }
        preset.apply(&mut spec, !scale);
        applied = Some(preset);
    }
    let flags = [
        (Knob::Nodes, &k.nodes),
        (Knob::Size, &k.size),
        (Knob::Chunk, &k.chunk),
        (Knob::QueueDepth, &k.queue_depth),
        (Knob::Batch, &k.batch),
        (Knob::Compress, &k.compress),
        (Knob::Compressibility, &k.compressibility),
        (Knob::Skew, &k.skew),
        (Knob::CacheChunks, &k.cache_chunks),
        (Knob::Readers, &k.readers),
        (Knob::Seed, &k.seed),
        (Knob::KvRequests, &k.kv_requests),
        (Knob::KvPrefixSharing, &k.kv_prefix_sharing),
        (Knob::KvBlockTokens, &k.kv_block_tokens),
        (Knob::ReadShift, &k.shift),
    ];
    for (knob, value) in flags {
        if let Some(v) = value {
            apply(&mut spec, knob, v).map_err(|e| anyhow!("{}: {e}", knob.flag()))?;
        }
    }
    if k.no_peers {
        spec.peer_serving = false;
    }
    if k.reorder_tasks {
        spec.read_shift = 1;
    }
    if k.verify {
        spec.verify = true;
    }
    if k.no_verify {
        spec.verify = false;
    }
    if let Some(d) = &k.work_dir {
        spec.work_dir = Some(d.clone());
    }
    if k.direct {
        spec.direct = true;
    }
    if let Some(path) = &k.plugin {
        spec.plugin = Some(PluginSpec { path: path.clone(), arg: 0 });
    }
    if let (Some(arg), Some(p)) = (k.plugin_arg, spec.plugin.as_mut()) {
        p.arg = arg;
    }
    if let Some(b) = &k.blob.blob {
        spec.blob = Some(b.clone());
    }
    apply_blob(&mut spec.blob_options, &k.blob)?;
    let note = applied.map(|preset| preset_note(&preset, &spec, scale));
    Ok((spec, note))
}

/// One line on a preset run: its full size, and how this run (flags included) compares.
fn preset_note(preset: &Preset, spec: &ScenarioSpec, scale: bool) -> String {
    let full = format!("preset {}: {} ({})", preset.name, preset.summary, preset.source);
    // Full size up to the rounding to whole chunks.
    if spec.nodes == preset.nodes
        && preset.bytes_per_node.saturating_sub(spec.object_size_bytes) < u64::from(spec.chunk_size_bytes)
    {
        return format!("{full}; full size, in whole chunks");
    }
    format!(
        "{full}; this run is smaller: {} of {} nodes, {} per node instead of {} (1/{:.0}){}",
        spec.nodes,
        preset.nodes,
        fmt_bytes(spec.object_size_bytes),
        fmt_bytes(preset.bytes_per_node),
        preset.bytes_per_node as f64 / spec.object_size_bytes as f64,
        if scale { "" } else { "; --scale runs it full size" }
    )
}

/// Parses `500ms`, `10s`, `2m` or a bare number of milliseconds into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration (use e.g. 500ms, 10s, 2m)");
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// Applies the blob-tier flags over `opts`; errors name the flag. The tier URL itself is
/// checked here too, so a bad one fails before anything runs.
pub fn apply_blob(opts: &mut BlobOptions, b: &BlobArgs) -> Result<()> {
    if let Some(url) = &b.blob {
        BlobLocation::parse(url).map_err(|e| anyhow!("--blob: {e}"))?;
    }
    if b.blob_emulator {
        opts.emulator = true;
    }
    if let Some(e) = &b.blob_endpoint {
        opts.endpoint = Some(e.clone());
    }
    if let Some(r) = &b.blob_region {
        opts.region = Some(r.clone());
    }
    if let Some(a) = &b.blob_addressing {
        opts.path_style = Some(match a.trim() {
            "path" => true,
            "virtual-hosted" => false,
            other => bail!("--blob-addressing {}: expected path or virtual-hosted", other.escape_debug()),
        });
    }
    let size = |flag: &str, v: &Option<String>, field: &mut u64| -> Result<()> {
        if let Some(v) = v {
            *field = parse_size(v).map_err(|e| anyhow!("{flag}: {e}"))?;
        }
        Ok(())
    };
    size("--blob-multipart-threshold", &b.blob_multipart_threshold, &mut opts.multipart_threshold_bytes)?;
    size("--blob-part-size", &b.blob_part_size, &mut opts.part_size_bytes)?;
    let count = |flag: &str, v: &Option<String>, field: &mut u32| -> Result<()> {
        if let Some(v) = v {
            *field = number(v, "a whole number").map_err(|e| anyhow!("{flag}: {e}"))?;
        }
        Ok(())
    };
    count("--blob-part-concurrency", &b.blob_part_concurrency, &mut opts.part_concurrency)?;
    count("--blob-upload-concurrency", &b.blob_upload_concurrency, &mut opts.upload_concurrency)?;
    count("--blob-read-concurrency", &b.blob_read_concurrency, &mut opts.read_concurrency)?;
    count("--blob-retries", &b.blob_retries, &mut opts.max_retries)?;
    let dur = |flag: &str, v: &Option<String>, field: &mut u64| -> Result<()> {
        if let Some(v) = v {
            *field = parse_duration_ms(v).map_err(|e| anyhow!("{flag}: {e}"))?;
        }
        Ok(())
    };
    dur("--blob-retry-timeout", &b.blob_retry_timeout, &mut opts.retry_timeout_ms)?;
    dur("--blob-timeout", &b.blob_timeout, &mut opts.request_timeout_ms)?;
    dur("--blob-connect-timeout", &b.blob_connect_timeout, &mut opts.connect_timeout_ms)?;
    Ok(())
}

/// The flag that sets a blob option named in a validation error.
fn blob_flag(reason: &str) -> &'static str {
    [
        ("multipart_threshold_bytes", "--blob-multipart-threshold"),
        ("part_size_bytes", "--blob-part-size"),
        ("part_concurrency", "--blob-part-concurrency"),
        ("upload_concurrency", "--blob-upload-concurrency"),
        ("read_concurrency", "--blob-read-concurrency"),
        ("max_retries", "--blob-retries"),
        ("retry_timeout_ms", "--blob-retry-timeout"),
        ("max_backoff_ms", "--blob-retry-timeout"),
        ("request_timeout_ms", "--blob-timeout"),
        ("connect_timeout_ms", "--blob-connect-timeout"),
        ("endpoint", "--blob-endpoint"),
        ("region", "--blob-region"),
    ]
    .iter()
    .find(|(field, _)| reason.contains(field))
    .map_or("--blob", |(_, flag)| flag)
}

/// Validates a spec; the error names the flag that sets the bad knob.
pub fn validate(spec: &ScenarioSpec) -> Result<()> {
    spec.validate().map_err(|e| match Knob::flag_of_field(e.knob) {
        Some(flag) => anyhow!("{flag} ({}): {}", e.knob, e.reason),
        None if e.knob == "blob" => anyhow!("--blob: {}", e.reason),
        None if e.knob == "blob_options" => anyhow!("{}: {}", blob_flag(&e.reason), e.reason),
        None => anyhow!("{}: {}", e.knob, e.reason),
    })
}

/// Validates a spec for scale mode (up to 100,000 nodes); errors name the flag.
pub fn validate_scale(spec: &ScenarioSpec) -> Result<()> {
    spec.validate_scale().map_err(|e| match Knob::flag_of_field(e.knob) {
        Some(flag) => anyhow!("{flag} ({}): {}", e.knob, e.reason),
        None => anyhow!("{}: {}", e.knob, e.reason),
    })
}

/// One `--vary` list: a knob (or `profile`) and its values as written.
#[derive(Debug, Clone)]
pub struct Vary {
    pub name: String,
    pub knob: Option<Knob>,
    pub values: Vec<String>,
}

/// Parses `KNOB=V1,V2,...` and checks every value parses.
pub fn parse_vary(text: &str) -> Result<Vary> {
    let (name, values) =
        text.split_once('=').ok_or_else(|| anyhow!("--vary `{text}`: expected KNOB=V1,V2,..."))?;
    let name = name.trim().to_string();
    let values: Vec<String> =
        values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        bail!("--vary {name}: no values");
    }
    let knob = if name == "profile" {
        None
    } else {
        let knob = Knob::from_vary_name(&name).ok_or_else(|| {
            let names: Vec<&str> = Knob::TABLE.iter().map(|(_, _, n)| n[0]).collect();
            anyhow!("--vary: unknown knob `{name}` (one of {}, profile)", names.join(", "))
        })?;
        let mut probe = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        for v in &values {
            apply(&mut probe, knob, v).map_err(|e| anyhow!("--vary {name}: {e}"))?;
        }
        Some(knob)
    };
    Ok(Vary { name, knob, values })
}

/// The cross product of the lists, first list outermost: each point is one value per list.
pub fn cross_product(varies: &[Vary]) -> Vec<Vec<String>> {
    varies.iter().fold(vec![Vec::new()], |points, v| {
        points
            .iter()
            .flat_map(|p| {
                v.values.iter().map(move |value| {
                    let mut q = p.clone();
                    q.push(value.clone());
                    q
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_powers_of_1024() {
        for (t, want) in [
            ("512", 512),
            ("4k", 4096),
            ("4K", 4096),
            ("64KiB", 65536),
            ("64kb", 65536),
            ("1m", 1 << 20),
            ("1MiB", 1 << 20),
            ("1g", 1 << 30),
            ("2T", 2 << 40),
        ] {
            assert_eq!(parse_size(t), Ok(want), "{t}");
        }
        for t in ["", "k", "4q", "1.5m", "-1", "4 kk", "99999999999999999999"] {
            assert!(parse_size(t).is_err(), "{t}");
        }
    }

    #[test]
    fn compression_names() {
        assert_eq!(parse_compress("none"), Ok(None));
        assert_eq!(parse_compress("zstd:3").unwrap().unwrap().level, 3);
        assert_eq!(parse_compress("lz4").unwrap().unwrap().level, 0);
        assert_eq!(parse_compress("gzip").unwrap().unwrap().level, 6);
        assert!(parse_compress("brotli").is_err());
        assert!(parse_compress("zstd:x").is_err());
    }

    #[test]
    fn vary_lists_multiply() {
        let a = parse_vary("chunk=4k,64k").unwrap();
        let b = parse_vary("profile=bluefield-2,bluefield-3,host-only").unwrap();
        let points = cross_product(&[a, b]);
        assert_eq!(points.len(), 6);
        assert_eq!(points[0], ["4k", "bluefield-2"]);
        assert_eq!(points[5], ["64k", "host-only"]);
        assert!(parse_vary("chunk=4q").unwrap_err().to_string().contains("`4q`"));
        assert!(parse_vary("colour=red").unwrap_err().to_string().contains("unknown knob `colour`"));
        assert!(parse_vary("chunk").is_err());
    }
}
