//! `dpukit compare`: host and offload on the same seed, side by side, with how far the
//! modelled figures depend on the profile's (sensitivity).

use crate::cli::args::{CompareArgs, OutputFormat, SensitivityArg, SensitivityArgs};
use crate::cli::commands::{
    calibration_for, check_mpi, check_work_dir, full_disk_hint, json_text, load_profile, make_out_dir, print,
    repeats, run_options, run_repeated, scale_options, spec_with_note, status, write_file, Stamp,
};
use crate::cli::knobs::{validate, validate_scale};
use crate::cli::progress::Reporter;
use anyhow::{anyhow, bail, Result};
use dpukit_host::calibrate::Calibration;
use dpukit_host::cluster::launched_by_mpi;
use dpukit_host::device::DeviceChoice;
use dpukit_host::repeat::combine;
use dpukit_host::report::fmt_rate;
use dpukit_host::report::{self, Document};
use dpukit_host::result::Comparison;
use dpukit_host::result::Mode;
use dpukit_host::run::{compare, run_scenario, RunOptions};
use dpukit_host::scale::compare_scale;
use dpukit_host::sensitivity::{live_sensitivity, scale_sensitivity, Level, Sensitivity, DEFAULT_FRACTION};
use dpukit_sim::profile::{Profile, ProfileKind};
use std::path::Path;
use std::time::Instant;

/// Sensitivity of a live compare is off unless asked for (or a calibration file is given):
/// its scale-mode proxy needs a calibration of this machine, which takes longer than the
/// default compare itself (measured in docs/SENSITIVITY.md).
pub(super) const LIVE_SENSITIVITY_DEFAULT: Level = Level::Off;

/// Scale mode is deterministic and re-runs in milliseconds at default knobs.
pub(super) const SCALE_SENSITIVITY_DEFAULT: Level = Level::Top;

pub(super) fn level_of(a: SensitivityArg) -> Level {
    match a {
        SensitivityArg::Off => Level::Off,
        SensitivityArg::Top => Level::Top,
        SensitivityArg::All => Level::All,
    }
}

/// The perturbation as a fraction, from `--sensitivity-pct` (0 < PCT < 100).
pub(super) fn sensitivity_fraction(s: &SensitivityArgs) -> Result<f64> {
    match s.sensitivity_pct {
        None => Ok(DEFAULT_FRACTION),
        Some(p) if p.is_finite() && p > 0.0 && p < 100.0 => Ok(p / 100.0),
        Some(p) => bail!("--sensitivity-pct {p}: must be a percentage above 0 and below 100"),
    }
}

/// Whether this profile has figures a model reads (a host-only profile has none).
pub(super) fn has_modelled_figures(profile: &Profile, quiet: bool) -> bool {
    let modelled = profile.kind != ProfileKind::HostOnly;
    if !modelled {
        status(
            quiet,
            &format!(
                "sensitivity: profile `{}` has no device, so no modelled figure to perturb",
                profile.name
            ),
        );
    }
    modelled
}

/// A sensitivity that could not be computed costs the comparison nothing: it is written
/// without one, with the reason in the offload run's notes and on stderr.
pub(super) fn sensitivity_failed(c: &mut Comparison, reason: &str) {
    let line = format!("sensitivity not computed: {}", crate::cli::one_line(reason));
    eprintln!("dpukit: warning: {line}");
    c.offload.notes.push(line);
}

/// The status line after a sensitivity: how many figures, in how long (wall, measured).
pub(super) fn sensitivity_took(s: &Sensitivity, started: Instant) -> String {
    format!(
        "sensitivity: {} figure(s) perturbed both ways in {:.3} s (wall, this machine)",
        s.figures.len(),
        started.elapsed().as_secs_f64()
    )
}

