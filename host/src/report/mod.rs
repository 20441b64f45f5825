//! Reports: what a person reads after a run. Renders [`RunResult`]s, [`Comparison`]s and
//! sweeps as a terminal table, CSV, SVG charts and a self-contained HTML page, and renders
//! hardware profiles figure by figure.
//!
//! Every figure carries its [`Source`]; every renderer shows it (a `[meas]`/`[model]` tag in
//! tables, a `_source` column in CSV, solid vs hatched bars and solid vs dashed lines in
//! charts), so nothing modelled is ever read as measured. The command line only parses,
//! calls these functions and prints what they return.

#![forbid(unsafe_code)]

mod accel;
mod csv;
mod format;
mod html;
mod profile;
mod sensitivity;
mod svg;
mod table;

pub use accel::{
    accel_config_line, render_accel_csv, render_accel_side, render_accel_sweep_csv, render_accel_sweep_table,
    render_accel_table, AccelSweep, AccelSweepPoint,
};
pub use csv::{csv_comment, csv_header, csv_row, render_csv, render_timeline_csv};
pub use format::{fmt_bytes, fmt_duration_ns, fmt_figure, fmt_pct, fmt_rate, source_tag};
pub use html::{render_html, render_sweep_html};
pub use profile::{profile_figures, profile_summary, render_profile, ProfileFigure};
pub use sensitivity::{render_scenario_figures, sensitivity_lines};
pub use svg::{
    latency_cdf_svg, stack_svg, sweep_svg, throughput_svg, timeline_svg, utilization_svg, CHART_LATENCY_CDF,
    CHART_SWEEP, CHART_THROUGHPUT, CHART_TIMELINE, CHART_UTILIZATION,
};
pub use table::{render_comparison_table, render_run_table, render_sweep_table};

use crate::result::{Comparison, RunResult, Source, RESULT_SCHEMA_VERSION};
use serde::{Deserialize, Serialize};

/// A result file that is not a dpukit result this code can read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{file}: not JSON: {reason}")]
    NotJson { file: String, reason: String },
    #[error("{file}: not a dpukit result ({reason})")]
    NotAResult { file: String, reason: String },
    #[error("{file}: result schema version {found} is not supported (this dpukit reads {supported})")]
    Version { file: String, found: u64, supported: u32 },
}

/// One knob value of a sweep point, as the user wrote it (`chunk` = `64k`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepValue {
    pub knob: String,
    pub value: String,
}

/// One run of a sweep and the knob values that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub values: Vec<SweepValue>,
    pub result: RunResult,
}

/// A sweep: the cross product of the varied knobs, one run per point and mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub schema_version: u32,
    /// Knobs varied, in the order given on the command line.
    pub varied: Vec<String>,
    pub points: Vec<SweepPoint>,
}

impl SweepPoint {
    /// `chunk=64k profile=bluefield-3`: the point's label in tables and charts.
    pub fn label(&self) -> String {
        self.values.iter().map(|v| format!("{}={}", v.knob, v.value)).collect::<Vec<_>>().join(" ")
    }
}

/// A parsed result file: one run, a comparison or a sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Run(Box<RunResult>),
    Comparison(Box<Comparison>),
    Sweep(Box<Sweep>),
}

