//! The commands around the runs: `calibrate`, `copy`, `presets`, `profiles`, `report`.

use crate::cli::args::{BlobArgs, CalibrateArgs, CopyArgs, Format, ProfilesAction, ReportArgs};
use crate::cli::commands::{check_out_file, load_profile, print, status, write_file};
use crate::cli::knobs::{apply_blob, kind_from_name};
use anyhow::{anyhow, bail, Context, Result};
use dpukit_host::calibrate::{calibrate, device_profile, CalibrateOptions, DeviceProfileOptions};
use dpukit_host::copy::{resume_copy, AdjustOptions, ResumeOptions};
use dpukit_host::preset::{LIVE_MAX_BYTES_PER_NODE, LIVE_MAX_NODES, PRESETS};
use dpukit_host::report::{self, Document};
use dpukit_host::sensitivity::{scenario_figures, DEFAULT_FRACTION};
use dpukit_host::spec::ScenarioSpec;
use dpukit_host::tier::BlobOptions;
use dpukit_sim::profile::{Profile, ProfileKind};
use std::sync::Arc;

pub(super) fn copy_cmd(a: CopyArgs, quiet: bool) -> Result<()> {
    // The flags change the options each run recorded; check them once before any run.
    let adjust: Option<AdjustOptions> = if a.blob == BlobArgs::default() {
        None
    } else {
        apply_blob(&mut BlobOptions::default(), &a.blob)?;
        let flags = a.blob.clone();
        Some(Arc::new(move |o: &mut BlobOptions| {
            // Checked above: applying the same flags again cannot fail.
            let _ = apply_blob(o, &flags);
        }))
    };
    if !a.work_dir.is_dir() {
        bail!("--work-dir {}: not a directory", a.work_dir.display());
    }
    let runs = resume_copy(&a.work_dir, &ResumeOptions { blob: a.blob.blob.clone(), adjust })
        .map_err(|e| anyhow!("copy: {e}"))?;
    let mut text = String::new();
    let mut unverifiable = 0;
    for r in &runs {
        text.push_str(&format!(
            "{}: {} acknowledged chunks, {} already copied, {} uploaded now ({} bytes) to {}\n",
            r.dir.display(),
            r.acknowledged_chunks,
            r.already_copied_chunks,
            r.uploaded_chunks,
            r.uploaded_bytes,
            r.location
        ));
        if r.partial_uploads_removed > 0 {
            text.push_str(&format!(
                "  removed {} partial upload(s) a killed run left in {}\n",
                r.partial_uploads_removed, r.location
            ));
        }
        for u in &r.unverifiable {
            text.push_str(&format!("  not copied: {u}\n"));
        }
        unverifiable += r.unverifiable.len();
    }
    print(&text)?;
    status(quiet, &format!("resumed the blob copy of {} run(s) in {}", runs.len(), a.work_dir.display()));
    if unverifiable > 0 {
        bail!("{unverifiable} chunks do not verify on the local tier and were not copied (listed above)");
    }
    Ok(())
}

/// `calibrate --device-profile OUT --device dpdk:PMD`: the profile of a compressdev device.
fn dpdk_profile_cmd(
    out: &std::path::Path,
    device: &dpukit_host::device::DeviceChoice,
    eal: Option<String>,
    quiet: bool,
) -> Result<()> {
    let dpukit_host::device::DeviceChoice::Dpdk(spec) = device else {
        bail!(
            "--device {}: --device-profile measures `thread` (without --device) or a `dpdk:PMD` device",
            device.spec()
        );
    };
    let mut spec = spec.clone();
    spec.eal = eal.or(spec.eal);
    spec.eal_args().map_err(|e| anyhow!("{e}"))?;
    check_out_file(out, "--device-profile")?;
    status(quiet, &format!("measuring {} as the kit drives it (a few seconds)", spec.spec()));
    let text = dpdk_device_profile(&spec).map_err(|e| anyhow!("{e}"))?;
    write_file(out, &text)?;
    print(&format!(
        "{}: the `on-cpu-accelerator` profile of --device {} on this machine; use it with \
         --profile {} to model that device\n",
        out.display(),
        spec.spec(),
        out.display()
    ))
}

#[cfg(feature = "dpdk")]
fn dpdk_device_profile(spec: &dpukit_host::dpdk::DpdkSpec) -> Result<String> {
    dpukit_host::calibrate::dpdk_device_profile(spec, &Default::default()).map_err(|e| anyhow!("{e}"))
}

#[cfg(not(feature = "dpdk"))]
fn dpdk_device_profile(_spec: &dpukit_host::dpdk::DpdkSpec) -> Result<String> {
    bail!("{}", dpukit_host::dpdk::NOT_BUILT)
}

