//! Number formatting shared by the renderers: binary-prefixed sizes and rates (the way
//! fio prints them), durations scaled to their magnitude, and the source tags.

#![forbid(unsafe_code)]

use crate::result::{Figure, Source, Unit};

/// The tag a table prints after a figure.
pub fn source_tag(source: Source) -> &'static str {
    match source {
        Source::Measured => "[meas]",
        Source::Modelled => "[model]",
    }
}

const KIB: f64 = 1024.0;

/// `1.50 GiB`, `64 KiB`, `512 B`: powers of 1024, three significant digits.
pub fn fmt_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut i = 0;
    while v >= KIB && i + 1 < units.len() {
        v /= KIB;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{} {}", sig3(v), units[i])
    }
}

/// `2.79 GiB/s`, `850 MiB/s`.
pub fn fmt_rate(bytes_per_s: f64) -> String {
    if !bytes_per_s.is_finite() {
        return "n/a".into();
    }
    let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"];
    let mut v = bytes_per_s;
    let mut i = 0;
    while v.abs() >= KIB && i + 1 < units.len() {
        v /= KIB;
        i += 1;
    }
    format!("{} {}", sig3(v), units[i])
}

/// `850 ns`, `12.3 us`, `4.56 ms`, `1.20 s`.
pub fn fmt_duration_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "n/a".into();
    }
    let (v, unit) = if ns.abs() < 1e3 {
        (ns, "ns")
    } else if ns.abs() < 1e6 {
        (ns / 1e3, "us")
    } else if ns.abs() < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(v))
}

/// A 0..=1 fraction as a percentage: `42.0%`, `0.53%`, `<0.01%`.
pub fn fmt_pct(fraction: f64) -> String {
    let pct = fraction * 100.0;
    if pct > 0.0 && pct < 0.01 {
        "<0.01%".into()
    } else {
        format!("{}%", sig3(pct))
    }
}

/// Three significant digits, no exponent: 1.23, 12.3, 123, 1234.
pub(crate) fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.2e}")
    }
}

/// A figure's value in its unit, without the source tag.
pub fn fmt_value(f: &Figure) -> String {
    match f.unit {
        Unit::Bytes => fmt_bytes(f.value.max(0.0) as u64),
        Unit::BytesPerSecond => fmt_rate(f.value),
        Unit::OpsPerSecond => format!("{} op/s", sig3_si(f.value)),
        Unit::Nanoseconds => fmt_duration_ns(f.value),
        Unit::Seconds => fmt_duration_ns(f.value * 1e9),
        Unit::NanosecondsPerByte => format!("{} ns/B", sig3(f.value)),
        Unit::Ratio => format!("{}x", sig3(f.value)),
        Unit::Cores => format!("{} cores", sig3(f.value)),
        // Counts (and digests stored as counts) are exact integers; rounding would hide them.
        Unit::Count if f.value.fract() == 0.0 && f.value.abs() < 1e15 => format!("{:.0}", f.value),
        Unit::Count => sig3(f.value),
    }
}

/// The tag of a figure: its source, and `emulator` when measured against the emulator.
pub fn figure_tag(source: Source, emulator: bool) -> String {
    let tag = source_tag(source);
    if emulator {
        format!("{} [emulator]", tag)
    } else {
        tag.to_string()
    }
}

/// A figure with its source tag: `2.79 GiB/s [model]`, `310 MiB/s [meas] [emulator]`.
pub fn fmt_figure(f: &Figure) -> String {
    format!("{} {}", fmt_value(f), figure_tag(f.source, f.emulator))
}

/// Decimal SI prefixes for counts and op rates: 1.23k, 4.56M.
fn sig3_si(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", sig3(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", sig3(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", sig3(v / 1e3))
    } else {
        sig3(v)
    }
}

/// Escapes text for HTML and SVG (element content and attribute values).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_rates_and_durations() {
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(64 << 10), "64 KiB");
        assert_eq!(fmt_bytes(3 << 29), "1.50 GiB");
        assert_eq!(fmt_rate(2.5 * 1024.0 * 1024.0 * 1024.0), "2.50 GiB/s");
        assert_eq!(fmt_rate(850.0 * 1024.0 * 1024.0), "850 MiB/s");
        assert_eq!(fmt_duration_ns(850.0), "850 ns");
        assert_eq!(fmt_duration_ns(12_345.0), "12.3 us");
        assert_eq!(fmt_duration_ns(1.2e9), "1.20 s");
        assert_eq!(fmt_figure(&Figure::modelled(0.5, Unit::Cores)), "0.50 cores [model]");
        assert_eq!(fmt_figure(&Figure::measured(20_000.0, Unit::OpsPerSecond)), "20.0k op/s [meas]");
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
