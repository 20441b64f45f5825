//! `dpukit accel` (and `dpukit sweep accel`): one op at a time, host and offload side by
//! side, in accel_perf's terms. Every flag is parsed and every point of a sweep checked
//! (op, sizes, levels, the plugin, the device and the profile's route for the op, the input
//! file, the output paths) before any op runs.

use crate::cli::args::{AccelArgs, OutputFormat, SweepMode};
use crate::cli::commands::{
    check_out_file, device_choice, json_text, load_profile, make_out_dir, percentiles, print, status,
    write_file,
};
use crate::cli::knobs::{cross_product, parse_size, Vary};
use anyhow::{anyhow, bail, Result};
use dpukit_host::accel::{
    self, check_offload, AccelError, AccelOp, AccelSpec, DataSource, Sides, ACCEL_SCHEMA_VERSION,
};
use dpukit_host::device::DeviceChoice;
use dpukit_host::plugin::Plugin;
use dpukit_host::report::{self, AccelSweep, AccelSweepPoint, SweepValue};
use dpukit_host::result::DEFAULT_PERCENTILES;
use dpukit_host::spec::PluginSpec;
use dpukit_sim::profile::Profile;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

/// Most points of one accel sweep (each runs for its -t on each side).
const MAX_ACCEL_SWEEP_POINTS: usize = 64;

/// Knobs `--vary` takes, each with the names it answers to.
const VARY_KNOBS: &[(&str, &[&str])] = &[
    ("o", &["o", "transfer-size", "bs"]),
    ("q", &["q", "queue-depth", "qd", "iodepth"]),
    ("C", &["C", "buffers"]),
    ("T", &["T", "threads"]),
    ("batch", &["batch"]),
    ("w", &["w", "workload", "op"]),
    ("l", &["l", "level"]),
    ("algorithm", &["algorithm"]),
    ("compressibility", &["compressibility"]),
    ("seed", &["seed"]),
    ("t", &["t", "time"]),
    ("profile", &["profile"]),
];

fn knob_of(name: &str) -> Option<&'static str> {
    VARY_KNOBS.iter().find(|(_, names)| names.contains(&name)).map(|(k, _)| *k)
}

/// Sets one knob of `a` from its text.
fn set_knob(a: &mut AccelArgs, knob: &str, value: &str) {
    let v = Some(value.to_owned());
    match knob {
        "o" => a.transfer_size = v,
        "q" => a.queue_depth = v,
        "C" => a.buffers = v,
        "T" => a.threads = v,
        "batch" => a.batch = v,
        "w" => a.workload = value.to_owned(),
        "l" => a.level = v,
        "algorithm" => a.algorithm = v,
        "compressibility" => a.compressibility = v,
        "seed" => a.seed = v,
        "t" => a.time = v,
        _ => a.profile = v,
    }
}

fn whole<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T> {
    text.trim().parse().map_err(|_| anyhow!("{flag} {text}: not a whole number"))
}

/// Seconds: `5`, `0.5`, `2s`, `500ms`. A byte count (`4k`, `1m`, `64KiB`) is refused with
/// a hint: accel runs are time-based and -o sets the transfer size.
pub(crate) fn parse_seconds(flag: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        Ok(_) => bail!("{flag} {text}: seconds must be a finite number >= 0"),
        Err(_) if parse_size(t).is_ok() => bail!(
            "{flag} {text}: a duration in seconds (e.g. 5, 0.5, 500ms), not a byte count: accel runs are time-based; -o sets the transfer size"
        ),
        Err(_) => bail!("{flag} {text}: not a duration in seconds (e.g. 5, 0.5, 500ms)"),
    }
}

/// The input file's bytes: at most what the buffers can use, read up front so an
/// unreadable or empty file fails before any work.
fn read_input(path: &std::path::Path, want: u64) -> Result<Arc<Vec<u8>>> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| anyhow!("--input {shown}: cannot read it: {e}"))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        bail!("--input {shown}: is a directory");
    }
    let mut bytes = Vec::new();
    file.take(want.max(1))
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow!("--input {shown}: cannot read it: {e}"))?;
    if bytes.is_empty() {
        bail!("--input {shown}: the file is empty");
    }
    Ok(Arc::new(bytes))
}