/// Checks every option, runs host and offload (scale mode, live, or live repeated), adds the
/// sensitivity, and writes the comparison. Long because the three ways of running share
/// their checks and their writing; the sensitivity and the repeats are helpers.
pub(super) fn compare_cmd(a: CompareArgs, quiet: bool) -> Result<()> {
    let stamp = Stamp::new(a.scale.calibration.as_deref());
    let spec = spec_with_note(&a.knobs, a.scale.scale, quiet)?;
    let fraction = sensitivity_fraction(&a.sensitivity)?;
    let asked = a.sensitivity.sensitivity.map(level_of);
    if a.sensitivity.sensitivity_calibration.is_some() && a.scale.scale {
        bail!("--sensitivity-calibration is for a live compare; with --scale, --calibration is used");
    }
    let n = repeats(&a.repeat, a.scale.scale)?;
    if n > 1 && (a.mpi || launched_by_mpi()) {
        bail!("--repeat {n}: not supported under MPI; start the job {n} times");
    }
    let run_opts = run_options(&a.knobs, &a.output, a.scale.scale)?;
    if a.mpi || launched_by_mpi() {
        if asked.is_some_and(|l| l != Level::Off) {
            bail!("--sensitivity: not available under MPI; run the same scenario with --scale for it");
        }
        check_mpi(a.scale.scale)?;
        #[cfg(feature = "mpi")]
        return super::mpi::compare(a, spec, quiet);
    }
    let mut c = if a.scale.scale {
        validate_scale(&spec)?;
        let profile = load_profile(a.knobs.profile.as_deref())?;
        make_out_dir(&a.out_dir)?;
        let opts = scale_options(&a.scale, &spec, &profile, quiet)?;
        let mut c = compare_scale(&spec, &profile, &opts)
            .map_err(|e| anyhow!("scale comparison of {} failed: {e}", spec.kind.name()))?;
        let level = asked.unwrap_or(SCALE_SENSITIVITY_DEFAULT);
        if level != Level::Off && has_modelled_figures(&profile, quiet) {
            status(
                quiet,
                &format!(
                    "sensitivity: re-running scale mode per profile figure (±{:.0} %)",
                    fraction * 100.0
                ),
            );
            let nic_from_profile = !a.scale.colocated && a.scale.nic_gbps.is_none();
            let started = Instant::now();
            match scale_sensitivity(&spec, &profile, &opts, &c, level, fraction, nic_from_profile) {
                Ok(s) => {
                    status(quiet, &sensitivity_took(&s, started));
                    c.sensitivity = Some(s);
                }
                Err(e) => sensitivity_failed(&mut c, &e.to_string()),
            }
        }
        c
    } else {
        validate(&spec)?;
        check_work_dir(&spec)?;
        let profile = load_profile(a.knobs.profile.as_deref())?;
        // Given a calibration file, the proxy costs little: on unless turned off.
        let level = asked.unwrap_or(if a.sensitivity.sensitivity_calibration.is_some() {
            Level::Top
        } else {
            LIVE_SENSITIVITY_DEFAULT
        });
        // A bad calibration file fails now, not after the runs.
        let calibration_file = match &a.sensitivity.sensitivity_calibration {
            Some(path) if level != Level::Off => Some((
                Calibration::load(path).map_err(|e| anyhow!("--sensitivity-calibration: {e}"))?,
                path.display().to_string(),
            )),
            Some(_) => bail!("--sensitivity-calibration given with --sensitivity off"),
            None => None,
        };
        make_out_dir(&a.out_dir)?;
        let reporter = Reporter::new(quiet);
        let opts = RunOptions { progress: reporter.callback(), ..run_opts.clone() };
        let mut c = if n == 1 {
            let c = compare(&spec, &profile, &opts);
            reporter.finish();
            c.map_err(|e| {
                let hint = full_disk_hint(&e.to_string(), &spec, None);
                anyhow!("comparison of {} failed: {e}{hint}", spec.kind.name())
            })?
        } else {
            // Host and offload alternate, so a drift of the machine's speed reaches both.
            let (mut hosts, mut offloads) = (Vec::new(), Vec::new());
            for i in 0..n {
                let label = format!("repetition {}/{n}: ", i + 1);
                hosts.push(run_repeated(&spec, Mode::Host, &profile, &opts, 1, &reporter, &label)?);
                offloads.push(run_repeated(&spec, Mode::Offload, &profile, &opts, 1, &reporter, &label)?);
            }
            reporter.finish();
            dpukit_host::run::comparison(combine(hosts), combine(offloads))
        };
        if a.knobs.profile.is_some() {
            model_beside(&mut c, &spec, &profile, &run_opts, &a.out_dir, quiet)?;
        }
        if level != Level::Off && has_modelled_figures(&profile, quiet) {
            let calibration = match calibration_file {
                Some(x) => Ok(x),
                None => calibration_for(None, "--sensitivity-calibration", &spec, quiet),
            };
            status(
                quiet,
                "sensitivity: modelling each profile figure's effect in scale mode on this machine",
            );
            let started = Instant::now();
            let s = calibration.and_then(|(cal, source)| {
                live_sensitivity(&spec, &profile, &c, cal, source, level, fraction)
                    .map_err(|e| anyhow!("{e}"))
            });
            match s {
                Ok(s) => {
                    status(quiet, &sensitivity_took(&s, started));
                    c.sensitivity = Some(s);
                }
                Err(e) => sensitivity_failed(&mut c, &format!("{e:#}")),
            }
        }
        c
    };
    stamp.apply(&mut c.host, a.knobs.profile.as_deref());
    stamp.apply(&mut c.offload, a.knobs.profile.as_deref());
    write_comparison(&a.out_dir, c, a.output.output_format, quiet)
}

