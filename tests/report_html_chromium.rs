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
