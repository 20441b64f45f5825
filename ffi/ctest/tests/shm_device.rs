//! The C example device (`ffi/examples/device.c`), in its own process, serves a queue
//! pair this process created in shared memory; and every way a device can misbehave
//! (exit, hang, unknown or duplicate tags, out-of-range statuses and lengths, a wrong
//! opcode) is one clear error on the host side. The device also runs under valgrind.

use dpukit_ffi::{
    Algorithm, BufRef, Completion, Descriptor, Op, RegionId, ShmConfig, ShmError, ShmHost, Status,
};
use dpukit_kernels::crc32c::{crc32c, crc32c_append};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps").to_path_buf()
}

/// The static library cargo built for `dpukit-ffi` (crate-type staticlib).
fn static_lib() -> PathBuf {
    let dir = target_profile_dir();
    let uplifted = dir.join("libdpukit_ffi.a");
    if uplifted.exists() {
        return uplifted;
    }
    let mut found: Vec<_> = std::fs::read_dir(dir.join("deps"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("libdpukit_ffi-") && n.ends_with(".a")
        })
        .map(|e| (e.metadata().and_then(|m| m.modified()).ok(), e.path()))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).expect("libdpukit_ffi.a not built: run `cargo build -p dpukit-ffi` first")
}

/// Compiles `ffi/examples/<name>.c` against the static library.
fn build_example(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dpukit_example_{name}"));
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(manifest.join("../include"))
        .arg(manifest.join(format!("../examples/{name}.c")))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("`cc` not found: install gcc (apt-get install gcc)");
    assert!(status.success(), "compiling ffi/examples/{name}.c against libdpukit_ffi.a failed");
    out
}

/// Compiles the example device once per test binary.
fn device_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build_example("device"))
}

fn shared_host_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build_example("shared_host"))
}

fn device(fault: Option<&str>) -> Command {
    let mut cmd = Command::new(device_exe());
    if let Some(f) = fault {
        cmd.env("DPUKIT_DEVICE_FAULT", f);
    }
    cmd
}

const WAIT: Duration = Duration::from_secs(20);

/// A host with one 64 KiB region holding a known pattern in its first 4 KiB.
fn host_with_data(cmd: Command) -> (ShmHost, RegionId, Vec<u8>) {
    let mut host =
        ShmHost::create(ShmConfig { sq_entries: 64, cq_entries: 64, max_regions: 4, data_bytes: 1 << 20 })
            .expect("create shared queue pair");
    let r = host.alloc_region(64 << 10).unwrap();
    let data: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    host.write_region(r.id, 0, &data).unwrap();
    host.spawn_device(cmd).unwrap();
    (host, r.id, data)
}

