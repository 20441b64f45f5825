//! The HTML report: one self-contained page (inline CSS and SVG; no scripts, fonts,
//! images or links to fetch) with the summary tables, the charts and a legend saying
//! which figures are measured and which modelled. Opens offline, prints, mails.

#![forbid(unsafe_code)]

use super::format::{esc, fmt_duration_ns, fmt_rate};
use super::sensitivity::{effect_pct, perturbation, ranges, shown};
use super::svg::{latency_cdf_svg, sweep_svg, throughput_svg, timeline_svg, utilization_svg, CHART_SWEEP};
use super::table::{comparison_body, note_lines, run_body, sweep_body};
use super::{common_scenario_line, provenance_lines, scenario_line, Document, Sweep};
use crate::result::RunResult;
use crate::sensitivity::{Sensitivity, SMALL_EFFECT};
use std::fmt::Write;

const CSS: &str = "body{font-family:sans-serif;margin:24px;color:#1a202c;max-width:1100px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\
.sub{color:#4a5568;margin:0 0 16px}\
table{border-collapse:collapse;margin:8px 0}\
th,td{border:1px solid #cbd5e0;padding:4px 10px;text-align:left;font-size:13px;vertical-align:top;white-space:nowrap}\
th{background:#edf2f7}\
.tag{display:inline-block;border-radius:3px;padding:0 4px;font-size:11px;margin-left:4px}\
.meas{background:#c6f6d5;color:#22543d}.model{background:#feebc8;color:#7b341e}\
.emulator{background:#e9d8fd;color:#44337a}\
.legend-box{border:1px solid #cbd5e0;background:#f7fafc;padding:8px 12px;margin:12px 0;font-size:13px}\
.chart{display:block;margin:10px 0;border:1px solid #e2e8f0}\
ul.notes{font-size:13px;color:#4a5568}\
.assumed{background:#fed7d7;color:#742a2a}\
.assumed-line{font-weight:bold;color:#742a2a}";

/// A table cell: escaped, with the `[meas]`/`[model]` tags turned into coloured badges.
fn cell(text: &str) -> String {
    esc(text)
        .replace("[meas]", "<span class=\"tag meas\">measured</span>")
        .replace("[model]", "<span class=\"tag model\">modelled</span>")
        .replace("[emulator]", "<span class=\"tag emulator\">emulator</span>")
}

