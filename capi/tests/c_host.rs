//! libdpukit as a C program sees it: installed by `scripts/install-lib.sh` (from this
//! build), found by pkg-config, linked by `cc`. The example host (`capi/examples/host.c`)
//! attaches a simulated DPU by profile name and by TOML path and checks real results;
//! it runs clean under valgrind. The example device builds against the same install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn require_tool(tool: &str, apt: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("DPUKIT_REQUIRE_TOOLS").is_none(),
        "{tool} not found (apt-get install {apt}); DPUKIT_REQUIRE_TOOLS is set"
    );
    eprintln!("skipped: {tool} not found (apt-get install {apt})");
    false
}

/// Installs this build's libdpukit into a prefix, once per test binary.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        // `cargo test` builds this crate's rlib only: build libdpukit.so and .a, as a C
        // user would, before installing them.
        let exe = std::env::current_exe().unwrap();
        let libdir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "dpukit-capi"]);
        if libdir.ends_with("release") {
            build.arg("--release");
        }
        let st = build.status().unwrap();
        assert!(st.success(), "cargo build -p dpukit-capi failed");
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dpukit-prefix");
        let out = Command::new(repo().join("scripts/install-lib.sh"))
            .arg(&prefix)
            .env("DPUKIT_LIB_DIR", &libdir)
            .output()
            .unwrap();
        assert!(out.status.success(), "install-lib.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        prefix
    })
}

/// `cc SRC $(pkg-config --cflags --libs dpukit) -o OUT`, as the README says.
fn build_with_pkg_config(src: &str, name: &str) -> PathBuf {
    build_with_pkg_config_flags(src, name, "")
}

fn build_with_pkg_config_flags(src: &str, name: &str, flags: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let pc = prefix().join("lib/pkgconfig");
    let cmd = format!(
        "cc -std=c11 -Wall -Wextra -Werror -g -O1 {flags} {} $(pkg-config --cflags --libs dpukit) -o {}",
        repo().join(src).display(),
        out.display()
    );
    let r = Command::new("sh").arg("-c").arg(&cmd).env("PKG_CONFIG_PATH", pc).output().unwrap();
    assert!(r.status.success(), "`{cmd}` failed:\n{}", String::from_utf8_lossy(&r.stderr));
    out
}

fn host_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build_with_pkg_config("capi/examples/host.c", "dpukit-c-host"))
}