fn serve_and_check(cmd: Command) {
    let (mut host, r, data) = host_with_data(cmd);
    let id = r.0;
    let descs = [
        Descriptor::new(1, Op::Copy { src: BufRef::new(id, 0, 4096), dst: BufRef::new(id, 8192, 4096) }),
        Descriptor::new(2, Op::Crc32c { src: BufRef::new(id, 0, 4096), seed: 0 }),
        Descriptor::new(
            3,
            Op::CopyCrc32c { src: BufRef::new(id, 0, 1000), dst: BufRef::new(id, 16384, 1000), seed: 7 },
        ),
        Descriptor::new(
            4,
            Op::Compress {
                src: BufRef::new(id, 0, 4096),
                dst: BufRef::new(id, 20480, 8192),
                algorithm: Algorithm::Lz4,
                level: 0,
            },
        ),
        Descriptor::new(5, Op::Crc32c { src: BufRef::new(9, 0, 16), seed: 0 }),
        Descriptor::new(
            6,
            Op::Copy { src: BufRef::new(id, (64 << 10) - 8, 16), dst: BufRef::new(id, 0, 16) },
        ),
        Descriptor::new(7, Op::Nop),
    ];
    assert_eq!(host.submit(&descs).unwrap(), descs.len());
    let mut got = Vec::new();
    host.wait_all(&mut got, WAIT).unwrap();
    got.sort_by_key(|c| c.tag);
    let st: Vec<_> = got.iter().map(|c| (c.tag, c.status)).collect();
    assert_eq!(
        st,
        vec![
            (1, Status::Ok),
            (2, Status::Ok),
            (3, Status::Ok),
            (4, Status::UnknownOpcode),
            (5, Status::UnknownRegion),
            (6, Status::OutOfRange),
            (7, Status::Ok),
        ]
    );
    assert_eq!(got[0].result, 4096);
    assert_eq!(got[1].result, crc32c(&data) as u64, "CRC32C from the C device equals the kit's");
    assert_eq!(got[2].result, crc32c_append(7, &data[..1000]) as u64);
    let mut copy = vec![0u8; 4096];
    host.read_region(r, 8192, &mut copy).unwrap();
    assert_eq!(copy, data, "the device's COPY landed in the host's shared region");
    host.read_region(r, 16384, &mut copy[..1000]).unwrap();
    assert_eq!(copy[..1000], data[..1000]);

    // A second batch after the first: the rings keep going, regions added later resolve.
    let r2 = host.alloc_region(4096).unwrap();
    host.write_region(r2.id, 0, &data).unwrap();
    let more: Vec<_> = (100..164u64)
        .map(|t| Descriptor::new(t, Op::Crc32c { src: BufRef::new(r2.id.0, (t - 100) * 64, 64), seed: 0 }))
        .collect();
    let mut sent = 0;
    let mut got = Vec::new();
    while sent < more.len() {
        sent += host.submit(&more[sent..]).unwrap();
        host.poll(64, &mut got).unwrap();
    }
    host.wait_all(&mut got, WAIT).unwrap();
    assert_eq!(got.len(), 64);
    for c in &got {
        let i = (c.tag - 100) as usize * 64;
        assert_eq!((c.status, c.result), (Status::Ok, crc32c(&data[i..i + 64]) as u64), "tag {}", c.tag);
    }
}

#[test]
fn c_device_in_its_own_process_serves_a_shared_queue_pair() {
    serve_and_check(device(None));
}

#[test]
fn c_device_is_clean_under_valgrind() {
    let mut cmd = Command::new("valgrind");
    cmd.args(["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "-q"])
        .arg(device_exe());
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("DPUKIT_REQUIRE_TOOLS").is_none(),
            "valgrind not found (apt-get install valgrind); DPUKIT_REQUIRE_TOOLS is set"
        );
        eprintln!("skipped: valgrind not found (apt-get install valgrind)");
        return;
    }
    // The host waits for the device to exit when it drops; check the exit status here.
    let (mut host, r, _) = host_with_data(cmd);
    let descs: Vec<_> = (0..16u64)
        .map(|t| {
            Descriptor::new(
                t,
                Op::Copy { src: BufRef::new(r.0, t * 64, 64), dst: BufRef::new(r.0, 8192 + t * 64, 64) },
            )
        })
        .collect();
    assert_eq!(host.submit(&descs).unwrap(), 16);
    let mut got = Vec::new();
    host.wait_all(&mut got, Duration::from_secs(120)).unwrap();
    assert!(got.iter().all(|c| c.status == Status::Ok));
    let status = host.close_and_wait(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "valgrind reported errors in the device (exit {:?})", status.code());
}

fn run_faulty(fault: &str) -> ShmError {
    let (mut host, r, _) = host_with_data(device(Some(fault)));
    let descs = [
        Descriptor::new(10, Op::Crc32c { src: BufRef::new(r.0, 0, 64), seed: 0 }),
        Descriptor::new(11, Op::Copy { src: BufRef::new(r.0, 0, 64), dst: BufRef::new(r.0, 4096, 64) }),
    ];
    assert_eq!(host.submit(&descs).unwrap(), 2);
    let mut got: Vec<Completion> = Vec::new();
    let err = host.wait_all(&mut got, Duration::from_millis(1500)).expect_err("a faulty device is an error");
    // Abandoned from now on, with the same reason.
    let again = host.poll(8, &mut got).expect_err("abandoned");
    assert!(again.to_string().contains(&err.to_string()), "{again}");
    err
}

