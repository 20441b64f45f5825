//! C and Rust share the ABI for real: the layout C sees equals Rust's, a C producer
//! fills a submission ring that Rust consumes, Rust fills a completion ring that C
//! consumes, and a C program drives the C API from the static library (also under
//! valgrind memcheck).

use dpukit_ffi::abi::layout_table;
use dpukit_ffi::bindings as b;
use dpukit_ffi::{Completion, Descriptor, Op, QueuePair, QueuePairConfig, RawCpl, RawDesc, Status};
use std::path::{Path, PathBuf};
use std::process::Command;

use dpukit_ffi_ctest::{dpu_c_consume, dpu_c_layout, dpu_c_produce};

fn c_layout() -> Vec<(String, usize)> {
    let mut names = [std::ptr::null(); 64];
    let mut values = [0u64; 64];
    // SAFETY: both arrays hold 64 entries and the function writes at most `max`.
    let n = unsafe { dpu_c_layout(names.as_mut_ptr(), values.as_mut_ptr(), 64) };
    assert!(n <= 64);
    (0..n)
        .map(|i| {
            // SAFETY: the C side stores pointers to static NUL-terminated literals.
            let name = unsafe { std::ffi::CStr::from_ptr(names[i]) };
            (name.to_str().unwrap().to_owned(), values[i] as usize)
        })
        .collect()
}

fn rust_layout() -> Vec<(String, usize)> {
    layout_table().into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[test]
fn layout_seen_by_c_equals_rust() {
    let c = c_layout();
    let r = rust_layout();
    assert_eq!(c.len(), r.len(), "C and Rust layout tables list different facts");
    for (cr, rr) in c.iter().zip(&r) {
        assert_eq!(cr, rr, "layout drift between C and Rust");
    }
}

#[test]
fn c_producer_fills_a_ring_rust_consumes() {
    const N: u64 = 50_000;
    let (host, mut dev) =
        QueuePair::create(QueuePairConfig { sq_entries: 64, cq_entries: 64, max_regions: 4 }).unwrap();
    let (sq, _cq) = host.raw_rings();
    let consumer = std::thread::spawn(move || {
        let mut expect = 0u64;
        let mut buf = [RawDesc::default(); 32];
        while expect < N {
            let n = dev.fetch(&mut buf);
            for raw in &buf[..n] {
                let d = Descriptor::parse(raw).expect("C wrote a well-formed descriptor");
                assert_eq!(d.tag, 1000 + expect);
                match d.op {
                    Op::Copy { src, dst } => {
                        assert_eq!(src.len as u64, expect % 4096);
                        assert_eq!(src.offset, 64 * expect);
                        assert_eq!((src.region, dst.region, dst.len), (1, 2, 4096));
                    }
                    other => panic!("unexpected op {other:?}"),
                }
                expect += 1;
            }
            if n == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(dev.fetch(&mut buf), 0);
        expect
    });
    // SAFETY: `sq` is the live control block of the queue pair's submission ring; the
    // Rust host end is not used while C produces, so C is the only producer.
    let produced = unsafe { dpu_c_produce(sq, 1000, N, 7) };
    assert_eq!(produced, N);
    assert_eq!(consumer.join().unwrap(), N);
    drop(host);
}

#[test]
fn rust_fills_a_completion_ring_c_consumes() {
    const N: u64 = 50_000;
    let (host, mut dev) =
        QueuePair::create(QueuePairConfig { sq_entries: 8, cq_entries: 32, max_regions: 4 }).unwrap();
    let (_sq, cq) = host.raw_rings();
    let producer = std::thread::spawn(move || {
        let mut next = 0u64;
        while next < N {
            let batch: Vec<RawCpl> = (next..(next + 5).min(N))
                .map(|t| {
                    let mut c = Completion::ok(t, dpukit_ffi::Opcode::Crc32c, t * 3, (t % 100) as u32);
                    c.modelled_ns = t + 1;
                    c.encode()
                })
                .collect();
            let n = dev.complete(&batch);
            next += n as u64;
            if n == 0 {
                std::thread::yield_now();
            }
        }
    });
    let mut got = 0u64;
    let mut out = [b::dpu_cpl::default(); 16];
    while got < N {
        // SAFETY: `cq` is the live completion ring; the Rust host end does not poll it,
        // so C is the only consumer; `out` holds 16 records.
        let n = unsafe { dpu_c_consume(cq, out.as_mut_ptr(), 16) };
        for c in &out[..n as usize] {
            assert_eq!(c.tag, got);
            assert_eq!(c.result, got * 3);
            assert_eq!(c.status, Status::Ok.raw());
            assert_eq!(c.modelled_ns, got + 1);
            got += 1;
        }
        if n == 0 {
            std::thread::yield_now();
        }
    }
    producer.join().unwrap();
    drop(host);
}

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

fn build_c_caller(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(manifest.join("../include"))
        .arg("-I")
        .arg(manifest.join("c"))
        .arg(manifest.join("c/caller.c"))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("`cc` not found: install gcc (apt-get install gcc)");
    assert!(status.success(), "compiling c/caller.c against libdpukit_ffi.a failed");
    out
}

#[test]
fn c_caller_uses_the_c_api_from_the_static_library() {
    let exe = build_c_caller("dpukit_c_caller");
    let out = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "C caller failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("caller: ok"));
    let printed: Vec<(String, usize)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("layout "))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(printed, rust_layout(), "the C program's sizeof/offsetof differ from Rust's");
}

#[test]
fn c_caller_is_clean_under_valgrind() {
    // Its own binary: the two tests run in parallel.
    let exe = build_c_caller("dpukit_c_caller_valgrind");
    let out = Command::new("valgrind")
        .args(["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "-q"])
        .arg(&exe)
        .output()
        .expect("valgrind not found: install it (apt-get install valgrind); the README's test script does");
    assert!(
        out.status.success(),
        "valgrind reported errors (exit {:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("caller: ok"));
}
