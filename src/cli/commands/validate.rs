//! `dpukit validate`: scale mode held against live runs on this machine.

use crate::cli::args::ValidateArgs;
use crate::cli::commands::{check_out_file, json_text, load_profile, print, status, write_file};
use crate::cli::knobs::parse_size;
use anyhow::{anyhow, bail, Result};
use dpukit_ffi::Algorithm;
use dpukit_host::device::DeviceChoice;
use dpukit_host::spec::{CompressionSpec, ScenarioKind};
use dpukit_host::validate::{
    check_options, validate as run_validation, validate_device, DeviceValidateOptions, ValidateError,
    ValidateOptions, DEVICE_SCENARIOS, MAX_ROUNDS, VALIDATED_SCENARIOS,
};
use dpukit_sim::profile::{Profile, ProfileKind};
use std::sync::Arc;

/// The validation's options from the flags, every value checked before anything runs.
pub(super) fn validate_options(a: &ValidateArgs, quiet: bool) -> Result<ValidateOptions> {
    let profile = load_profile(a.profile.as_deref())?;
    let mut opts = if a.quick { ValidateOptions::quick(profile) } else { ValidateOptions::full(profile) };
    let count = |flag: &str, text: &str| -> Result<usize> {
        text.trim().parse::<usize>().map_err(|_| anyhow!("{flag}: `{text}` is not a whole number"))
    };
    if let Some(r) = &a.rounds {
        opts.rounds = count("--rounds", r)?;
    }
    if let Some(r) = &a.remeasure {
        opts.remeasure_rounds = count("--remeasure", r)?;
    }
    if let Some(s) = &a.size {
        opts.object_size_bytes = parse_size(s).map_err(|e| anyhow!("--size: {e}"))?;
    }
    if let Some(c) = &a.chunk {
        let bytes = parse_size(c).map_err(|e| anyhow!("--chunk: {e}"))?;
        opts.chunk_size_bytes =
            u32::try_from(bytes).map_err(|_| anyhow!("--chunk {c}: must be at most 64 MiB"))?;
    }
    if !a.scenario.is_empty() {
        let mut kinds = Vec::new();
        for name in &a.scenario {
            let names: Vec<&str> = VALIDATED_SCENARIOS.iter().map(|k| k.name()).collect();
            let kind = match ScenarioKind::from_name(name.trim()) {
                Some(k) if VALIDATED_SCENARIOS.contains(&k) => k,
                Some(_) => bail!("--scenario: {name} has no validation cases (one of {})", names.join(", ")),
                None => bail!("--scenario: unknown scenario `{name}` (one of {})", names.join(", ")),
            };
            kinds.push(kind);
        }
        opts.cases.retain(|c| kinds.contains(&c.kind));
    }
    if !quiet {
        opts.progress = Some(Arc::new(|line: &str| eprintln!("dpukit: {line}")));
    }
    Ok(opts)
}

pub(super) fn validate_cmd(a: ValidateArgs, quiet: bool) -> Result<()> {
    if let Some(device) = &a.device {
        return validate_device_cmd(&a, device, quiet);
    }
    let opts = validate_options(&a, quiet)?;
    check_out_file(&a.out, "--out")?;
    // Every option is checked (sizes against each case's scenario) before the first run.
    check_options(&opts).map_err(|e| anyhow!("{}", flag_of(e)))?;
    status(
        quiet,
        &format!(
            "validating scale mode against live runs: {} cases, {} round(s) (minutes; keep the machine otherwise idle)",
            opts.cases.len(),
            opts.rounds
        ),
    );
    let v = run_validation(&opts).map_err(|e| anyhow!("validate: {e}"))?;
    write_file(&a.out, &json_text(serde_json::to_string_pretty(&v))?)?;
    print(&v.render_table())?;
    status(quiet, &format!("wrote {}", a.out.display()));
    if !v.passed {
        bail!("validation failed: {}", v.failures.join("; "));
    }
    Ok(())
}

