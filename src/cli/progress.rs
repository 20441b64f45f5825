//! Progress on stderr: an indicatif bar (bytes, rate, ETA) on a terminal, a plain line
//! every ~2 s otherwise, nothing with `--quiet`. Nothing shows for the first second, so
//! short runs stay silent.

use dpukit_host::report::fmt_bytes;
use dpukit_host::run::{Progress, ProgressFn};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Nothing is drawn before this much time has passed since the command started.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Interval between plain lines when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

struct Phase {
    label: String,
    mode: &'static str,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

struct State {
    command_started: Instant,
    label: String,
    phase: Option<Phase>,
}

/// The progress display of one command; `callback` gives what the library calls.
pub struct Reporter {
    state: Arc<Mutex<State>>,
    terminal: bool,
    quiet: bool,
}

impl Reporter {
    pub fn new(quiet: bool) -> Reporter {
        Reporter {
            state: Arc::new(Mutex::new(State {
                command_started: Instant::now(),
                label: String::new(),
                phase: None,
            })),
            terminal: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Sets the prefix of what follows (`[3/8] chunk=64k`); empty for none.
    pub fn set_label(&self, label: String) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.label = label;
    }

    /// The callback for `RunOptions::progress`, `None` when quiet.
    pub fn callback(&self) -> Option<ProgressFn> {
        if self.quiet {
            return None;
        }
        let state = Arc::clone(&self.state);
        let terminal = self.terminal;
        Some(Arc::new(move |p: Progress| {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            update(&mut s, p, terminal);
        }))
    }

    /// Clears a bar left on screen.
    pub fn finish(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = s.phase.take().and_then(|p| p.bar) {
            bar.finish_and_clear();
        }
    }
}

fn update(s: &mut State, p: Progress, terminal: bool) {
    let mode = p.mode.name();
    let now = Instant::now();
    let new_phase = match &s.phase {
        Some(ph) => ph.mode != mode || ph.label != s.label,
        None => true,
    };
    if new_phase {
        if let Some(bar) = s.phase.take().and_then(|ph| ph.bar) {
            bar.finish_and_clear();
        }
        s.phase = Some(Phase { label: s.label.clone(), mode, started: now, last_line: now, bar: None });
    }
    let long_enough = s.command_started.elapsed() >= SHOW_AFTER;
    let Some(ph) = s.phase.as_mut() else { return };
    let prefix = if ph.label.is_empty() { mode.to_string() } else { format!("{} {mode}", ph.label) };
    if terminal {
        if ph.bar.is_none() && long_enough {
            ph.bar = Some(new_bar(&prefix, p.bytes_total, p.bytes_done, ph.started.elapsed()));
        }
        if let Some(bar) = &ph.bar {
            bar.set_position(p.bytes_done);
            if p.bytes_total > 0 && p.bytes_done >= p.bytes_total {
                bar.finish_and_clear();
            }
        }
    } else if now.duration_since(ph.last_line) >= LINE_EVERY {
        ph.last_line = now;
        let secs = ph.started.elapsed().as_secs_f64().max(1e-3);
        let rate = p.bytes_done as f64 / secs;
        let mut line = format!("dpukit: {prefix}: {}", fmt_bytes(p.bytes_done));
        if p.bytes_total > 0 {
            let pct = p.bytes_done as f64 * 100.0 / p.bytes_total as f64;
            line.push_str(&format!(" of {} ({pct:.0}%)", fmt_bytes(p.bytes_total)));
        }
        line.push_str(&format!(", {}/s", fmt_bytes(rate as u64)));
        if p.bytes_total > p.bytes_done && rate > 0.0 {
            line.push_str(&format!(", ETA {:.0} s", (p.bytes_total - p.bytes_done) as f64 / rate));
        }
        eprintln!("{line}");
    }
}

/// A bar that starts at `done` (work before the bar appeared does not count as a burst in
/// the rate estimate).
fn new_bar(prefix: &str, total: u64, done: u64, elapsed: Duration) -> ProgressBar {
    let bar = if total > 0 {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            b.set_style(style);
        }
        b
    } else {
        // Work with no byte total (the KV cache counts requests): a spinner.
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{prefix:>10} {spinner} {elapsed}") {
            b.set_style(style);
        }
        b
    };
    bar.set_prefix(prefix.to_string());
    let bar = bar.with_position(done).with_elapsed(elapsed);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
