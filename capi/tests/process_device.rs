//! `--device process:CMD`: the C example device (`ffi/examples/device.c`), built against the
//! installed libdpukit, serves every scenario's queue pairs from its own process over shared
//! memory. Its manifests are byte-identical to the built-in simulator's and to host mode's,
//! with the kit's kernels behind it and without (then the host runs what the device
//! answers `UNKNOWN_OPCODE`, says so, and stops offering it). A device that dies, hangs,
//! answers tags not in flight, statuses or lengths out of range, or writes outside its
//! buffers makes the run fall back to the host CPU with its reason: every result verifies,
//! no device process is left, and the shared memory is gone.

use dpukit_host::device::DeviceChoice;
use dpukit_host::process::ProcessSpec;
use dpukit_host::result::{Mode, RunResult, Source};
use dpukit_host::run::{run_scenario, RunOptions};
use dpukit_host::spec::{CompressionSpec, ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Installs this build's libdpukit into a prefix, once per test binary (as
/// `tests/c_host.rs` does: `cargo test` builds the rlib only).
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let libdir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "dpukit-capi"]);
        if libdir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "cargo build -p dpukit-capi failed");
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dpukit-prefix-process");
        let out = Command::new(repo().join("scripts/install-lib.sh"))
            .arg(&prefix)
            .env("DPUKIT_LIB_DIR", &libdir)
            .output()
            .unwrap();
        assert!(out.status.success(), "install-lib.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        prefix
    })
}

/// `cc ffi/examples/device.c $(pkg-config --cflags --libs dpukit)`, as ffi/README.md says.
fn build_device(name: &str, flags: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let cmd = format!(
        "cc -std=c11 -Wall -Wextra -Werror -O2 {flags} {} $(pkg-config --cflags --libs dpukit) -o {}",
        repo().join("ffi/examples/device.c").display(),
        out.display()
    );
    let r = Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig"))
        .output()
        .expect("sh");
    assert!(
        r.status.success(),
        "`{cmd}` failed (needs cc and pkg-config):\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    out
}

/// The example device with the kit's kernels behind it: it runs every op.
fn kernels_device() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build_device("dpukit-process-device-kernels", "-DDPUKIT_DEVICE_KERNELS"))
}

/// The example device alone: NOP, COPY, CRC32C and COPY_CRC32C; the rest it refuses.
fn plain_device() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build_device("dpukit-process-device", ""))
}

fn small(kind: ScenarioKind) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = 2;
    s.object_size_bytes = 1 << 20;
    s.chunk_size_bytes = 128 << 10;
    s.queue_depth = 4;
    s.batch = 2;
    s.cache_capacity_chunks = 64;
    s.kv_requests = 12;
    s.kv_shape.layers = 2;
    s.compression = Some(CompressionSpec { algorithm: dpukit_ffi::Algorithm::Lz4, level: 0 });
    s
}

fn process(exe: &Path, fault: Option<(&str, u64)>) -> RunOptions {
    // The fault reaches the device through the shell: `env` sets it for the device only.
    let cmd = match fault {
        Some((f, after)) => {
            format!("env DPUKIT_DEVICE_FAULT={f} DPUKIT_DEVICE_FAULT_AFTER={after} {}", exe.display())
        }
        None => exe.display().to_string(),
    };
    let spec = ProcessSpec::parse(&cmd).expect("device program");
    RunOptions { device: DeviceChoice::Process(spec), ..RunOptions::default() }
}

fn digest(r: &RunResult) -> f64 {
    r.extra_figure("manifest_digest").expect("a manifest digest").value
}

/// Children of this process that are still there (running or zombies).
fn children() -> Vec<String> {
    let me = std::process::id();
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            kids.push(stat.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
        }
    }
    kids
}

/// Shared queue pairs this process still maps or holds open.
fn shared_memory_left() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapped = maps.lines().filter(|l| l.contains("memfd:dpukit-qp")).count();
    let open = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:dpukit-qp"))
        })
        .count();
    mapped + open
}

/// No device process and no shared memory outlive a run.
fn assert_clean(label: &str) {
    assert_eq!(children(), Vec::<String>::new(), "{label}: device processes left behind");
    assert_eq!(shared_memory_left(), 0, "{label}: shared memory left behind");
}