#[test]
fn device_that_exits_is_an_error_naming_it() {
    let e = run_faulty("exit");
    assert!(matches!(e, ShmError::DeviceExited { inflight: 2, .. }), "{e}");
    assert!(e.to_string().contains("exited"), "{e}");
}

#[test]
fn device_that_hangs_times_out() {
    let e = run_faulty("hang");
    assert!(matches!(e, ShmError::Timeout { inflight: 2, .. }), "{e}");
}

#[test]
fn unknown_tag_is_an_error() {
    let e = run_faulty("unknown-tag");
    assert!(matches!(e, ShmError::UnexpectedTag(t) if t == 10 ^ 0x5a5a_5a5a_0000_0000), "{e}");
}

#[test]
fn duplicate_tag_is_an_error_after_the_first_is_kept() {
    let (mut host, r, data) = host_with_data(device(Some("dup-tag")));
    host.submit(&[Descriptor::new(10, Op::Crc32c { src: BufRef::new(r.0, 0, 64), seed: 0 })]).unwrap();
    let mut got = Vec::new();
    let e = host.wait_all(&mut got, Duration::from_secs(2)).and_then(|_| {
        host.submit(&[Descriptor::new(11, Op::Nop)])?;
        host.wait_all(&mut got, Duration::from_secs(2))
    });
    let e = e.expect_err("the second answer to tag 10 is an error");
    assert!(matches!(e, ShmError::UnexpectedTag(10)), "{e}");
    // The first answer was valid and was delivered: nothing acknowledged is lost.
    assert_eq!(
        got.iter().map(|c| (c.tag, c.result)).collect::<Vec<_>>(),
        vec![(10, crc32c(&data[..64]) as u64)]
    );
}

#[test]
fn out_of_range_status_is_an_error() {
    let e = run_faulty("bad-status");
    assert!(matches!(e, ShmError::BadStatus { tag: 10, raw: 999 }), "{e}");
}

#[test]
fn out_of_range_length_is_an_error() {
    let e = run_faulty("bad-length");
    assert!(matches!(e, ShmError::BadLength { tag: 10, what: "bytes", max: 64, .. }), "{e}");
}

#[test]
fn wrong_opcode_echo_is_an_error() {
    let e = run_faulty("bad-opcode");
    assert!(matches!(e, ShmError::OpcodeMismatch { tag: 10, sent: 0x01, got: 0x41 }), "{e}");
}

#[test]
fn duplicate_tag_in_flight_is_refused_at_submit() {
    let mut host = ShmHost::create(ShmConfig::default()).unwrap();
    host.submit(&[Descriptor::new(1, Op::Nop)]).unwrap();
    let e = host.submit(&[Descriptor::new(1, Op::Nop)]).unwrap_err();
    assert!(matches!(e, ShmError::DuplicateTag(1)), "{e}");
    assert_eq!(host.inflight(), 1);
    let e = host.submit(&[Descriptor::new(2, Op::Nop), Descriptor::new(2, Op::Nop)]).unwrap_err();
    assert!(matches!(e, ShmError::DuplicateTag(2)), "{e}");
    assert_eq!(host.inflight(), 1, "a refused batch submits nothing");
}

#[test]
fn each_batch_goes_in_whole_once_the_device_took_the_previous() {
    // Batches that do not divide the ring, one after another: each must go in whole once
    // the device has taken the previous one (the free count is not a stale cache).
    let mut host =
        ShmHost::create(ShmConfig { sq_entries: 8, cq_entries: 8, max_regions: 1, data_bytes: 4096 })
            .unwrap();
    host.spawn_device(device(None)).unwrap();
    let mut got = Vec::new();
    for round in 0..20u64 {
        let batch: Vec<_> = (0..3).map(|i| Descriptor::new(round * 3 + i, Op::Nop)).collect();
        assert_eq!(host.submit(&batch).unwrap(), 3, "round {round}");
        host.wait_all(&mut got, WAIT).unwrap();
    }
    assert_eq!(got.len(), 60);
}