impl Document {
    /// Parses a result file's text; `file` names it in errors. Tells a dpukit result from
    /// any other JSON by its shape before deserializing, so the error says what is wrong.
    pub fn parse(text: &str, file: &str) -> Result<Document, ReportError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ReportError::NotJson { file: file.into(), reason: one_line(&e.to_string()) })?;
        let not = |reason: String| ReportError::NotAResult { file: file.into(), reason: one_line(&reason) };
        let obj = value.as_object().ok_or_else(|| not("the document is not a JSON object".into()))?;
        let version = obj
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| not("no `schema_version`".into()))?;
        if version != u64::from(RESULT_SCHEMA_VERSION) {
            return Err(ReportError::Version {
                file: file.into(),
                found: version,
                supported: RESULT_SCHEMA_VERSION,
            });
        }
        let invalid = |what: &str, e: serde_json::Error| not(format!("invalid {what}: {e}"));
        if obj.contains_key("host") && obj.contains_key("offload") {
            serde_json::from_value(value)
                .map(|c| Document::Comparison(Box::new(c)))
                .map_err(|e| invalid("comparison", e))
        } else if obj.contains_key("points") && obj.contains_key("varied") {
            serde_json::from_value(value)
                .map(|s| Document::Sweep(Box::new(s)))
                .map_err(|e| invalid("sweep", e))
        } else if obj.contains_key("mode") && obj.contains_key("scenario") {
            serde_json::from_value(value)
                .map(|r| Document::Run(Box::new(r)))
                .map_err(|e| invalid("run result", e))
        } else {
            Err(not("neither a run result, a comparison nor a sweep".into()))
        }
    }

    /// Every run in the document, in order (host before offload).
    pub fn runs(&self) -> Vec<&RunResult> {
        match self {
            Document::Run(r) => vec![r],
            Document::Comparison(c) => vec![&c.host, &c.offload],
            Document::Sweep(s) => s.points.iter().map(|p| &p.result).collect(),
        }
    }
}