/// The plugin of `--plugin`, loaded once for every point of a run.
fn load_plugin(a: &AccelArgs) -> Result<Option<Plugin>> {
    let Some(path) = &a.plugin else { return Ok(None) };
    Ok(Some(Plugin::load(&PluginSpec { path: path.clone(), arg: a.plugin_arg.unwrap_or(0) })?))
}

/// The spec of the flags and the profile name of its offload side; every value checked.
/// `plugin` goes to a user op; another op refuses it unless `sweep` (a sweep over `-w` gives
/// it to its user ops only, and checks that one uses it).
fn spec_of(
    a: &AccelArgs,
    percentile_list: &[f64],
    device: &DeviceChoice,
    plugin: Option<&Plugin>,
    sweep: bool,
) -> Result<(AccelSpec, String)> {
    let mut op = AccelOp::parse(&a.workload, a.algorithm.as_deref(), a.level.as_deref())?;
    if let AccelOp::User { arg, .. } = &mut op {
        *arg = a.plugin_arg.unwrap_or(0);
    }
    let plugin = if op.plugin_name().is_some() || !sweep { plugin.cloned() } else { None };
    let size = |flag: &str, t: &Option<String>, default: u64| -> Result<u64> {
        match t {
            Some(t) => parse_size(t).map_err(|e| anyhow!("{flag} {e}")),
            None => Ok(default),
        }
    };
    let transfer_bytes = size("-o", &a.transfer_size, 4096)?;
    let n = |flag: &str, t: &Option<String>, default: u32| -> Result<u32> {
        t.as_deref().map_or(Ok(default), |t| whole(flag, t))
    };
    let queue_depth = n("-q", &a.queue_depth, 32)?;
    let buffers_per_op = n("-C", &a.buffers, 1)?;
    let threads = n("-T", &a.threads, 1)?;
    let batch = n("--batch", &a.batch, 1)?;
    let seed: u64 = a.seed.as_deref().map_or(Ok(1), |t| whole("--seed", t))?;
    let seconds = a.time.as_deref().map_or(Ok(1.0), |t| parse_seconds("-t", t))?;
    let warmup_seconds = a.warmup.as_deref().map_or(Ok(0.2), |t| parse_seconds("--warmup", t))?;
    let max_wall_seconds = a.max_wall.as_deref().map_or(Ok(60.0), |t| parse_seconds("--max-wall", t))?;
    if max_wall_seconds <= 0.0 {
        bail!("--max-wall {}: more than 0 seconds", a.max_wall.as_deref().unwrap_or_default());
    }
    let sides = match a.mode {
        SweepMode::Host => Sides::Host,
        SweepMode::Offload => Sides::Offload,
        SweepMode::Both => Sides::Both,
    };
    let compressibility = match &a.compressibility {
        Some(t) => t.trim().parse::<f64>().map_err(|_| anyhow!("--compressibility {t}: not a number"))?,
        None => 2.0,
    };
    let mut spec = AccelSpec {
        op,
        transfer_bytes,
        queue_depth,
        buffers_per_op,
        threads,
        batch,
        seconds,
        warmup_seconds,
        max_wall_seconds,
        verify: a.verify,
        seed,
        data: DataSource::Generated { compressibility },
        percentiles: percentile_list.to_vec(),
        sides,
        device: device.clone(),
        plugin,
    };
    spec.validate()?;
    if let Some(path) = &a.input {
        // Every buffer of every thread, so a long file gives each slot its own bytes.
        let want = transfer_bytes * buffers_per_op as u64 * queue_depth as u64 * threads as u64;
        let bytes = read_input(path, want)?;
        spec.data = DataSource::File { path: path.display().to_string(), bytes };
    }
    Ok((spec, a.profile.clone().unwrap_or_else(|| super::DEFAULT_PROFILE.into())))
}