fn table(header: &[String], body: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in body {
        s.push_str("<tr>");
        for c in row {
            let _ = write!(s, "<td>{}</td>", cell(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn notes(runs: &[&RunResult]) -> String {
    let lines: Vec<String> = runs.iter().flat_map(|r| note_lines(r)).collect();
    if lines.is_empty() {
        return String::new();
    }
    let items: String = lines.iter().map(|l| format!("<li>{}</li>", esc(l))).collect();
    format!("<ul class=\"notes\">{items}</ul>")
}

fn legend_box(profiles: &str) -> String {
    format!(
        "<div class=\"legend-box\" id=\"legend\"><b>How to read this page.</b> \
         <span class=\"tag meas\">measured</span> figures were measured on this machine during the run \
         (solid bars, solid lines). <span class=\"tag model\">modelled</span> figures come from the \
         simulator's timing model for profile {} (hatched bars, dashed lines). In offload mode the \
         throughput and latency are modelled from measured host-side time and modelled device time; \
         host CPU figures are always measured. Blue is host mode, orange offload mode, purple a modelled \
         device resource; a heavy outline marks the bottleneck. \
         <span class=\"tag emulator\">emulator</span> marks figures measured against the Azure Storage \
         emulator (Azurite): they say nothing of Azure's own speed.</div>",
        esc(profiles)
    )
}

fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{CSS}</style></head><body>\
         <h1>{t}</h1><p class=\"sub\">{sub}</p>{body}</body></html>\n",
        t = esc(title),
        sub = esc(subtitle),
    )
}

/// The page for any set of result documents: charts over every run in them, then each
/// document's table. A single comparison gives the host-vs-offload report.
pub fn render_html(docs: &[Document]) -> String {
    let runs: Vec<&RunResult> = docs.iter().flat_map(|d| d.runs()).collect();
    let mut profiles: Vec<&str> = Vec::new();
    for r in &runs {
        if !profiles.contains(&r.profile.as_str()) {
            profiles.push(&r.profile);
        }
    }
    let profiles = profiles.join(", ");
    let title = match docs {
        [Document::Comparison(c)] => format!("dpukit: {} host vs offload", c.host.scenario.kind.name()),
        [Document::Sweep(s)] => format!("dpukit sweep over {}", s.varied.join(", ")),
        [Document::Run(r)] => format!("dpukit: {} {}", r.scenario.kind.name(), r.mode.name()),
        _ => format!("dpukit: {} runs", runs.len()),
    };
    let subtitle = common_scenario_line(&runs);
    let mut body = legend_box(&profiles);
    let mut sweeps = 0;
    for d in docs {
        if let Document::Sweep(s) = d {
            body.push_str(&sweep_section(s, sweeps));
            sweeps += 1;
        }
    }
    body.push_str("<h2>Throughput</h2>");
    body.push_str(&throughput_svg(&runs));
    if let Some(chart) = timeline_svg(&runs) {
        body.push_str("<h2>Over time</h2>");
        body.push_str(&chart);
    }
    body.push_str("<h2>Latency</h2>");
    body.push_str(&latency_cdf_svg(&runs));
    body.push_str("<h2>Device utilization</h2>");
    body.push_str(&utilization_svg(&runs));
    for d in docs {
        match d {
            Document::Comparison(c) => {
                let (h, b) = comparison_body(c);
                let _ = write!(
                    body,
                    "<h2>Host vs offload</h2><p class=\"sub\">{}</p>",
                    esc(&scenario_line(&c.host))
                );
                body.push_str(&table(&h, &b));
                body.push_str(&notes(&[&c.host, &c.offload]));
                if let Some(s) = &c.sensitivity {
                    body.push_str(&sensitivity_section(s));
                }
            }
            Document::Run(r) => {
                let (h, b) = run_body(r);
                let _ = write!(
                    body,
                    "<h2>{} run, profile {}</h2><p class=\"sub\">{}</p>",
                    esc(r.mode.name()),
                    esc(&r.profile),
                    esc(&scenario_line(r))
                );
                body.push_str(&table(&h, &b));
                body.push_str(&notes(&[r]));
            }
            Document::Sweep(_) => {}
        }
    }
    if let Some(r) = runs.first() {
        let _ = write!(
            body,
            "<footer><p class=\"sub\">dpukit {} on {} ({} logical CPUs, {}).</p>",
            esc(&r.kit_version),
            esc(&r.machine.cpu_model),
            r.machine.logical_cpus,
            esc(&r.machine.os)
        );
        let lines = provenance_lines(&runs);
        if !lines.is_empty() {
            let items: String = lines.iter().map(|l| format!("<li>{}</li>", esc(l))).collect();
            let _ =
                write!(body, "<h2>Provenance</h2><ul class=\"provenance\" id=\"provenance\">{items}</ul>");
        }
        body.push_str("</footer>");
    }
    page(&title, &subtitle, &body)
}

/// The figures that move the result most, each with its confidence, as a table; the
/// method and selection above it, the assumed-top-driver line below.
fn sensitivity_section(s: &Sensitivity) -> String {
    let b = &s.baseline;
    let mut out = format!(
        "<h2>Sensitivity</h2><p class=\"sub\">{} <span class=\"tag model\">modelled</span> \
         Baseline: speedup {:.2}x, throughput {}, p99 {}, cores freed {:.2}. Perturbed: {}.</p>",
        esc(&s.method),
        b.speedup,
        esc(&fmt_rate(b.throughput_bytes_per_s)),
        esc(&fmt_duration_ns(b.p99_ns)),
        b.host_cores_freed,
        esc(&s.selection)
    );
    if let Some(p) = &s.proxy_baseline {
        let _ = write!(
            out,
            "<p class=\"sub\">Scale mode's own figures for this scenario on this machine: speedup {:.2}x, \
             throughput {}, p99 {}, cores freed {:.2}.</p>",
            p.speedup,
            esc(&fmt_rate(p.throughput_bytes_per_s)),
            esc(&fmt_duration_ns(p.p99_ns)),
            p.host_cores_freed
        );
    }
    let header: Vec<String> =
        ["figure", "confidence", "change", "moves it up to", "speedup", "throughput", "p99", "cores freed"]
            .map(String::from)
            .into();
    let rows: Vec<Vec<String>> = shown(s)
        .iter()
        .map(|f| {
            let [sp, tp, p99, cf] = ranges(f, b);
            vec![
                f.key.clone(),
                f.confidence.clone(),
                perturbation(f, s.fraction),
                effect_pct(f.effect),
                sp,
                tp,
                p99,
                cf,
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("<p>No perturbed figure moves the result.</p>");
    } else {
        out.push_str(
            &table(&header, &rows)
                .replace("<td>assumed</td>", "<td><span class=\"tag assumed\">assumed</span></td>"),
        );
    }
    if let Some(line) = s.assumed_top_driver_line() {
        let _ = write!(out, "<p class=\"assumed-line\">{}</p>", esc(&line));
    } else if s.top_driver().is_some_and(|t| t.effect < SMALL_EFFECT) {
        let _ = write!(
            out,
            "<p>No profile figure moves any headline figure by {} or more: the result rests on the host side, not on the profile.</p>",
            effect_pct(SMALL_EFFECT)
        );
    }
    let hidden = s.figures.len() - shown(s).len();
    if hidden > 0 {
        let _ = write!(out, "<p class=\"sub\">{hidden} more figure(s) in comparison.json.</p>");
    }
    out
}

fn sweep_section(s: &Sweep, index: usize) -> String {
    let mut chart = sweep_svg(s);
    if index > 0 {
        // Element ids must be unique within the page.
        chart = chart.replace(CHART_SWEEP, &format!("{CHART_SWEEP}-{}", index + 1));
    }
    let (h, b) = sweep_body(s);
    format!("<h2>Sweep over {}</h2>{chart}{}", esc(&s.varied.join(", ")), table(&h, &b))
}

/// The page `dpukit sweep` writes: the sweep chart and table first.
pub fn render_sweep_html(s: &Sweep) -> String {
    render_html(&[Document::Sweep(Box::new(s.clone()))])
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    #[test]
    fn page_is_self_contained_and_has_every_chart() {
        let html = render_html(&[Document::Comparison(Box::new(testdata::comparison()))]);
        for id in ["chart-throughput", "chart-latency-cdf", "chart-utilization", "legend"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "missing {id}");
        }
        // Nothing to fetch: the only URL is the SVG namespace name.
        let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for needle in ["http:", "https:", "<script", "<link", "@import", "url(http", "src="] {
            assert!(!without_ns.contains(needle), "found {needle}");
        }
        assert!(html.contains("<span class=\"tag model\">modelled</span>"));
        assert!(html.contains("test data &lt;not a real run&gt;"));
    }

    #[test]
    fn sensitivity_shows_top_rows_with_confidence_and_the_assumed_line() {
        let mut c = testdata::comparison();
        c.sensitivity = Some(testdata::sensitivity(crate::sensitivity::Level::Top));
        let html = render_html(&[Document::Comparison(Box::new(c))]);
        assert!(html.contains("<h2>Sensitivity</h2>"), "{html}");
        assert!(html.contains("<td>cores.compress_bytes_per_s.lz4</td><td><span class=\"tag assumed\">assumed</span></td><td>±25 %</td><td>22 %</td><td>3.10x-4.60x</td>"), "{html}");
        assert!(html.contains("<td>measured</td>"));
        assert!(!html.contains("cores.per_op_fixed_ns"));
        assert!(html.contains("top driver `cores.compress_bytes_per_s.lz4` is assumed"));
        assert!(html.contains("2 more figure(s) in comparison.json"));
        // Without sensitivity, no section.
        let plain = render_html(&[Document::Comparison(Box::new(testdata::comparison()))]);
        assert!(!plain.contains("Sensitivity"));
    }

    #[test]
    fn sweep_page_and_several_sweeps_keep_ids_unique() {
        let s = testdata::sweep();
        let html = render_sweep_html(&s);
        assert!(html.contains("id=\"chart-sweep\""));
        let two = render_html(&[Document::Sweep(Box::new(s.clone())), Document::Sweep(Box::new(s))]);
        assert_eq!(two.matches("id=\"chart-sweep\"").count(), 1);
        assert_eq!(two.matches("id=\"chart-sweep-2\"").count(), 1);
    }
}