// The tests of this file check for leftover children and mappings of the whole process,
// so they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn a_c_device_process_serves_every_scenario_byte_identical_to_the_simulator_and_host() {
    let _one = serial();
    let profile = Profile::builtin("bluefield-3").unwrap();
    for kind in ScenarioKind::ALL {
        let spec = small(kind);
        let label = kind.name();
        let host = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
        let sim = run_scenario(&spec, Mode::Offload, &profile, &RunOptions::default()).unwrap();
        let proc = run_scenario(&spec, Mode::Offload, &profile, &process(kernels_device(), None))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        for (r, what) in [(&host, "host"), (&sim, "simulator"), (&proc, "device process")] {
            assert!(r.verification.ok, "{label} {what}: {:?}", r.verification.failures);
        }
        assert!(host.bytes > 0 && proc.bytes == host.bytes, "{label}: bytes");
        assert_eq!(digest(&proc), digest(&host), "{label}: device process vs host manifests");
        assert_eq!(digest(&proc), digest(&sim), "{label}: device process vs simulator manifests");
        let d = proc.device.as_ref().expect("the result names the device");
        assert!(d.name.contains("device process"), "{label}: {}", d.name);
        assert!(d.descriptors > 0, "{label}: descriptors went to the device process");
        assert_eq!(
            proc.throughput.source,
            Source::Measured,
            "{label}: a device process's times are measured"
        );
        assert_eq!(proc.fallbacks.total(), 0, "{label}: {:?}", proc.fallbacks);
        assert_clean(label);
    }
}

#[test]
fn ops_the_device_process_refuses_run_on_the_host_said_so_with_identical_results() {
    let _one = serial();
    let profile = Profile::builtin("bluefield-3").unwrap();
    for kind in [ScenarioKind::FanOutWrite, ScenarioKind::FanOutRead] {
        let spec = small(kind);
        let host = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
        let proc = run_scenario(&spec, Mode::Offload, &profile, &process(plain_device(), None)).unwrap();
        assert!(proc.verification.ok, "{:?}", proc.verification.failures);
        assert_eq!(digest(&proc), digest(&host), "{}", kind.name());
        let f = &proc.fallbacks;
        assert!(f.unsupported_ops > 0, "{f:?}");
        assert!(
            f.reasons.iter().any(|r| r.contains("lz4 compress") || r.contains("lz4 decompress")),
            "{f:?}"
        );
        assert!(f.reasons.iter().any(|r| r.contains("it answered unknown opcode")), "{f:?}");
        assert!(proc.device.as_ref().unwrap().descriptors > 0, "CRC32C still ran on the device");
        assert_clean(kind.name());
    }
}

/// A device that misbehaves at its `after`-th descriptor: the run falls back to the host
/// CPU, says why, verifies, matches host mode, and leaves nothing behind.
fn faulty(fault: &str, after: u64, says: &str) {
    let _one = serial();
    let profile = Profile::builtin("bluefield-3").unwrap();
    let spec = small(ScenarioKind::FanOutWrite);
    let host = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
    let r = run_scenario(&spec, Mode::Offload, &profile, &process(kernels_device(), Some((fault, after))))
        .unwrap_or_else(|e| panic!("{fault}: the run fails over instead of failing: {e}"));
    assert!(r.verification.ok, "{fault}: {:?}", r.verification.failures);
    assert_eq!(digest(&r), digest(&host), "{fault}: nothing acknowledged is lost or changed");
    let f = &r.fallbacks;
    assert!(f.after_timeout > 0, "{fault}: {f:?}");
    assert!(
        f.reasons.iter().any(|m| m.contains(says) && m.contains("the host CPU took over")),
        "{fault}: {f:?}"
    );
    assert_clean(fault);
}

#[test]
fn a_device_process_that_exits_mid_run_falls_back() {
    faulty("exit", 5, "exited (exit status: 3)");
}

#[test]
fn a_device_process_that_hangs_falls_back_after_the_timeout() {
    faulty("hang", 5, "stopped answering (timeout)");
}

#[test]
fn a_device_process_answering_an_unknown_tag_falls_back() {
    faulty("unknown-tag", 3, "not in flight");
}

#[test]
fn a_device_process_answering_a_tag_twice_falls_back() {
    faulty("dup-tag", 3, "not in flight (unknown, or answered twice)");
}

#[test]
fn a_device_process_answering_an_undefined_status_falls_back() {
    faulty("bad-status", 3, "status 999");
}

#[test]
fn a_device_process_answering_an_impossible_length_falls_back() {
    faulty("bad-length", 3, "more than the descriptor's");
}

#[test]
fn a_device_process_writing_outside_its_buffers_falls_back() {
    faulty("scribble", 3, "wrote outside its buffers");
}

#[test]
fn a_device_program_that_does_not_attach_falls_back_at_once() {
    // `true` exits at once without serving anything: the first jobs fail over to the CPU.
    let _one = serial();
    let profile = Profile::builtin("bluefield-3").unwrap();
    let spec = small(ScenarioKind::FanInRead);
    let host = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
    let opts = RunOptions {
        device: DeviceChoice::Process(ProcessSpec::parse("true").unwrap()),
        ..Default::default()
    };
    let r = run_scenario(&spec, Mode::Offload, &profile, &opts).unwrap();
    assert!(r.verification.ok);
    assert_eq!(digest(&r), digest(&host));
    assert!(r.fallbacks.reasons.iter().any(|m| m.contains("process `true` exited")), "{:?}", r.fallbacks);
    assert_clean("true");
}