#[test]
fn shared_memory_is_gone_when_the_host_drops() {
    let (host, _, _) = host_with_data(device(None));
    let path = host.device_path();
    assert!(path.exists());
    // Anonymous memory: nothing under /dev/shm names it, so nothing can leak there.
    let fd_target = std::fs::read_link(&path).unwrap();
    assert!(fd_target.to_string_lossy().starts_with("/memfd:dpukit-qp"), "{}", fd_target.display());
    drop(host);
    assert!(!path.exists(), "the host's descriptor of the shared memory is closed");
}

#[test]
fn the_simulators_engine_serves_a_shared_queue_pair_through_into_queue() {
    use dpukit_kernels::{cache_index::CacheIndex, registry::Registry};
    use dpukit_sim::{engine::Engine, profile::Profile, timing::SimTime};
    let mut host =
        ShmHost::create(ShmConfig { sq_entries: 16, cq_entries: 16, max_regions: 2, data_bytes: 1 << 16 })
            .unwrap();
    let r = host.alloc_region(8192).unwrap();
    let data = vec![0xa5u8; 4096];
    host.write_region(r.id, 0, &data).unwrap();
    let dev = dpukit_ffi::ShmDevice::attach(&host.device_path()).unwrap().into_queue();
    let profile = Profile::builtin("bluefield-3").unwrap();
    let mut engine = Engine::new(
        &profile,
        Registry::new(std::sync::Arc::new(CacheIndex::new(64).unwrap())),
        Default::default(),
    )
    .unwrap();
    engine.attach(dev);
    host.submit(&[Descriptor::new(1, Op::Crc32c { src: BufRef::new(r.id.0, 0, 4096), seed: 0 })]).unwrap();
    engine.poll(SimTime::ZERO);
    let mut got = Vec::new();
    host.wait_all(&mut got, WAIT).unwrap();
    assert_eq!((got[0].status, got[0].result), (Status::Ok, crc32c(&data) as u64));
    assert!(got[0].modelled_ns > 0, "the engine stamps its modelled time");
}

#[test]
fn c_host_and_c_device_in_two_processes() {
    let out =
        Command::new(shared_host_exe()).arg(device_exe()).env_remove("DPUKIT_DEVICE_FAULT").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("512 descriptors answered and checked: ok"), "{stdout}");
}

#[test]
fn c_host_reports_a_faulty_device_in_one_line() {
    for (fault, says) in [
        ("bad-status", "status 999"),
        ("exit", "device process exited"),
        ("unknown-tag", "not in flight"),
        ("bad-length", "more than the descriptor's 4096"),
    ] {
        let out = Command::new(shared_host_exe())
            .arg(device_exe())
            .env("DPUKIT_DEVICE_FAULT", fault)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{fault}: {stderr}");
        assert!(stderr.contains(says), "{fault}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{fault}: one line: {stderr}");
    }
    let out = Command::new(shared_host_exe()).arg("/nonexistent/device").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/device"));
}

#[test]
fn c_host_of_a_shared_queue_pair_is_clean_under_valgrind() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("DPUKIT_REQUIRE_TOOLS").is_none(),
            "valgrind not found (apt-get install valgrind); DPUKIT_REQUIRE_TOOLS is set"
        );
        eprintln!("skipped: valgrind not found (apt-get install valgrind)");
        return;
    }
    let out = Command::new("valgrind")
        .args(["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "-q"])
        .arg(shared_host_exe())
        .arg(device_exe())
        .env_remove("DPUKIT_DEVICE_FAULT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "valgrind (exit {:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}