/// A refused option, named by its flag.
pub(super) fn flag_of(e: ValidateError) -> String {
    match e {
        ValidateError::Rounds(n) => format!("--rounds {n}: must be 1..={MAX_ROUNDS}"),
        ValidateError::RemeasureRounds(n) => format!("--remeasure {n}: must be 0..={MAX_ROUNDS}"),
        ValidateError::Spec { source, .. } if source.knob == "chunk_size_bytes" => {
            format!("--chunk: {}", source.reason)
        }
        ValidateError::Spec { source, .. } if source.knob == "object_size_bytes" => {
            format!("--size: {}", source.reason)
        }
        e => e.to_string(),
    }
}

/// `dpukit validate --device thread`: the dedicated-thread device against its model.
fn validate_device_cmd(a: &ValidateArgs, device: &str, quiet: bool) -> Result<()> {
    let mut opts = DeviceValidateOptions::default();
    let dpdk = device.trim().starts_with("dpdk:");
    if dpdk {
        let choice: DeviceChoice = device.parse().map_err(|e: String| anyhow!("{e}"))?;
        if let DeviceChoice::Dpdk(mut spec) = choice {
            spec.eal = a.dpdk_eal.clone();
            spec.eal_args().map_err(|e| anyhow!("{e}"))?;
            opts.device = DeviceChoice::Dpdk(spec);
        }
        // Fan-out write with gzip, the stage the device runs.
        opts.scenarios = vec![ScenarioKind::FanOutWrite];
        opts.compression = Some(CompressionSpec { algorithm: Algorithm::Gzip, level: 1 });
    } else if device.trim() != "thread" {
        bail!(
            "--device {device}: only `thread` (the dedicated-thread device) and `dpdk:PMD` devices have a model to hold them against"
        );
    } else if a.dpdk_eal.is_some() {
        bail!("--dpdk-eal applies to --device dpdk:PMD only");
    }
    if let Some(p) = &a.profile {
        let profile = Profile::load(p).map_err(|e| anyhow!("--profile: {e}"))?;
        if !dpdk && profile.kind != ProfileKind::HostCores {
            bail!(
                "--profile {p}: `{}` is not a host-cores profile; write one with `dpukit calibrate --device-profile OUT.toml`",
                profile.name
            );
        }
        opts.profile = Some(profile);
    }
    if let Some(r) = &a.rounds {
        opts.rounds = r
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_ROUNDS).contains(n))
            .ok_or_else(|| anyhow!("--rounds {r}: must be 1..={MAX_ROUNDS}"))?;
    }
    if let Some(s) = &a.size {
        opts.object_size_bytes = parse_size(s).map_err(|e| anyhow!("--size: {e}"))?;
    }
    if let Some(c) = &a.chunk {
        let bytes = parse_size(c).map_err(|e| anyhow!("--chunk: {e}"))?;
        opts.chunk_size_bytes =
            u32::try_from(bytes).map_err(|_| anyhow!("--chunk {c}: must be at most 64 MiB"))?;
    }
    if !a.scenario.is_empty() {
        let names: Vec<&str> = DEVICE_SCENARIOS.iter().map(|k| k.name()).collect();
        let mut kinds = Vec::new();
        for name in &a.scenario {
            match ScenarioKind::from_name(name.trim()) {
                Some(k) if DEVICE_SCENARIOS.contains(&k) => kinds.push(k),
                _ => bail!("--scenario {name}: the device validation has {}", names.join(" and ")),
            }
        }
        opts.scenarios = kinds;
    }
    check_out_file(&a.out, "--out")?;
    if !quiet {
        opts.progress = Some(Arc::new(|line: &str| eprintln!("dpukit: {line}")));
    }
    status(
        quiet,
        &format!(
            "holding --device {} against its model: {} scenario(s), {} round(s) (keep the machine otherwise idle)",
            opts.device.spec(),
            opts.scenarios.len(),
            opts.rounds
        ),
    );
    let v = validate_device(&opts).map_err(|e| anyhow!("validate: {e}"))?;
    write_file(&a.out, &json_text(serde_json::to_string_pretty(&v))?)?;
    print(&v.render_table())?;
    status(quiet, &format!("wrote {}", a.out.display()));
    if !v.passed {
        bail!(
            "the model of --device {} is outside {:.0} % of the measurement in: {}",
            opts.device.spec(),
            v.goal * 100.0,
            v.cases.iter().filter(|c| !c.passed).map(|c| c.scenario.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
