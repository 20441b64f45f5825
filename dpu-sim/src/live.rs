//! Live emulation: a device thread that runs an [`Engine`] against wall time.
//!
//! The virtual clock starts at zero when the thread starts and advances with the wall
//! clock. A doorbell the thread notices at wall time `w` arrives at virtual time `w`;
//! each completion is held until the wall clock reaches its modelled time, so the host
//! sees it no earlier than the modelled device would have produced it, and host-side
//! behaviour (queue depth, polling, batching) plays out as it would against the device.
//!
//! When functional execution (the real kernels on this machine's CPU) is slower than the
//! model, completions go out late: the engine counts them and the largest and total lag
//! ([`EngineStats::late_completions`], `max_lag_ns`), and a report must show it as
//! "simulator lag" rather than present the modelled figure as what the host saw.
//!
//! The host's `--device sim-paced` (`host/src/thread_device.rs`) runs the engine in this
//! mode on a thread of its own that parks when idle and wakes the host when it posts; this
//! is the minimal stand-alone form, for the engine's own tests.

#![forbid(unsafe_code)]

use crate::engine::{ClockMode, Engine, EngineError, EngineStats};
use crate::timing::SimTime;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running device thread.
pub struct LiveDevice {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Engine>>,
    epoch: Instant,
}

impl LiveDevice {
    /// Starts the device thread. The engine must be configured with [`ClockMode::Live`].
    pub fn spawn(engine: Engine) -> Result<LiveDevice, EngineError> {
        if engine.config().clock != ClockMode::Live {
            return Err(EngineError::Config("a live device needs an engine with ClockMode::Live".into()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let epoch = Instant::now();
        let handle = std::thread::Builder::new()
            .name(format!("dpu-{}", engine.profile().name))
            .spawn(move || run(engine, epoch, &stop2))
            .map_err(|e| EngineError::Config(format!("cannot start the device thread: {e}")))?;
        Ok(LiveDevice { stop, handle: Some(handle), epoch })
    }

    /// Wall time of virtual time zero.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Stops the thread and returns the engine with its statistics. Completions still
    /// held are dropped with the device (the host has stopped listening).
    pub fn stop(mut self) -> Engine {
        self.stop.store(true, Ordering::Release);
        let handle = self.handle.take().expect("joined once");
        match handle.join() {
            Ok(engine) => engine,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for LiveDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(mut engine: Engine, epoch: Instant, stop: &AtomicBool) -> Engine {
    let mut idle_polls = 0u32;
    while !stop.load(Ordering::Acquire) {
        let out = engine.poll_with(&mut || SimTime::from_ns(epoch.elapsed().as_nanos() as u64));
        let now = SimTime::from_ns(epoch.elapsed().as_nanos() as u64);
        if out.fetched > 0 || out.posted > 0 {
            idle_polls = 0;
            continue;
        }
        idle_polls = idle_polls.saturating_add(1);
        // Spin while something is due soon or work just stopped; then back off so an idle
        // device does not take a core from the host (this machine may have only two).
        let due_soon = out.next_due.is_some_and(|t| t.as_ns() <= now.as_ns() + 20_000);
        if due_soon || idle_polls < 64 {
            std::hint::spin_loop();
        } else if idle_polls < 1024 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    engine
}

/// Lag summary for reports.
pub fn lag_summary(stats: &EngineStats) -> String {
    if stats.late_completions == 0 {
        "no simulator lag".to_owned()
    } else {
        format!(
            "simulator lag: {} completions late, max {:.1} us, mean {:.1} us",
            stats.late_completions,
            stats.max_lag_ns as f64 / 1e3,
            stats.total_lag_ns as f64 / 1e3 / stats.late_completions as f64
        )
    }
}