fn check_ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn c_host_attaches_a_shipped_profile_and_gets_real_results_with_modelled_times() {
    if !require_tool("pkg-config", "pkg-config") {
        return;
    }
    let out = check_ok(&Command::new(host_exe()).arg("bluefield-3").output().unwrap());
    assert!(out.contains("host: ok"), "{out}");
    assert!(
        out.contains("is neither a shipped profile (host-only, bluefield-2"),
        "a bad name is one clear line: {out}"
    );
    // Modelled times are non-zero and labelled as modelled.
    let times: Vec<u64> = out
        .lines()
        .filter_map(|l| l.split("modelled_ns ").nth(1))
        .map(|t| t.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(times.len(), 4, "bluefield-3 runs all four ops: {out}");
    assert!(times.iter().all(|&t| t > 0), "{out}");
}

#[test]
fn c_host_attaches_a_profile_by_toml_path() {
    if !require_tool("pkg-config", "pkg-config") {
        return;
    }
    let toml = repo().join("dpu-sim/profiles/bluefield-2.toml");
    let out = check_ok(&Command::new(host_exe()).arg(&toml).output().unwrap());
    assert!(out.contains("host: ok"), "{out}");
}

#[test]
fn c_host_is_clean_under_valgrind() {
    if !require_tool("pkg-config", "pkg-config") || !require_tool("valgrind", "valgrind") {
        return;
    }
    let out = Command::new("valgrind")
        .args(["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "-q"])
        .arg(host_exe())
        .arg("intel-dsa-iaa")
        .output()
        .unwrap();
    let stdout = check_ok(&out);
    assert!(stdout.contains("host: ok"), "{stdout}");
}

#[test]
fn example_device_builds_against_the_installed_library() {
    if !require_tool("pkg-config", "pkg-config") {
        return;
    }
    let exe = build_with_pkg_config("ffi/examples/device.c", "dpukit-c-device");
    // Without a queue pair to serve it says so in one line and fails.
    let out = Command::new(&exe).env_remove("DPUKIT_QP").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DPUKIT_QP is not set"));
}

#[test]
fn c_device_with_the_kits_kernels_serves_every_opcode_from_another_process() {
    use dpukit_ffi::{Algorithm, BufRef, Descriptor, Op, ShmConfig, ShmHost, Status};
    if !require_tool("pkg-config", "pkg-config") {
        return;
    }
    let exe = build_with_pkg_config_flags(
        "ffi/examples/device.c",
        "dpukit-c-device-kernels",
        "-DDPUKIT_DEVICE_KERNELS",
    );
    let mut host =
        ShmHost::create(ShmConfig { sq_entries: 16, cq_entries: 16, max_regions: 2, data_bytes: 1 << 20 })
            .unwrap();
    let r = host.alloc_region(256 << 10).unwrap();
    let id = r.id.0;
    let data: Vec<u8> = b"offloaded chunk ".iter().cycle().take(64 << 10).copied().collect();
    host.write_region(r.id, 0, &data).unwrap();
    host.spawn_device(Command::new(&exe)).unwrap();
    let wait = std::time::Duration::from_secs(20);

    let zip = BufRef::new(id, 64 << 10, 64 << 10);
    let key = *b"0123456789abcdef";
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&4096u64.to_le_bytes());
    value[8..12].copy_from_slice(&512u32.to_le_bytes());
    let src = BufRef::new(id, 0, 64 << 10);
    host.submit(&[
        Descriptor::new(1, Op::Compress { src, dst: zip, algorithm: Algorithm::Zstd, level: 3 }),
        Descriptor::new(2, Op::CacheInsert { key, value }),
        Descriptor::new(3, Op::CacheLookup { key, dst: BufRef::new(id, 200 << 10, 16) }),
        Descriptor::new(
            4,
            Op::CacheLookup { key: *b"fedcba9876543210", dst: BufRef::new(id, 200 << 10, 16) },
        ),
    ])
    .unwrap();
    let mut got = Vec::new();
    host.wait_all(&mut got, wait).unwrap();
    got.sort_by_key(|c| c.tag);
    let st: Vec<_> = got.iter().map(|c| c.status).collect();
    assert_eq!(st, vec![Status::Ok, Status::Ok, Status::Ok, Status::NotFound]);
    let zlen = got[0].result as u32;
    assert!(zlen > 0 && zlen < 4096, "zstd compressed a repetitive chunk: {zlen}");
    let mut looked = [0u8; 16];
    host.read_region(r.id, 200 << 10, &mut looked).unwrap();
    assert_eq!(looked, value, "the cache lookup returns what was inserted");

    host.submit(&[Descriptor::new(
        5,
        Op::Decompress {
            src: BufRef::new(id, 64 << 10, zlen),
            dst: BufRef::new(id, 128 << 10, 64 << 10),
            algorithm: Algorithm::Zstd,
        },
    )])
    .unwrap();
    let mut got = Vec::new();
    host.wait_all(&mut got, wait).unwrap();
    assert_eq!((got[0].status, got[0].result), (Status::Ok, 64 << 10));
    let mut back = vec![0u8; 64 << 10];
    host.read_region(r.id, 128 << 10, &mut back).unwrap();
    assert_eq!(back, data, "compressed and decompressed by the C device, across processes");
    let status = host.close_and_wait(wait).unwrap();
    assert!(status.success(), "{status}");
}
