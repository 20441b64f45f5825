//! The HTML report renders in a real browser: headless Chromium (Debian package
//! `chromium`) screenshots `report.html` from a real `dpukit compare`; the PNG must not be
//! blank, and the DOM Chromium built must hold every chart as an SVG element.

#[path = "../host/tests/common/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile_dir: &Path, extra: &[String], page: &Path) -> std::process::Output {
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

fn report_html(dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(["compare", "--size", "4m", "--chunk", "256k", "--nodes", "2", "--quiet", "--out-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpukit compare: {}", String::from_utf8_lossy(&out.stderr));
    dir.join("report.html").canonicalize().unwrap()
}

#[test]
fn report_html_renders_its_charts_in_headless_chromium() {
    let test = "report_html_renders_its_charts_in_headless_chromium";
    if !tools::available(
        test,
        "Chromium (/usr/bin/chromium, Debian package `chromium`)",
        Path::new(CHROMIUM).exists(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = report_html(&dir.path().join("out"));

    let shot = dir.path().join("shot.png");
    let out = chromium(
        &dir.path().join("profile-shot"),
        &[format!("--screenshot={}", shot.display()), "--window-size=1200,1600".into()],
        &page,
    );
    assert!(shot.is_file(), "no screenshot; chromium said: {}", String::from_utf8_lossy(&out.stderr));

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG fits in memory")];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 1600));
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let background = &pixels[..channels];
    let total = (info.width * info.height) as usize;
    let differing = pixels
        .chunks_exact(channels)
        .filter(|p| p.iter().zip(background).any(|(a, b)| a.abs_diff(*b) > 24))
        .count();
    // Text alone is ~2-3% of a page; the bars, hatching and CDF lines push it well past that.
    let share = differing as f64 / total as f64;
    assert!(share > 0.04, "screenshot is nearly blank: {:.2}% non-background pixels", share * 100.0);
    // The orange of the offload bars and lines is there (host-only pixels would be blue/grey).
    let orange = pixels
        .chunks_exact(channels)
        .filter(|p| p[0] > 200 && (90..150).contains(&p[1]) && p[2] < 80)
        .count();
    assert!(orange > 200, "no orange offload chart pixels ({orange})");

    let out = chromium(&dir.path().join("profile-dom"), &["--dump-dom".into()], &page);
    let dom = String::from_utf8_lossy(&out.stdout);
    for id in ["chart-throughput", "chart-latency-cdf", "chart-utilization"] {
        let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the DOM"));
        let open = dom[..at].rfind('<').unwrap();
        assert!(dom[open..].starts_with("<svg"), "#{id} is not an <svg>");
    }
    assert!(dom.matches("<polyline").count() >= 2, "latency CDF lines missing");
    assert!(dom.contains("class=\"bar bar-measured\"") && dom.contains("class=\"bar bar-modelled\""));
    assert!(dom.contains("id=\"legend\""));
}

/// Measures every SVG text element where Chromium laid it out and writes one line per text
/// (chart id, box, the chart's size, the text) into a `<pre>` that `--dump-dom` returns.
/// Appended to a copy of the page: the report itself carries no script.
const MEASURE: &str = r#"<script>
const rows = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const vb = svg.viewBox.baseVal;
  for (const t of svg.querySelectorAll('text')) {
    const b = t.getBBox();
    const turned = t.hasAttribute('transform') ? 1 : 0;
    rows.push([svg.id, b.x, b.y, b.width, b.height, vb.width, vb.height, turned, t.textContent].join('\t'));
  }
}
const pre = document.createElement('pre');
pre.id = 'measured';
pre.textContent = rows.join('\n');
document.body.appendChild(pre);
</script>"#;

/// A text element of a chart as Chromium laid it out.
struct Text {
    chart: String,
    x: f64,
    width: f64,
    chart_width: f64,
    turned: bool,
    text: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

#[test]
fn a_sweep_report_labels_what_varied_in_headless_chromium() {
    let test = "a_sweep_report_labels_what_varied_in_headless_chromium";
    if !tools::available(
        test,
        "Chromium (/usr/bin/chromium, Debian package `chromium`)",
        Path::new(CHROMIUM).exists(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(["sweep", "fan-in-read", "--size", "4m", "--nodes", "2", "--quiet", "--mode", "both"])
        .args(["--vary", "chunk=256k,1m", "--vary", "profile=bluefield-2,bluefield-3", "--out-dir"])
        .arg(dir.path().join("sw"))
        .output()
        .unwrap();
    assert!(out.status.success(), "dpukit sweep: {}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.path().join("sw/sweep.html")).unwrap();
    let page = dir.path().join("measured.html");
    std::fs::write(&page, html.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();

    let out = chromium(&dir.path().join("profile"), &["--dump-dom".into()], &page);
    let dom = String::from_utf8_lossy(&out.stdout);
    let start =
        dom.find("<pre id=\"measured\">").expect("the measuring script ran") + "<pre id=\"measured\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let texts: Vec<Text> = dom[start..end]
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(9, '\t').collect();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            Text {
                chart: f[0].into(),
                x: n(1),
                width: n(3),
                chart_width: n(5),
                turned: f[7] == "1",
                text: unescape(f[8]),
            }
        })
        .collect();
    let of =
        |chart: &str| texts.iter().filter(|t| t.chart == chart).map(|t| t.text.as_str()).collect::<Vec<_>>();

    // Nothing runs past its chart's edge (rotated axis titles are measured unrotated).
    for t in texts.iter().filter(|t| !t.turned && !t.text.is_empty()) {
        assert!(
            t.x >= -0.5 && t.x + t.width <= t.chart_width + 0.5,
            "#{}: `{}` spans {:.0}..{:.0} of {:.0} px",
            t.chart,
            t.text,
            t.x,
            t.x + t.width,
            t.chart_width
        );
    }
    // The sweep's bars name every varied knob and the mode.
    let sweep = of("chart-sweep");
    for chunk in ["256k", "1m"] {
        for profile in ["bluefield-2", "bluefield-3"] {
            for mode in ["host", "offload"] {
                let want = format!("chunk={chunk} profile={profile} · {mode}");
                assert!(sweep.contains(&want.as_str()), "no bar `{want}` in {sweep:?}");
            }
        }
    }
    // The run charts name the varied chunk on host bars too, and the profile on offload ones.
    let throughput = of("chart-throughput");
    assert!(throughput.iter().any(|t| t.starts_with("host chunk=256 KiB")), "{throughput:?}");
    assert!(throughput.contains(&"offload (bluefield-3) chunk=1 MiB"), "{throughput:?}");
    assert!(!throughput.contains(&"host"), "a bare `host` bar: {throughput:?}");
    // The keys match the bars: host measured and solid, offload modelled and hatched, and
    // name both profiles.
    for key in ["host mode, measured (solid)", "offload mode, modelled (hatched)"] {
        assert!(sweep.contains(&key) && throughput.contains(&key), "no key `{key}`");
    }
    assert!(sweep.iter().any(|t| t.contains("profiles bluefield-2, bluefield-3")), "{sweep:?}");
    // The CDF has titled axes and its legend names the knobs.
    let cdf = of("chart-latency-cdf");
    assert!(cdf.contains(&"end-to-end latency per chunk (log scale)"), "{cdf:?}");
    assert!(cdf.contains(&"fraction of chunks at or below"), "{cdf:?}");
    assert!(cdf.iter().any(|t| t.starts_with("offload (bluefield-2) chunk=256 KiB: modelled")), "{cdf:?}");
    assert!(cdf.contains(&"1"), "the fraction axis reaches 1: {cdf:?}");
    // The heading does not name one point's chunk for the whole sweep.
    assert!(
        dom.contains("chunk varied") && !dom.contains("| chunk 256 KiB |"),
        "the subtitle names one chunk"
    );
}