/// A parser's message as one line: a control character it quotes from the file (a newline
/// inside a string the file has where a name belongs) is shown escaped, so an error is
/// printed as one line.
fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The provenance of `runs` as `key: value` lines: the first run's in full, then for each
/// later run only what differs from it, named by the run's mode and profile.
pub fn provenance_lines(runs: &[&RunResult]) -> Vec<String> {
    let with: Vec<(&RunResult, Vec<(&'static str, String)>)> =
        runs.iter().filter_map(|r| r.provenance.as_ref().map(|p| (*r, p.lines()))).collect();
    let Some((_, first)) = with.first() else { return Vec::new() };
    let mut out: Vec<String> = first.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let mut seen: Vec<String> = Vec::new();
    for (r, lines) in &with[1..] {
        for (k, v) in lines {
            if first.iter().any(|(k0, v0)| k0 == k && v0 == v) {
                continue;
            }
            let line = format!("{k} ({} {}): {v}", r.mode.name(), r.profile);
            if !seen.contains(&line) {
                seen.push(line.clone());
                out.push(line);
            }
        }
    }
    out
}

/// The provenance of every document's runs, under a heading naming each (`names[i]`, the
/// file it came from).
pub fn render_provenance(docs: &[Document], names: &[String]) -> String {
    let mut out = String::new();
    for (d, name) in docs.iter().zip(names) {
        let lines = provenance_lines(&d.runs());
        out.push_str(&format!("\nprovenance of {name}:\n"));
        if lines.is_empty() {
            out.push_str("  (none recorded: the result predates provenance)\n");
        }
        for l in lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out
}

/// The documents as JSON, fields in the order they are written: one document as it is,
/// several as an array.
pub fn render_json(docs: &[Document]) -> String {
    let one = |d: &Document| {
        match d {
            Document::Run(r) => serde_json::to_string_pretty(r),
            Document::Comparison(c) => serde_json::to_string_pretty(c),
            Document::Sweep(s) => serde_json::to_string_pretty(s),
        }
        // A document parsed from JSON serializes again; a failure would be a bug.
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    };
    match docs {
        [d] => one(d) + "\n",
        _ => format!("[\n{}\n]\n", docs.iter().map(one).collect::<Vec<_>>().join(",\n")),
    }
}

/// Every document as a terminal table, separated by blank lines.
pub fn render_tables(docs: &[Document]) -> String {
    let tables: Vec<String> = docs
        .iter()
        .map(|d| match d {
            Document::Run(r) => render_run_table(r),
            Document::Comparison(c) => render_comparison_table(c),
            Document::Sweep(s) => render_sweep_table(s),
        })
        .collect();
    tables.join("\n")
}

/// Every document's runs as CSV; a single sweep keeps its varied knobs as leading columns.
pub fn render_docs_csv(docs: &[Document]) -> String {
    match docs {
        [Document::Sweep(s)] => render_sweep_csv(s),
        _ => render_csv(docs.iter().flat_map(|d| d.runs())),
    }
}

/// A sweep as CSV: the varied knobs (as written) first, then the run columns.
pub fn render_sweep_csv(s: &Sweep) -> String {
    let mut out = csv_comment(s.points.iter().map(|p| &p.result)) + &csv_header(&s.varied) + "\n";
    for p in &s.points {
        let values: Vec<String> = p.values.iter().map(|v| v.value.clone()).collect();
        out.push_str(&csv_row(&p.result, &values));
        out.push('\n');
    }
    out
}

/// The charts of every document stacked into one SVG: sweeps first, then throughput,
/// latency CDF and modelled utilization over all runs.
pub fn render_svg(docs: &[Document]) -> String {
    let runs: Vec<&RunResult> = docs.iter().flat_map(|d| d.runs()).collect();
    let mut charts: Vec<String> = Vec::new();
    for d in docs {
        if let Document::Sweep(s) = d {
            let n = charts.len();
            let c = sweep_svg(s);
            // Ids must stay unique in one document.
            charts.push(if n == 0 { c } else { c.replace(CHART_SWEEP, &format!("{CHART_SWEEP}-{}", n + 1)) });
        }
    }
    charts.push(throughput_svg(&runs));
    charts.extend(timeline_svg(&runs));
    charts.push(latency_cdf_svg(&runs));
    if runs.iter().any(|r| r.device.is_some()) {
        charts.push(utilization_svg(&runs));
    }
    stack_svg(&charts)
}

/// A one-line description of the scenario knobs of a run, for headings.
pub fn scenario_line(r: &RunResult) -> String {
    let s = &r.scenario;
    let compression = match &s.compression {
        Some(c) if c.algorithm == dpukit_ffi::Algorithm::Lz4 => "lz4".to_string(),
        Some(c) => format!("{}:{}", c.algorithm, c.level),
        None => "none".into(),
    };
    // The KV cache is sized by requests and blocks, not by object and chunk size.
    let shape = match s.kind {
        crate::spec::ScenarioKind::KvCache => format!(
            "requests {} | block {} ({} tokens)",
            s.kv_requests,
            fmt_bytes(s.kv_shape.block_bytes()),
            s.kv_shape.block_tokens
        ),
        _ => format!(
            "size {} | chunk {}",
            fmt_bytes(s.object_size_bytes),
            fmt_bytes(u64::from(s.chunk_size_bytes))
        ),
    };
    format!(
        "{} | nodes {} | {shape} | qd {} | compress {} | seed {}",
        s.kind.name(),
        s.nodes,
        s.queue_depth,
        compression,
        r.seed
    )
}

/// The scenario line of several runs: parts on which they agree as `scenario_line` writes
/// them, a part they differ on as `chunk varied`, so a heading never names one run's value
/// for all of them.
pub fn common_scenario_line(runs: &[&RunResult]) -> String {
    let lines: Vec<String> = runs.iter().map(|r| scenario_line(r)).collect();
    if lines.is_empty() {
        return String::new();
    }
    let parts: Vec<Vec<&str>> = lines.iter().map(|l| l.split(" | ").collect()).collect();
    if parts.iter().any(|p| p.len() != parts[0].len()) {
        return format!("{} runs of different scenarios", runs.len());
    }
    let mut out: Vec<String> = Vec::new();
    for (i, part) in parts[0].iter().enumerate() {
        if parts.iter().all(|p| p[i] == *part) {
            out.push(part.to_string());
        } else {
            let name = part.split(' ').next().unwrap_or(part);
            out.push(format!("{name} varied"));
        }
    }
    out.join(" | ")
}

/// A label for each run that names its mode and every knob on which the runs differ
/// (`host chunk=64 KiB`, `offload bluefield-3 chunk=1 MiB`); the profile is named for
/// offload runs only, as host mode does not use it.
pub fn run_labels(runs: &[&RunResult]) -> Vec<String> {
    let knobs: Vec<Vec<(String, String)>> = runs.iter().map(|r| knob_values(r)).collect();
    let labels: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut label = match r.mode {
                crate::result::Mode::Host => "host".to_string(),
                crate::result::Mode::Offload => format!("offload ({})", r.profile),
            };
            for (k, (name, value)) in knobs[i].iter().enumerate() {
                if knobs.iter().any(|other| other.get(k).map(|(_, v)| v) != Some(value)) {
                    label.push_str(&format!(" {name}={value}"));
                }
            }
            label
        })
        .collect();
    // Host runs that differ only by the (unused) profile: say which point each stands for.
    labels
        .iter()
        .zip(runs)
        .map(|(l, r)| {
            if labels.iter().filter(|m| *m == l).count() > 1 {
                format!("{l} (for {})", r.profile)
            } else {
                l.clone()
            }
        })
        .collect()
}

/// The scenario knobs of a run, named as on the command line, in a fixed order.
fn knob_values(r: &RunResult) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&r.scenario) else { return v };
    for (key, value) in map {
        if matches!(key.as_str(), "work_dir" | "blob" | "blob_options") {
            continue;
        }
        let text = match (&value, key.ends_with("_bytes")) {
            (serde_json::Value::Number(n), true) => {
                n.as_u64().map(fmt_bytes).unwrap_or_else(|| n.to_string())
            }
            (serde_json::Value::String(s), _) => s.clone(),
            (serde_json::Value::Null, _) => "none".into(),
            (serde_json::Value::Object(o), _) if o.contains_key("algorithm") => format!(
                "{}:{}",
                o["algorithm"].as_str().unwrap_or("?"),
                o.get("level").map(|l| l.to_string()).unwrap_or_default()
            ),
            (other, _) => other.to_string(),
        };
        let name = key.trim_end_matches("_bytes").replace('_', "-");
        let name = match name.as_str() {
            "chunk-size" => "chunk".to_string(),
            "object-size" => "size".to_string(),
            _ => name,
        };
        v.push((name, text));
    }
    v
}

