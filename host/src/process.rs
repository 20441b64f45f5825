//! A device in another process (`--device process:CMD [ARGS]`): any program that serves
//! the device side of the C API (`dpu_qp_dev_*`, e.g. `ffi/examples/device.c`) answers this
//! node's queue pair from its own process, over shared memory, the way a DPU sees host
//! memory across PCIe.
//!
//! The offload layer ([`crate::offload`]) owns the shared memory (a `dpukit_ffi::ShmHost`:
//! queue pair and DMA pool) and the host end of its rings; this module owns the program's
//! spec and the running child: started with `DPUKIT_QP` naming the memory, watched
//! ([`Device::health`] reports its exit status), waited for without burning a core
//! ([`Device::wait`]: a short spin, then sleeps), killed and reaped when the host gives up
//! on it or drops it. The memory itself is an anonymous memory file: it goes when the last
//! process mapping it does, on every exit path.
//!
//! What the device runs is learned from its answers: every op is offered to it, and an op
//! it answers `UNKNOWN_OPCODE` (or `BAD_ALGORITHM`) is run on the host CPU, said so, and
//! not offered again (see `crate::offload`). Its completion times are measured: the host's
//! clock when it sees them.

#![forbid(unsafe_code)]

use crate::device::{Device, DeviceClock, DeviceReport};
use dpukit_ffi::{Algorithm, CompletionWatch, Opcode};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable the host sets for the device: entries of its cache index, so a
/// device running the kit's kernels holds as many keys as the host's cache would (and the
/// two modes agree on every hit and miss).
pub const CACHE_ENTRIES_ENV: &str = "DPUKIT_CACHE_ENTRIES";

/// How long [`ProcessDevice::wait`] spins on the completion ring before it sleeps.
const SPIN: Duration = Duration::from_micros(50);
/// Each sleep of [`ProcessDevice::wait`] after the spin.
const NAP: Duration = Duration::from_micros(50);
/// How long a device process is given to exit on its own once the host closed its end,
/// before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// The program of `--device process:CMD [ARGS]`: `CMD` and its arguments, split as a POSIX
/// shell splits words (whitespace, with `'...'`, `"..."` and `\` quoting; no expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program as given (a path, or a name looked up on `PATH`).
    pub program: String,
    pub args: Vec<String>,
}

impl ProcessSpec {
    /// Parses `CMD [ARGS]` (the part after `process:`) and checks that `CMD` names an
    /// executable file, so a typo is one line before any work starts.
    pub fn parse(s: &str) -> Result<ProcessSpec, String> {
        let words = shell_words::split(s).map_err(|e| format!("process:{s}: {e}"))?;
        let Some((program, args)) = words.split_first() else {
            return Err("process: needs a program: --device process:CMD [ARGS]".into());
        };
        let spec = ProcessSpec { program: program.clone(), args: args.to_vec() };
        spec.executable()?;
        Ok(spec)
    }

    /// The file the program names: a path as given, or the first executable of that name
    /// on `PATH`; an error naming the program and why.
    pub fn executable(&self) -> Result<PathBuf, String> {
        let p = &self.program;
        if p.contains('/') {
            return check_executable(Path::new(p)).map(|()| PathBuf::from(p));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(p))
            .find(|c| check_executable(c).is_ok())
            .ok_or_else(|| format!("device program `{p}` not found on PATH"))
    }

    /// The form `--device` takes.
    pub fn spec(&self) -> String {
        let mut words = vec![self.program.clone()];
        words.extend(self.args.iter().cloned());
        format!("process:{}", shell_words::join(words))
    }
}