fn percentile_list(a: &AccelArgs) -> Result<Vec<f64>> {
    if a.output.log_interval.is_some() {
        bail!("--log-interval: accel prints one summary per side, not a timeline; drop --log-interval");
    }
    Ok(percentiles(&a.output, false)?.unwrap_or_else(|| DEFAULT_PERCENTILES.to_vec()))
}

/// Loads the profile, and checks that the offload side's device can run the op with it
/// and, a measured device, that the profile asks for no faults it cannot inject.
fn profile_for(spec: &AccelSpec, name: &str, cache: &mut HashMap<String, Profile>) -> Result<Profile> {
    if !cache.contains_key(name) {
        cache.insert(name.to_owned(), load_profile(Some(name))?);
    }
    let profile = cache[name].clone();
    if spec.sides != Sides::Host {
        spec.device.check_faults(&profile, false).map_err(|e| anyhow::Error::new(crate::cli::Usage(e)))?;
        check_offload(spec, &profile)?;
    }
    Ok(profile)
}

/// The device of the flags; one for a host-only run is refused rather than ignored.
fn device_of(a: &AccelArgs) -> Result<DeviceChoice> {
    let device = device_choice(&a.device, false)?;
    if a.mode == SweepMode::Host && a.device.choice.is_some() {
        bail!("--device: --mode host runs no offload side; drop --device or run --mode offload or both");
    }
    Ok(device)
}

/// `device`, for status lines: nothing for the default simulator.
fn on_device(device: &DeviceChoice) -> String {
    match device {
        DeviceChoice::Simulated => String::new(),
        d => format!(", offload side on --device {}", d.spec()),
    }
}

pub(super) fn accel_cmd(a: AccelArgs, quiet: bool) -> Result<()> {
    if !a.vary.is_empty() {
        return accel_sweep_cmd(a, quiet);
    }
    let pct = percentile_list(&a)?;
    let device = device_of(&a)?;
    let plugin = load_plugin(&a)?;
    let (spec, profile_name) = spec_of(&a, &pct, &device, plugin.as_ref(), false)?;
    let profile = profile_for(&spec, &profile_name, &mut HashMap::new())?;
    check_out_file(&a.out, "--out")?;
    status(
        quiet,
        &format!(
            "accel {}: {} s per side after a {} s warm-up{}",
            spec.op.name(),
            spec.seconds,
            spec.warmup_seconds,
            on_device(&spec.device)
        ),
    );
    let result = accel::run(&spec, &profile)?;
    let json = json_text(serde_json::to_string_pretty(&result))?;
    write_file(&a.out, &json)?;
    print(&match a.output.output_format {
        OutputFormat::Table => report::render_accel_table(&result),
        OutputFormat::Json => json,
        OutputFormat::Csv => report::render_accel_csv(&result),
    })?;
    status(quiet, &format!("wrote {}", a.out.display()));
    Ok(())
}