/// The legend every report prints once: what the tags mean.
pub fn legend(profile: &str) -> String {
    format!(
        "{} measured on this machine; {} modelled by the simulator from profile `{profile}`",
        source_tag(Source::Measured),
        source_tag(Source::Modelled)
    )
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `result` fuzz target: a figure read from a result file, written again
    /// and read back, changed by one ulp (20976233.789254876 read as ...88, which reads
    /// back as ...878), so a document did not survive its own round trip.
    #[test]
    fn a_figure_survives_a_round_trip_exactly() {
        for text in ["20976233.789254876", "20976233.78925488"] {
            let value: f64 = serde_json::from_str(text).unwrap();
            let again: f64 = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
            assert_eq!(again.to_bits(), value.to_bits(), "{text}");
        }
    }

    /// Found by the `result` fuzz target: a name with a newline in it (`"f\n-out-write"`
    /// where a scenario kind belongs) came back quoted in the parser's message, and the
    /// error took two lines.
    #[test]
    fn a_newline_quoted_from_the_file_keeps_the_error_on_one_line() {
        let c = testdata::comparison();
        let text = serde_json::to_string(&c).unwrap().replacen("\"fan-out-write\"", "\"f\\n-out-write\"", 1);
        assert!(text.contains("f\\n-out-write"), "the test's document has no scenario kind to change");
        let e = Document::parse(&text, "c.json").unwrap_err().to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("f\\n-out-write"), "{e}");
    }

    #[test]
    fn parse_tells_documents_apart() {
        let c = testdata::comparison();
        let text = serde_json::to_string(&c).unwrap();
        assert!(matches!(Document::parse(&text, "c.json").unwrap(), Document::Comparison(_)));
        let text = serde_json::to_string(&c.host).unwrap();
        let doc = Document::parse(&text, "r.json").unwrap();
        assert_eq!(doc.runs().len(), 1);
        let sweep = testdata::sweep();
        let text = serde_json::to_string(&sweep).unwrap();
        assert_eq!(Document::parse(&text, "s.json").unwrap().runs().len(), sweep.points.len());
    }

    #[test]
    fn parse_errors_name_the_file_and_the_problem() {
        let cases = [
            ("{", "not JSON"),
            ("[1]", "not a JSON object"),
            ("{\"a\":1}", "no `schema_version`"),
            ("{\"schema_version\":99}", "version 99"),
            ("{\"schema_version\":1,\"x\":2}", "neither"),
            ("{\"schema_version\":1,\"mode\":\"host\",\"scenario\":{}}", "invalid run result"),
        ];
        for (text, want) in cases {
            let e = Document::parse(text, "f.json").unwrap_err().to_string();
            assert!(e.starts_with("f.json: ") && e.contains(want), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
