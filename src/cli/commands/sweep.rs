//! `dpukit sweep`: the cross product of the varied knobs, charted.

use crate::cli::args::{OutputFormat, SweepArgs, SweepMode};
use crate::cli::commands::{
    check_work_dir, json_text, load_profile, make_out_dir, print, repeats, run_options, run_repeated,
    scale_options, spec_with_note, status, write_file, Stamp, DEFAULT_PROFILE,
};
use crate::cli::knobs::{apply, cross_product, parse_vary, validate, validate_scale, Knob, MAX_SWEEP_RUNS};
use crate::cli::progress::Reporter;
use anyhow::{anyhow, bail, Context, Result};
use dpukit_host::report::{self, Sweep, SweepPoint, SweepValue};
use dpukit_host::result::{Mode, RunResult, RESULT_SCHEMA_VERSION};
use dpukit_host::run::RunOptions;
use dpukit_host::scale::{run_scale, ClusterSpec};
use dpukit_sim::profile::Profile;
use std::collections::HashMap;
use std::path::PathBuf;

/// Plans every point (checked before any runs), runs them with one calibration and shared
/// host runs, then writes the four files. Long because its three phases share the plan's
/// state; each is one block with its own comment.
pub(super) fn sweep(a: SweepArgs, quiet: bool) -> Result<()> {
    let stamp = Stamp::new(a.scale.calibration.as_deref());
    let run_opts = run_options(&a.knobs, &a.output, a.scale.scale)?;
    let repeat = repeats(&a.repeat, a.scale.scale)?;
    let varies = a.vary.iter().map(|v| parse_vary(v)).collect::<Result<Vec<_>>>()?;
    for (i, v) in varies.iter().enumerate() {
        if varies[..i].iter().any(|w| w.knob == v.knob && (v.knob.is_some() || w.name == v.name)) {
            bail!("--vary {}: the knob is varied twice", v.name);
        }
    }
    if a.scale.scale && varies.iter().any(|v| v.knob == Some(Knob::Blob)) {
        bail!("--vary blob: scale mode models the blob tier from the calibration; compare tiers with a live sweep (drop --scale)");
    }
    let base = spec_with_note(&a.knobs, a.scale.scale, quiet)?;
    let modes: &[Mode] = match a.mode {
        SweepMode::Host => &[Mode::Host],
        SweepMode::Offload => &[Mode::Offload],
        SweepMode::Both => &[Mode::Host, Mode::Offload],
    };
    let points = cross_product(&varies);
    let total = points.len() * modes.len();
    if total * repeat as usize > MAX_SWEEP_RUNS {
        bail!(
            "--vary: {} runs requested ({total} points x {repeat} repetitions), at most {MAX_SWEEP_RUNS}; vary fewer values",
            total * repeat as usize
        );
    }
    // Build and check every point before running any.
    let mut profiles: HashMap<String, Profile> = HashMap::new();
    let mut planned = Vec::new();
    for values in &points {
        let mut spec = base.clone();
        let mut profile_name = a.knobs.profile.clone().unwrap_or_else(|| DEFAULT_PROFILE.into());
        for (v, value) in varies.iter().zip(values) {
            match v.knob {
                Some(knob) => apply(&mut spec, knob, value).map_err(|e| anyhow!("--vary {}: {e}", v.name))?,
                None => profile_name = value.clone(),
            }
        }
        let label: Vec<String> = varies.iter().zip(values).map(|(v, x)| format!("{}={x}", v.name)).collect();
        if a.scale.scale {
            validate_scale(&spec).with_context(|| format!("sweep point {}", label.join(" ")))?;
        } else {
            validate(&spec).with_context(|| format!("sweep point {}", label.join(" ")))?;
        }
        if !profiles.contains_key(&profile_name) {
            profiles.insert(profile_name.clone(), load_profile(Some(&profile_name))?);
        }
        planned.push((values.clone(), spec, profile_name, label.join(" ")));
    }
    if !a.scale.scale {
        check_work_dir(&base)?;
    }
    make_out_dir(&a.out_dir)?;
    // One calibration for every point, so points differ only by their knobs.
    let scale = match (&planned.first(), a.scale.scale) {
        (Some((_, spec, profile_name, _)), true) => {
            Some(scale_options(&a.scale, spec, &profiles[profile_name], quiet)?)
        }
        _ => None,
    };
    let reporter = Reporter::new(quiet);
    let mut done = Vec::new();
    let mut n = 0;
    // Host mode does not use the profile: points that differ only by it share one host run
    // (keyed by the whole scenario, batch included: fan-out write batches its local writes
    // by it on the host too), so no two host runs of one configuration read as a difference.
    let mut host_runs: HashMap<String, (String, RunResult)> = HashMap::new();
    for (values, spec, profile_name, label) in planned {
        for &mode in modes {
            n += 1;
            reporter.set_label(format!("[{n}/{total}] {label}"));
            let profile = &profiles[&profile_name];
            let key = serde_json::to_string(&spec).context("cannot serialize a sweep point")?;
            if let (Mode::Host, Some((first, shared))) = (mode, host_runs.get(&key)) {
                let mut result = shared.clone();
                result.profile = profile_name.clone();
                result.notes.push(format!(
                    "host run shared with sweep point {first}: host mode does not use the profile, so it ran once"
                ));
                let values = varies
                    .iter()
                    .zip(&values)
                    .map(|(v, x)| SweepValue { knob: v.name.clone(), value: x.clone() })
                    .collect();
                done.push(SweepPoint { values, result });
                continue;
            }
            let mut result = match &scale {
                Some(base) => {
                    let mut opts = base.clone();
                    if !a.scale.colocated && a.scale.nic_gbps.is_none() {
                        // The NIC follows each point's profile.
                        opts.cluster.nic_bytes_per_s =
                            ClusterSpec::cluster(&opts.calibration, profile).nic_bytes_per_s;
                    }
                    run_scale(&spec, mode, profile, &opts).map_err(|e| {
                        reporter.finish();
                        anyhow!("sweep point {label}, scale {} run failed: {e}", mode.name())
                    })?
                }
                None => {
                    let opts = RunOptions { progress: reporter.callback(), ..run_opts.clone() };
                    let prefix = format!("[{n}/{total}] {label} ");
                    run_repeated(&spec, mode, profile, &opts, repeat, &reporter, &prefix)
                        .map_err(|e| anyhow!("sweep point {e}"))?
                }
            };
            stamp.apply(&mut result, Some(&profile_name));
            if mode == Mode::Host && scale.is_none() {
                host_runs.insert(key, (label.clone(), result.clone()));
            }
            let values = varies
                .iter()
                .zip(&values)
                .map(|(v, x)| SweepValue { knob: v.name.clone(), value: x.clone() })
                .collect();
            done.push(SweepPoint { values, result });
        }
    }
    reporter.finish();
    let s = Sweep {
        schema_version: RESULT_SCHEMA_VERSION,
        varied: varies.iter().map(|v| v.name.clone()).collect(),
        points: done,
    };
    let files: [(PathBuf, String); 4] = [
        (a.out_dir.join("sweep.json"), json_text(serde_json::to_string_pretty(&s))?),
        (a.out_dir.join("sweep.csv"), report::render_sweep_csv(&s)),
        (a.out_dir.join("sweep.svg"), report::stack_svg(&[report::sweep_svg(&s)])),
        (a.out_dir.join("sweep.html"), report::render_sweep_html(&s)),
    ];
    for (path, text) in &files {
        write_file(path, text)?;
    }
    print(&match a.output.output_format {
        OutputFormat::Table => report::render_sweep_table(&s),
        OutputFormat::Json => files[0].1.clone(),
        OutputFormat::Csv => files[1].1.clone(),
    })?;
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    status(quiet, &format!("wrote {}", names.join(", ")));
    Ok(())
}
