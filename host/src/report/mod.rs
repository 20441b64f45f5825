//! Reports: what a person reads after a run. Renders [`RunResult`]s, [`Comparison`]s and
//! sweeps as a terminal table, CSV, SVG charts and a self-contained HTML page, and renders
//! hardware profiles figure by figure.
//!
//! Every figure carries its [`Source`]; every renderer shows it (a `[meas]`/`[model]` tag in
//! tables, a `_source` column in CSV, solid vs hatched bars and solid vs dashed lines in
//! charts), so nothing modelled is ever read as measured. The command line only parses,
//! calls these functions and prints what they return.

mod csv;
mod format;
mod html;
mod profile;
mod svg;
mod table;

pub use csv::{csv_header, csv_row, render_csv};
pub use format::{fmt_bytes, fmt_duration_ns, fmt_figure, fmt_pct, fmt_rate, source_tag};
pub use html::{render_html, render_sweep_html};
pub use profile::{profile_figures, profile_summary, render_profile, ProfileFigure};
pub use svg::{
    latency_cdf_svg, stack_svg, sweep_svg, throughput_svg, utilization_svg, CHART_LATENCY_CDF, CHART_SWEEP,
    CHART_THROUGHPUT, CHART_UTILIZATION,
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
            .map_err(|e| ReportError::NotJson { file: file.into(), reason: e.to_string() })?;
        let not = |reason: String| ReportError::NotAResult { file: file.into(), reason };
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
    let mut out = csv_header(&s.varied) + "\n";
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
        Some(c) if c.algorithm == "lz4" => "lz4".to_string(),
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
