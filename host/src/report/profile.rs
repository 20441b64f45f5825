//! A hardware profile figure by figure, each with its source and confidence, for
//! `dpukit profiles show`. Lists the typed [`Profile`]'s figures through
//! `Profile::figures`, so every figure the timing model reads is listed under the key it has
//! in the TOML file.

#![forbid(unsafe_code)]

use dpukit_sim::profile::{Confidence, Profile, ProfileKind};
use std::fmt::Display;

/// One figure of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFigure {
    /// The TOML key, e.g. `cores.compress_bytes_per_s.zstd`.
    pub key: String,
    pub value: String,
    pub confidence: &'static str,
    pub source: String,
}

fn confidence_name(c: Confidence) -> &'static str {
    c.name()
}

fn kind_name(k: ProfileKind) -> &'static str {
    match k {
        ProfileKind::HostOnly => "host-only",
        ProfileKind::Dpu => "dpu",
        ProfileKind::OnCpuAccelerator => "on-cpu-accelerator",
        ProfileKind::HostCores => "host-cores",
    }
}

/// Rates and large counts in engineering notation (`10.3e9`), as the profiles write them.
pub(crate) fn value<T: Display>(v: &T) -> String {
    let s = v.to_string();
    match s.parse::<f64>() {
        Ok(x) if x.abs() >= 1e6 => {
            let e = format!("{x:.4e}");
            match e.split_once('e') {
                Some((m, exp)) if m.contains('.') => {
                    format!("{}e{exp}", m.trim_end_matches('0').trim_end_matches('.'))
                }
                _ => e,
            }
        }
        _ => s,
    }
}

/// Every sourced figure of the profile, in file order, under its TOML key (the list
/// `dpukit_sim::sensitivity` walks, so this page and the sensitivity report agree).
pub fn profile_figures(p: &Profile) -> Vec<ProfileFigure> {
    p.figures()
        .into_iter()
        .map(|f| ProfileFigure {
            key: f.key,
            value: value(&f.display),
            confidence: confidence_name(f.confidence),
            source: f.source,
        })
        .collect()
}

/// The profile as text: a heading, the non-figure facts, then one block per figure
/// (`key = value  [confidence]` and its source on the next line, indented).
pub fn render_profile(p: &Profile) -> String {
    let mut out = format!("{} ({})\n{}\nhost: {}\n", p.name, kind_name(p.kind), p.description, p.host.cpu);
    if let Some(c) = &p.cores {
        out.push_str(&format!("cores.model: {}\n", c.model));
    }
    for a in &p.accelerators {
        let ops: Vec<&str> = a.ops.iter().map(|o| o.name()).collect();
        let algs: Vec<&str> = a.algorithms.iter().map(|x| x.name()).collect();
        out.push_str(&format!("accelerator {}: ops {}", a.name, ops.join(", ")));
        if !algs.is_empty() {
            out.push_str(&format!("; algorithms {}", algs.join(", ")));
        }
        out.push('\n');
    }
    if let Some(f) = &p.faults {
        out.push_str(&format!("faults: {f:?}\n"));
    }
    let figures = profile_figures(p);
    let key_w = figures.iter().map(|f| f.key.len() + f.value.len() + 3).max().unwrap_or(0);
    out.push('\n');
    for f in &figures {
        let kv = format!("{} = {}", f.key, f.value);
        out.push_str(&format!("{kv:<key_w$}  [{}]\n    source: {}\n", f.confidence, f.source));
    }
    let count = |c: &str| figures.iter().filter(|f| f.confidence == c).count();
    out.push_str(&format!(
        "\n{} figures: {} measured, {} vendor, {} derived, {} assumed (sweep the assumed ones)\n",
        figures.len(),
        count("measured"),
        count("vendor"),
        count("derived"),
        count("assumed")
    ));
    out
}

/// `name  kind  description`, for `dpukit profiles list`.
pub fn profile_summary(p: &Profile) -> (String, &'static str, String) {
    (p.name.clone(), kind_name(p.kind), p.description.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_lists_sourced_figures() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap();
            let text = render_profile(&p);
            assert!(text.starts_with(name), "{text}");
            for f in profile_figures(&p) {
                assert!(!f.source.is_empty(), "{name}: {}", f.key);
                assert!(text.contains(&f.key));
            }
        }
        let bf2 = Profile::builtin("bluefield-2").unwrap();
        let figs = profile_figures(&bf2);
        let zstd = figs.iter().find(|f| f.key == "cores.compress_bytes_per_s.zstd").unwrap();
        assert_eq!((zstd.value.as_str(), zstd.confidence), ("2.84e8", "measured"));
        assert!(figs.iter().any(|f| f.key == "pcie.lanes" && f.value == "16" && f.confidence == "vendor"));
    }
}