/// The cross product of the --vary lists, every point checked before the first runs.
pub(super) fn accel_sweep_cmd(a: AccelArgs, quiet: bool) -> Result<()> {
    if a.vary.is_empty() {
        bail!("sweep accel: give at least one --vary KNOB=V1,V2 (knobs: o, q, C, T, batch, w, l, algorithm, compressibility, seed, t, profile)");
    }
    let pct = percentile_list(&a)?;
    let device = device_of(&a)?;
    let plugin = load_plugin(&a)?;
    let mut varies: Vec<Vary> = Vec::new();
    for text in &a.vary {
        let (name, values) =
            text.split_once('=').ok_or_else(|| anyhow!("--vary `{text}`: expected KNOB=V1,V2,..."))?;
        let name = name.trim();
        let knob = knob_of(name).ok_or_else(|| {
            let names: Vec<&str> = VARY_KNOBS.iter().map(|(k, _)| *k).collect();
            anyhow!("--vary: unknown accel knob `{name}` (one of {})", names.join(", "))
        })?;
        if varies.iter().any(|v| v.name == knob) {
            bail!("--vary {name}: the knob is varied twice");
        }
        let values: Vec<String> =
            values.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            bail!("--vary {name}: no values");
        }
        varies.push(Vary { name: knob.to_owned(), knob: None, values });
    }
    let points = cross_product(&varies);
    if points.len() > MAX_ACCEL_SWEEP_POINTS {
        bail!("--vary: {} points, at most {MAX_ACCEL_SWEEP_POINTS}; vary fewer values", points.len());
    }
    let mut profiles = HashMap::new();
    let mut planned = Vec::new();
    for values in &points {
        let mut p = a.clone();
        for (v, value) in varies.iter().zip(values) {
            set_knob(&mut p, &v.name, value);
        }
        let label: Vec<String> = varies.iter().zip(values).map(|(v, x)| format!("{}={x}", v.name)).collect();
        let (spec, profile_name) = spec_of(&p, &pct, &device, plugin.as_ref(), true)
            .map_err(|e| anyhow!("sweep point {}: {e:#}", label.join(" ")))?;
        let profile = profile_for(&spec, &profile_name, &mut profiles)
            .map_err(|e| anyhow!("sweep point {}: {e:#}", label.join(" ")))?;
        planned.push((values.clone(), spec, profile, label.join(" ")));
    }
    if let Some(p) = &plugin {
        if planned.iter().all(|(_, spec, _, _)| spec.plugin.is_none()) {
            return Err(AccelError::PluginUnused(p.path().display().to_string()).into());
        }
    }
    make_out_dir(&a.out_dir)?;
    let total = planned.len();
    let mut done = Vec::new();
    for (i, (values, spec, profile, label)) in planned.into_iter().enumerate() {
        status(quiet, &format!("[{}/{total}] {label}", i + 1));
        let result = accel::run(&spec, &profile).map_err(|e| anyhow!("sweep point {label}: {e}"))?;
        let values = varies
            .iter()
            .zip(&values)
            .map(|(v, x)| SweepValue { knob: v.name.clone(), value: x.clone() })
            .collect();
        done.push(AccelSweepPoint { values, result });
    }
    let s = AccelSweep {
        schema_version: ACCEL_SCHEMA_VERSION,
        varied: varies.iter().map(|v| v.name.clone()).collect(),
        points: done,
    };
    let json = json_text(serde_json::to_string_pretty(&s))?;
    let csv = report::render_accel_sweep_csv(&s);
    let (jp, cp) = (a.out_dir.join("accel-sweep.json"), a.out_dir.join("accel-sweep.csv"));
    write_file(&jp, &json)?;
    write_file(&cp, &csv)?;
    print(&match a.output.output_format {
        OutputFormat::Table => report::render_accel_sweep_table(&s),
        OutputFormat::Json => json,
        OutputFormat::Csv => csv,
    })?;
    status(quiet, &format!("wrote {}, {}", jp.display(), cp.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_byte_counts() {
        assert_eq!(parse_seconds("-t", "5").unwrap(), 5.0);
        assert_eq!(parse_seconds("-t", "500ms").unwrap(), 0.5);
        assert_eq!(parse_seconds("-t", "2s").unwrap(), 2.0);
        let e = parse_seconds("-t", "4k").unwrap_err().to_string();
        assert!(e.contains("not a byte count"), "{e}");
        assert!(parse_seconds("-t", "1m").unwrap_err().to_string().contains("not a byte count"));
        assert!(parse_seconds("-t", "soon").unwrap_err().to_string().contains("not a duration"));
        assert!(parse_seconds("-t", "-1").is_err());
    }

    #[test]
    fn vary_names() {
        assert_eq!(knob_of("bs"), Some("o"));
        assert_eq!(knob_of("queue-depth"), Some("q"));
        assert_eq!(knob_of("profile"), Some("profile"));
        assert_eq!(knob_of("colour"), None);
    }
}