/// A DPDK device (a real engine, measured) beside the simulator's model of it: the same
/// scenario and seed in offload mode on the profile's simulated device, its headline
/// figures in the offload run's notes and the whole run in `model.json`.
fn model_beside(
    c: &mut Comparison,
    spec: &dpukit_host::spec::ScenarioSpec,
    profile: &Profile,
    run_opts: &RunOptions,
    out_dir: &Path,
    quiet: bool,
) -> Result<()> {
    if !matches!(run_opts.device, DeviceChoice::Dpdk(_)) || profile.kind == ProfileKind::HostOnly {
        return Ok(());
    }
    status(quiet, &format!("modelling the same run on `{}` (simulated) beside the device", profile.name));
    let sim = RunOptions { device: DeviceChoice::Simulated, progress: None, ..run_opts.clone() };
    let m = run_scenario(spec, Mode::Offload, profile, &sim)
        .map_err(|e| anyhow!("the model's run of {} failed: {e}", spec.kind.name()))?;
    let path = out_dir.join("model.json");
    write_file(&path, &json_text(serde_json::to_string_pretty(&m))?)?;
    let differs = if c.offload.throughput.value > 0.0 {
        format!(
            " ({:+.1} % of the device's)",
            (m.throughput.value / c.offload.throughput.value - 1.0) * 100.0
        )
    } else {
        String::new()
    };
    c.offload.notes.push(format!(
        "model beside the device: `{}` (simulated) runs this offload at {} [model]{differs}, host CPU {:.1} ns/B \
         [model], device makespan {:.1} ms [model]; the whole run in {}",
        profile.name,
        fmt_rate(m.throughput.value),
        m.host_cpu_ns_per_byte.value,
        m.device.as_ref().map_or(0.0, |d| d.makespan_ns as f64 / 1e6),
        path.display()
    ));
    Ok(())
}

/// comparison.json, comparison.csv and report.html, and the table on stdout.
pub(super) fn write_comparison(
    out_dir: &Path,
    c: Comparison,
    format: OutputFormat,
    quiet: bool,
) -> Result<()> {
    let json = out_dir.join("comparison.json");
    let csv = out_dir.join("comparison.csv");
    let html = out_dir.join("report.html");
    write_file(&json, &json_text(serde_json::to_string_pretty(&c))?)?;
    write_file(&csv, &report::render_csv([&c.host, &c.offload]))?;
    if c.host.timeline.is_some() || c.offload.timeline.is_some() {
        write_file(&out_dir.join("timeline.csv"), &report::render_timeline_csv(&[&c.host, &c.offload]))?;
    }
    let doc = Document::Comparison(Box::new(c));
    write_file(&html, &report::render_html(std::slice::from_ref(&doc)))?;
    print(&match format {
        OutputFormat::Table => report::render_tables(std::slice::from_ref(&doc)),
        OutputFormat::Json => report::render_json(std::slice::from_ref(&doc)),
        OutputFormat::Csv => report::render_docs_csv(std::slice::from_ref(&doc)),
    })?;
    status(quiet, &format!("wrote {}, {} and {}", json.display(), csv.display(), html.display()));
    Ok(())
}