fn check_executable(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(p).map_err(|e| format!("device program `{}`: {e}", p.display()))?;
    if !meta.is_file() {
        return Err(format!("device program `{}` is not a file", p.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("device program `{}` is not executable", p.display()));
    }
    Ok(())
}

/// A device process serving one node's shared queue pair.
pub struct ProcessDevice {
    spec: ProcessSpec,
    child: Option<Child>,
    /// How the child ended, once it has (kept for `health`).
    exited: Option<String>,
    watch: CompletionWatch,
}

impl ProcessDevice {
    /// Starts `spec`'s program on the shared queue pair of `host` (its stdout goes to this
    /// process's stderr, so it can never mix into a result printed on stdout).
    pub fn start(
        spec: &ProcessSpec,
        host: &dpukit_ffi::ShmHost,
        cache_entries: usize,
    ) -> Result<ProcessDevice, String> {
        let exe = spec.executable()?;
        let mut cmd = Command::new(&exe);
        cmd.args(&spec.args)
            .env(CACHE_ENTRIES_ENV, cache_entries.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()));
        let child = host
            .start_device(cmd)
            .map_err(|e| format!("cannot start device program `{}`: {e}", exe.display()))?;
        Ok(ProcessDevice {
            spec: spec.clone(),
            child: Some(child),
            exited: None,
            watch: host.completion_watch(),
        })
    }

    /// Kills and reaps the child (if it still runs); idempotent.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Device for ProcessDevice {
    fn name(&self) -> String {
        format!("{} (device process)", self.spec.spec())
    }

    fn clock(&self) -> DeviceClock {
        DeviceClock::Measured
    }

    /// Every op is offered; what the device does not run it answers `UNKNOWN_OPCODE`.
    fn supports(&self, _: Opcode, _: Option<Algorithm>) -> bool {
        true
    }

    fn progress(&mut self, _: u64) {}

    fn pending(&self) -> usize {
        0
    }

    /// Host-side counts are filled in by the offload layer (the device reports nothing).
    fn report(&self) -> DeviceReport {
        DeviceReport::default()
    }

    fn runs_on_its_own(&self) -> bool {
        true
    }

    fn wait(&mut self, timeout: Duration) {
        let start = Instant::now();
        while !self.watch.posted() {
            let waited = start.elapsed();
            if waited >= timeout {
                return;
            }
            if waited < SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(NAP.min(timeout - waited));
            }
        }
    }

    fn health(&mut self) -> Result<(), String> {
        if let Some(why) = &self.exited {
            return Err(why.clone());
        }
        let Some(child) = self.child.as_mut() else { return Err("process was stopped".into()) };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                // Reaped by try_wait: nothing left to kill.
                self.child = None;
                let why = format!("process `{}` exited ({status})", self.spec.program);
                self.exited = Some(why.clone());
                Err(why)
            }
            Err(e) => Err(format!("process `{}` cannot be watched: {e}", self.spec.program)),
        }
    }

    fn stop(&mut self) {
        self.kill();
    }
}

impl Drop for ProcessDevice {
    /// A device that is still running is given a moment to see the host close its end
    /// (the offload layer drops the shared memory's host end first), then killed; either
    /// way it is reaped, so no process outlives the run.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let until = Instant::now() + EXIT_GRACE;
            while Instant::now() < until {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    self.child = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_is_split_as_a_shell_would_and_checked_before_work() {
        let s = ProcessSpec::parse("/bin/sh -c 'exit 0'").unwrap();
        assert_eq!(s.program, "/bin/sh");
        assert_eq!(s.args, ["-c", "exit 0"]);
        assert_eq!(s.spec(), "process:/bin/sh -c 'exit 0'");
        assert!(ProcessSpec::parse("sh").unwrap().executable().unwrap().ends_with("sh"));
        let e = ProcessSpec::parse("/nonexistent/dev").unwrap_err();
        assert!(e.contains("/nonexistent/dev") && !e.contains('\n'), "{e}");
        let plain = tempfile::NamedTempFile::new().unwrap();
        let e = ProcessSpec::parse(&plain.path().display().to_string()).unwrap_err();
        assert!(e.contains("not executable"), "{e}");
        let e = ProcessSpec::parse("/tmp").unwrap_err();
        assert!(e.contains("not a file"), "{e}");
        assert!(ProcessSpec::parse("").unwrap_err().contains("needs a program"));
        assert!(ProcessSpec::parse("dev 'unclosed").is_err());
        assert!(ProcessSpec::parse("no-such-device-program-here").unwrap_err().contains("not found on PATH"));
    }
}