pub(super) fn calibrate_cmd(a: CalibrateArgs, quiet: bool) -> Result<()> {
    if let (Some(out), Some(device)) = (&a.device_profile, &a.device) {
        return dpdk_profile_cmd(out, device, a.dpdk_eal.clone(), quiet);
    }
    if let Some(out) = &a.device_profile {
        check_out_file(out, "--device-profile")?;
        status(quiet, "measuring the kernels as the dedicated-thread device runs them (a few seconds)");
        let text = device_profile(&DeviceProfileOptions::default()).map_err(|e| anyhow!("{e}"))?;
        write_file(out, &text)?;
        return print(&format!(
            "{}: the `host-cores` profile of --device thread on this machine; use it with \
             --profile {} to model that device\n",
            out.display(),
            out.display()
        ));
    }
    check_out_file(&a.out, "--out")?;
    status(quiet, "calibrating this machine (a few seconds)");
    let cal = calibrate(&CalibrateOptions { dir: a.dir.clone(), ..CalibrateOptions::default() })
        .map_err(|e| anyhow!("{e}"))?;
    cal.save(&a.out).map_err(|e| anyhow!("{e}"))?;
    print(&format!(
        "{}: {} build, {} ({} logical CPUs, {:.2} effective), measured in {:.1} s\n",
        a.out.display(),
        cal.build,
        cal.machine.cpu_model,
        cal.machine.logical_cpus,
        cal.effective_cores,
        cal.took_s
    ))
}

pub(super) fn presets() -> Result<()> {
    let rows: Vec<[String; 4]> = PRESETS
        .iter()
        .map(|p| {
            [
                p.name.to_string(),
                p.kind.name().to_string(),
                format!("{} x {}", p.nodes, report::fmt_bytes(p.bytes_per_node)),
                format!("{} ({})", p.summary, p.source),
            ]
        })
        .collect();
    let w: [usize; 3] = [0, 1, 2].map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0));
    let mut out = String::new();
    for [name, kind, size, about] in rows {
        out.push_str(&format!(
            "{name:<w0$}  {kind:<w1$}  {size:>w2$}  {about}\n",
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        ));
    }
    out.push_str(&format!(
        "\nFull size with --scale; a live run takes at most {} nodes and {} per node, and says so.\n",
        LIVE_MAX_NODES,
        report::fmt_bytes(LIVE_MAX_BYTES_PER_NODE)
    ));
    print(&out)
}

pub(super) fn profiles(action: ProfilesAction) -> Result<()> {
    match action {
        ProfilesAction::List => {
            let mut rows = Vec::new();
            for name in Profile::builtin_names() {
                let p = Profile::builtin(name).map_err(|e| anyhow!("{e}"))?;
                rows.push(report::profile_summary(&p));
            }
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            let kw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
            let mut out = String::new();
            for (name, kind, description) in rows {
                out.push_str(&format!("{name:<w$}  {kind:<kw$}  {description}\n"));
            }
            print(&out)
        }
        ProfilesAction::Show { name, scenario } => {
            // The scenario is checked before the profile is read.
            let spec = scenario.as_deref().map(kind_from_name).transpose()?.map(ScenarioSpec::defaults);
            let p = load_profile(Some(&name))?;
            let mut text = report::render_profile(&p);
            match spec {
                Some(spec) if p.kind == ProfileKind::HostOnly => text.push_str(&format!(
                    "\nNo figure of `{}` matters for {}: without a device every op runs on the host CPU, measured.\n",
                    p.name,
                    spec.kind.name()
                )),
                Some(spec) => {
                    let (used, left) = scenario_figures(&p, &spec, DEFAULT_FRACTION)
                        .map_err(|e| anyhow!("--scenario {}: {e}", spec.kind.name()))?;
                    text.push('\n');
                    text.push_str(&report::render_scenario_figures(&p, &spec, &used, &left, DEFAULT_FRACTION));
                }
                None => {}
            }
            print(&text)
        }
        ProfilesAction::Check { path } => {
            let p = Profile::from_path(&path).map_err(|e| anyhow!("{e}"))?;
            let figures = report::profile_figures(&p);
            let assumed = figures.iter().filter(|f| f.confidence == "assumed").count();
            let (_, kind, _) = report::profile_summary(&p);
            print(&format!(
                "{}: ok: profile `{}` ({kind}), {} figures, {assumed} assumed\n",
                path.display(),
                p.name,
                figures.len()
            ))
        }
    }
}

pub(super) fn report_cmd(a: ReportArgs) -> Result<()> {
    let mut docs = Vec::new();
    for f in &a.files {
        let file = f.display().to_string();
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {file}"))?;
        docs.push(Document::parse(&text, &file)?);
    }
    if let Some(out) = &a.out {
        check_out_file(out, "--out")?;
    }
    let names: Vec<String> = a.files.iter().map(|f| f.display().to_string()).collect();
    let text = match a.format {
        Format::Table => report::render_tables(&docs) + &report::render_provenance(&docs, &names),
        Format::Json => report::render_json(&docs),
        Format::Csv => report::render_docs_csv(&docs),
        Format::Svg => report::render_svg(&docs),
        Format::Html => report::render_html(&docs),
    };
    match &a.out {
        Some(out) => write_file(out, &text),
        None => print(&text),
    }
}
