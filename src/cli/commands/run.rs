//! `dpukit run`: one scenario in one mode, live or in scale mode.

use crate::cli::args::RunArgs;
use crate::cli::commands::{
    check_mpi, check_out_file, check_work_dir, json_text, load_profile, mode_of, print_run, repeats,
    run_options, run_repeated, scale_options, spec_with_note, status, timeline_path, write_file, Stamp,
};
use crate::cli::knobs::{validate, validate_scale};
use crate::cli::progress::Reporter;
use anyhow::{anyhow, bail, Result};
use dpukit_host::cluster::launched_by_mpi;
use dpukit_host::report::{self};
use dpukit_host::result::Mode;
use dpukit_host::run::RunOptions;
use dpukit_host::scale::run_scale;

pub(super) fn run(a: RunArgs, quiet: bool) -> Result<()> {
    let stamp = Stamp::new(a.scale.calibration.as_deref());
    let spec = spec_with_note(&a.knobs, a.scale.scale, quiet)?;
    let n = repeats(&a.repeat, a.scale.scale)?;
    if n > 1 && (a.mpi || launched_by_mpi()) {
        bail!("--repeat {n}: not supported under MPI; start the job {n} times");
    }
    let run_opts = run_options(&a.knobs, &a.output, a.scale.scale)?;
    if a.mpi || launched_by_mpi() {
        check_mpi(a.scale.scale)?;
        #[cfg(feature = "mpi")]
        return super::mpi::run(a, spec, quiet);
    }
    if a.scale.scale {
        validate_scale(&spec)?;
        let profile = load_profile(a.knobs.profile.as_deref())?;
        check_out_file(&a.out, "--out")?;
        let mode = mode_of(a.mode);
        let opts = scale_options(&a.scale, &spec, &profile, quiet)?;
        let mut result = run_scale(&spec, mode, &profile, &opts)
            .map_err(|e| anyhow!("scale {} run of {} failed: {e}", mode.name(), spec.kind.name()))?;
        stamp.apply(&mut result, a.knobs.profile.as_deref());
        write_file(&a.out, &json_text(serde_json::to_string_pretty(&result))?)?;
        print_run(&result, a.output.output_format)?;
        status(quiet, &format!("wrote {}", a.out.display()));
        return Ok(());
    }
    validate(&spec)?;
    check_work_dir(&spec)?;
    let profile = load_profile(a.knobs.profile.as_deref())?;
    check_out_file(&a.out, "--out")?;
    if run_opts.log_interval_ns > 0 {
        check_out_file(&timeline_path(&a.out), "--out (its timeline CSV)")?;
    }
    let mode = mode_of(a.mode);
    if mode == Mode::Host && a.knobs.device.choice.is_some() {
        bail!("--device: a host-mode run uses no device; drop --device or run --mode offload");
    }
    let reporter = Reporter::new(quiet);
    let opts = RunOptions { progress: reporter.callback(), ..run_opts.clone() };
    let result = run_repeated(&spec, mode, &profile, &opts, n, &reporter, "");
    reporter.finish();
    let mut result = result?;
    stamp.apply(&mut result, a.knobs.profile.as_deref());
    write_file(&a.out, &json_text(serde_json::to_string_pretty(&result))?)?;
    if result.timeline.is_some() {
        let path = timeline_path(&a.out);
        write_file(&path, &report::render_timeline_csv(&[&result]))?;
        status(quiet, &format!("wrote {}", path.display()));
    }
    print_run(&result, a.output.output_format)?;
    status(quiet, &format!("wrote {}", a.out.display()));
    Ok(())
}
