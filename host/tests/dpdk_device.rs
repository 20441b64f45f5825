//! The DPDK compressdev device (`--device dpdk:PMD`, feature `dpdk`) through the software
//! PMDs of this host: every scenario through `compress_isal`, one through `compress_zlib`,
//! the kit's gzip and zlib formats checked against the kernels and the `gzip` tool, and the
//! bad inputs (an op the PMD cannot fit, corrupt input, EAL arguments that fail, a PMD that
//! is not there, too few queue pairs), each one line or a counted fallback; `dpukit accel`'s
//! offload side on the device (gzip verified and measured, CRC32C a labelled host fallback).
//!
//! EAL starts once per process: every test of this binary uses the same EAL arguments
//! (both software PMDs as virtual devices, no hugepages, no files left behind), and the
//! cases that need an EAL of their own run in a child process (`child_*`, ignored when run
//! directly).

#![cfg(feature = "dpdk")]

use dpukit_ffi::{Algorithm, Status};
use dpukit_host::accel::{self, AccelOp, AccelSpec, DataSource, Sides};
use dpukit_host::device::{DeviceChoice, DeviceClock};
use dpukit_host::dpdk::DpdkSpec;
use dpukit_host::offload::{Buf, Offload, OffloadConfig, RanOn, SlotOp};
use dpukit_host::result::Mode;
use dpukit_host::result::Source;
use dpukit_host::run::{compare, run_scenario, RunOptions};
use dpukit_host::spec::{CompressionSpec, ScenarioKind, ScenarioSpec};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::compress::{decompress, Codec};
use dpukit_kernels::registry::Registry;
use dpukit_sim::profile::Profile;
use std::process::Command;
use std::sync::Arc;

/// Both software PMDs, no hugepages, no shared config, a file prefix of this process's own.
fn eal(vdevs: &str) -> String {
    format!(
        "--no-huge --no-pci -m 1024 --no-shconf --file-prefix=dpukit-test-{} --no-telemetry \
         --log-level=lib.eal:error --log-level=lib.compressdev:critical --log-level=pmd.compress.*:critical {vdevs} -l 0",
        std::process::id()
    )
}

fn spec(pmd: &str) -> DpdkSpec {
    let mut s = DpdkSpec::parse(pmd).unwrap();
    s.eal = Some(eal("--vdev=compress_isal0 --vdev=compress_zlib0"));
    s
}

fn registry() -> Registry {
    Registry::new(Arc::new(CacheIndex::new(64).unwrap()))
}

fn config(in_bytes: usize, out_bytes: usize) -> OffloadConfig {
    OffloadConfig {
        slots: 8,
        in_bytes,
        out_bytes,
        spare_bytes: 0,
        batch: 4,
        device_timeout_ns: 10_000_000_000,
        engine: Default::default(),
    }
}

/// Text-like bytes that compress (words from a small vocabulary, seeded).
fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "offload ", "chunk ", "deflate ", "queue ", "pair ", "the ", "of ", "device ", "host ", "a ", "DPU ",
        "\n",
    ];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % WORDS.len() as u64) as usize].as_bytes());
    }
    out.truncate(len);
    out
}

fn dpdk_offload(pmd: &str, cfg: &OffloadConfig) -> Offload {
    Offload::with_choice(
        registry(),
        cfg,
        &Profile::builtin("bluefield-2").unwrap(),
        &DeviceChoice::Dpdk(spec(pmd)),
    )
    .unwrap_or_else(|e| panic!("{pmd}: {e}"))
}

/// Runs one job on a fresh slot with `input` in its input buffer; returns the finished
/// job's first result and the output buffer's first `result` bytes.
fn one_job(off: &mut Offload, input: &[u8], op: SlotOp) -> (dpukit_host::offload::OpResult, Vec<u8>) {
    let slot = off.take_slot().expect("a free slot");
    off.slot(slot).unwrap().0[..input.len()].copy_from_slice(input);
    off.submit(slot, 7, &[op]).unwrap();
    let f = off.next_finished().unwrap().expect("the job comes back");
    let r = f.results[0];
    let out = off.slot(f.slot).unwrap().1;
    let bytes = out[..(r.result as usize).min(out.len())].to_vec();
    off.release(f.slot);
    (r, bytes)
}

#[test]
fn gzip_and_zlib_round_trip_through_each_software_pmd_and_read_as_the_kernels_read_them() {
    // The zlib PMD of DPDK 22.11 takes no chained mbufs: buffers of one 32 KiB segment.
    for (pmd, lens) in
        [("compress_isal", &[4096usize, 65536, 1 << 20][..]), ("compress_zlib", &[4096, 30000][..])]
    {
        let max = *lens.iter().max().unwrap();
        let cfg = config(max, (max + 4096).min(32 << 10).max(max));
        let mut off = dpdk_offload(pmd, &cfg);
        assert_eq!(off.device_clock(), Some(DeviceClock::Measured));
        let name = off.device_name().unwrap();
        assert!(name.starts_with(&format!("{pmd} (software PMD on this host;")), "{name}");
        assert!(name.contains("DPDK 2") && name.contains("--vdev=compress_isal0"), "{name}");
        for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
            for &len in lens {
                let data = text(len, len as u64);
                let what = format!("{pmd} {} {len}", algorithm.name());
                // Compressed by the device, read by the kit's kernels.
                let (r, packed) =
                    one_job(&mut off, &data, SlotOp::Compress { algorithm, level: 1, len: len as u32 });
                assert_eq!(
                    (r.status, r.ran_on),
                    (Status::Ok, RanOn::Device),
                    "{what}: {r:?} {:?}",
                    off.stats()
                );
                assert!(packed.len() < len / 2, "{what}: {} bytes", packed.len());
                let mut back = vec![0u8; len];
                assert_eq!(decompress(algorithm, &packed, &mut back), Ok(len), "{what}");
                assert!(back == data, "{what}: the kernels read back other bytes");
                // Compressed by the kernels, read by the device.
                let mut theirs = vec![0u8; len + 1024];
                let n = dpukit_kernels::compress::compress(
                    &Codec::new(algorithm, 6).unwrap(),
                    &data,
                    &mut theirs,
                )
                .unwrap();
                let op = SlotOp::Decompress { algorithm, src: Buf::In, dst: Buf::Out, len: n as u32 };
                let (r, plain) = one_job(&mut off, &theirs[..n], op);
                assert_eq!((r.status, r.ran_on), (Status::Ok, RanOn::Device), "{what}");
                assert!(plain == data, "{what}: the device read back other bytes");
            }
        }
        let st = off.stats();
        assert_eq!(st.fallbacks.total(), 0, "{pmd}: {:?}", st.fallbacks);
        let rep = off.device_report().unwrap();
        assert_eq!(rep.descriptors, 4 * lens.len() as u64, "{pmd}");
        assert_eq!(rep.error_completions, 0, "{pmd}");
        assert!(rep.resources[0].name.starts_with("compressdev:") && rep.resources[0].busy_ns > 0, "{pmd}");
    }
}

#[test]
fn a_device_compressed_gzip_chunk_reads_with_the_gzip_tool() {
    let cfg = config(256 << 10, (256 << 10) + 4096);
    let mut off = dpdk_offload("compress_isal", &cfg);
    let data = text(200_000, 3);
    let (r, packed) = one_job(
        &mut off,
        &data,
        SlotOp::Compress { algorithm: Algorithm::Gzip, level: 6, len: data.len() as u32 },
    );
    assert_eq!((r.status, r.ran_on), (Status::Ok, RanOn::Device));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chunk.gz");
    std::fs::write(&path, &packed).unwrap();
    let out = Command::new("gzip").arg("-dc").arg(&path).output().expect("gzip runs");
    assert!(out.status.success(), "gzip -d: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == data, "gzip -d gives other bytes");
}

#[test]
fn ops_compressdev_has_not_run_on_the_host_and_say_why() {
    let cfg = config(64 << 10, (64 << 10) + 4096);
    let mut off = dpdk_offload("compress_isal", &cfg);
    let data = text(65536, 9);
    let (r, _) = one_job(&mut off, &data, SlotOp::Crc32c { buf: Buf::In, len: 65536 });
    assert_eq!((r.status, r.ran_on), (Status::Ok, RanOn::Host));
    assert_eq!(r.result, dpukit_kernels::crc32c::crc32c(&data) as u64);
    let (r, packed) =
        one_job(&mut off, &data, SlotOp::Compress { algorithm: Algorithm::Lz4, level: 0, len: 65536 });
    assert_eq!((r.status, r.ran_on), (Status::Ok, RanOn::Host));
    let mut back = vec![0u8; 65536];
    assert_eq!(decompress(Algorithm::Lz4, &packed, &mut back), Ok(65536));
    let f = &off.stats().fallbacks;
    assert_eq!(f.unsupported_ops, 2, "{f:?}");
    assert!(f.reasons.iter().any(|r| r.contains("compressdev has no such op")), "{:?}", f.reasons);
    assert!(f.reasons.iter().any(|r| r.contains("crc32c not supported by the device")), "{:?}", f.reasons);
}

#[test]
fn corrupt_input_is_the_devices_answer_and_an_output_that_does_not_fit_is_retried_on_the_host() {
    // Outputs of 4 KiB: a 64 KiB chunk does not fit when decompressed.
    let cfg = config(64 << 10, 4096);
    let mut off = dpdk_offload("compress_isal", &cfg);
    let data = text(65536, 11);
    let mut packed = vec![0u8; 70000];
    let n = dpukit_kernels::compress::compress(&Codec::new(Algorithm::Gzip, 6).unwrap(), &data, &mut packed)
        .unwrap();
    let (r, _) = one_job(&mut off, &packed[..n], gunzip_op(n));
    // The PMD ran out of space; the host reran the op and the kernels say the same.
    assert_eq!((r.status, r.ran_on), (Status::DstTooSmall, RanOn::Host));
    assert_eq!(off.stats().fallbacks.after_device_error, 1, "{:?}", off.stats().fallbacks);
    // A stream whose DEFLATE data is damaged: the device says so, nothing falls back.
    let mut bad = packed[..n].to_vec();
    bad[10..40].fill(0xff);
    let (r, _) = one_job(&mut off, &bad, gunzip_op(n));
    assert_eq!((r.status, r.ran_on), (Status::CorruptInput, RanOn::Device));
    // A header that is not gzip's.
    let (r, _) = one_job(&mut off, b"not a gzip stream at all", gunzip_op(24));
    assert_eq!((r.status, r.ran_on), (Status::CorruptInput, RanOn::Device));
    // A trailer whose CRC32 is not the data's.
    let small = text(2000, 5);
    let mut p2 = vec![0u8; 4000];
    let m = dpukit_kernels::compress::compress(&Codec::new(Algorithm::Gzip, 6).unwrap(), &small, &mut p2)
        .unwrap();
    p2[m - 8] ^= 1;
    let (r, _) = one_job(&mut off, &p2[..m], gunzip_op(m));
    assert_eq!((r.status, r.ran_on), (Status::CorruptInput, RanOn::Device));
    assert_eq!(off.stats().fallbacks.after_device_error, 1);
    assert!(off.device_alive());
}

fn gunzip_op(len: usize) -> SlotOp {
    SlotOp::Decompress { algorithm: Algorithm::Gzip, src: Buf::In, dst: Buf::Out, len: len as u32 }
}

fn small(kind: ScenarioKind) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = 2;
    s.object_size_bytes = 2 << 20;
    s.chunk_size_bytes = 256 << 10;
    s.queue_depth = 4;
    s.batch = 2;
    s.cache_capacity_chunks = 64;
    s.kv_requests = 12;
    s.kv_shape.layers = 2;
    s.compression = Some(CompressionSpec { algorithm: Algorithm::Gzip, level: 1 });
    s
}

#[test]
fn every_scenario_through_compress_isal_verifies_and_is_measured() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = RunOptions { device: DeviceChoice::Dpdk(spec("compress_isal")), ..RunOptions::default() };
    for kind in ScenarioKind::ALL {
        let label = kind.name();
        let r = run_scenario(&small(kind), Mode::Offload, &profile, &opts)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(r.verification.ok, "{label}: {:?}", r.verification.failures);
        assert_eq!(r.throughput.source, Source::Measured, "{label}");
        let d = r.device.as_ref().expect("a device summary");
        assert!(!d.modelled, "{label}");
        assert!(d.name.starts_with("compress_isal (software PMD on this host"), "{label}: {}", d.name);
        assert!(!d.name.contains("DPU"), "{label}: a software PMD is no DPU: {}", d.name);
        assert!(d.descriptors > 0, "{label}: nothing went to the PMD");
        assert_eq!(d.error_completions, 0, "{label}");
        // CRC32C and the cache ops ran on the host, said so; nothing failed over.
        assert_eq!(
            r.fallbacks.after_device_error + r.fallbacks.after_timeout,
            0,
            "{label}: {:?}",
            r.fallbacks
        );
        assert!(r.fallbacks.reasons.iter().any(|x| x.contains("compressdev has no such op")), "{label}");
    }
}

#[test]
fn a_fan_in_read_through_compress_zlib_verifies_every_chunk() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = RunOptions { device: DeviceChoice::Dpdk(spec("compress_zlib")), ..RunOptions::default() };
    let mut s = small(ScenarioKind::FanInRead);
    s.compression = Some(CompressionSpec { algorithm: Algorithm::Zlib, level: 6 });
    // DPDK 22.11's zlib PMD takes no chained mbufs: chunks that fit one segment.
    s.chunk_size_bytes = 16 << 10;
    s.object_size_bytes = 1 << 20;
    let r = run_scenario(&s, Mode::Offload, &profile, &opts).unwrap();
    assert!(r.verification.ok, "{:?}", r.verification.failures);
    let d = r.device.as_ref().unwrap();
    assert!(d.name.starts_with("compress_zlib (software PMD on this host"), "{}", d.name);
    assert!(d.descriptors > 0);
    assert_eq!(r.fallbacks.after_device_error + r.fallbacks.after_timeout, 0, "{:?}", r.fallbacks);
    // It computes no checksum: the trailer's Adler-32 is the host CPU's, and said so.
    assert!(r
        .fallbacks
        .reasons
        .iter()
        .any(|x| x.contains("Adler-32 of zlib trailers is computed on the host CPU")));
}

/// Every regular file under `dir`, by its path below it.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, std::path::PathBuf> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), p);
            }
        }
    }
    out
}

#[test]
fn stored_chunks_differ_from_host_modes_but_gunzip_to_the_same_bytes_and_pass_crc32c() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = RunOptions { device: DeviceChoice::Dpdk(spec("compress_isal")), ..RunOptions::default() };
    let dir = tempfile::tempdir().unwrap();
    let mut s = small(ScenarioKind::FanOutWrite);
    let blob = dir.path().join("blob");
    std::fs::create_dir(&blob).unwrap();
    s.blob = Some(blob.to_string_lossy().into_owned());
    let c = compare(&s, &profile, &opts).unwrap();
    assert!(c.host.verification.ok && c.offload.verification.ok);
    let host = files(&blob.join("fan-out-write-host-seed".to_string() + &s.seed.to_string()));
    let dpdk = files(&blob.join("fan-out-write-offload-seed".to_string() + &s.seed.to_string()));
    // A stored chunk is `chunks/nodeNNNN/INDEX.CRC32C` (its stored bytes' CRC32C, in hex).
    let by_chunk = |files: &std::collections::BTreeMap<std::path::PathBuf, std::path::PathBuf>| {
        files
            .iter()
            .filter(|(k, _)| k.starts_with("chunks"))
            .map(|(k, p)| {
                let (stem, crc) = k.to_str().unwrap().rsplit_once('.').unwrap();
                (stem.to_string(), (u32::from_str_radix(crc, 16).unwrap(), p.clone()))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (host, dpdk) = (by_chunk(&host), by_chunk(&dpdk));
    assert!(host.len() >= 8, "chunks in host mode's blob tier: {}", host.len());
    assert_eq!(host.keys().collect::<Vec<_>>(), dpdk.keys().collect::<Vec<_>>(), "the same chunks");
    let gunzip = |p: &std::path::Path| {
        let out = Command::new("gzip").arg("-dc").arg(p).output().expect("gzip runs");
        assert!(out.status.success(), "gzip -d {}: {}", p.display(), String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let mut differ = 0;
    for (chunk, (host_crc, host_path)) in &host {
        let (dpdk_crc, dpdk_path) = &dpdk[chunk];
        let (a, b) = (std::fs::read(host_path).unwrap(), std::fs::read(dpdk_path).unwrap());
        assert_eq!(dpukit_kernels::crc32c::crc32c(&a), *host_crc, "{chunk}: host mode's CRC32C");
        assert_eq!(dpukit_kernels::crc32c::crc32c(&b), *dpdk_crc, "{chunk}: the stored bytes pass CRC32C");
        differ += usize::from(a != b);
        assert!(gunzip(host_path) == gunzip(dpdk_path), "{chunk}: other bytes after gzip -d");
    }
    // ISA-L's DEFLATE is not libdeflate's: the stored bytes (and so the manifests) differ.
    assert!(differ > 0, "every stored chunk equals host mode's");
    assert!(!c.equivalent);
}

/// Runs `name` (an ignored test of this binary) in a child process with its own EAL;
/// returns its combined output, failing if it failed.
fn child(name: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture", "--test-threads", "1"])
        .output()
        .expect("the test binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run:\n{text}");
    text
}

#[test]
fn bad_eal_arguments_a_missing_pmd_and_too_few_queue_pairs_are_one_line_each() {
    child("child_eal_arguments_that_fail");
    child("child_a_pmd_that_is_not_there");
    child("child_too_few_queue_pairs");
}

fn open_err(s: DpdkSpec, cfg: &OffloadConfig) -> String {
    match Offload::with_choice(
        registry(),
        cfg,
        &Profile::builtin("bluefield-2").unwrap(),
        &DeviceChoice::Dpdk(s),
    ) {
        Ok(_) => panic!("the device opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
#[ignore = "run by bad_eal_arguments_..., in a process of its own"]
fn child_eal_arguments_that_fail() {
    let mut s = spec("compress_isal");
    s.eal = Some("--no-huge --in-memory --no-such-eal-flag".into());
    let e = open_err(s.clone(), &config(4096, 8192));
    assert!(e.contains("DPDK EAL did not start") && e.contains("--no-such-eal-flag"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    // EAL starts once per process: it stays failed, and says so again.
    let e = open_err(s, &config(4096, 8192));
    assert!(e.contains("DPDK EAL did not start"), "{e}");
}

#[test]
#[ignore = "run by bad_eal_arguments_..., in a process of its own"]
fn child_a_pmd_that_is_not_there() {
    // EAL starts (with the ISA-L PMD only); the device asked for is not among its devices.
    let mut s = DpdkSpec::parse("compress_qat").unwrap();
    s.eal = Some(eal("--vdev=compress_isal0"));
    let e = open_err(s.clone(), &config(4096, 8192));
    assert!(e.contains("no compressdev device `compress_qat`") && e.contains("librte-common-qat23"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    // Other EAL arguments in the same process: refused in one line.
    let mut other = spec("compress_isal");
    other.eal = Some("--no-huge -l 0".into());
    let e = open_err(other, &config(4096, 8192));
    assert!(e.contains("EAL already runs in this process"), "{e}");
}

#[test]
#[ignore = "run by bad_eal_arguments_..., in a process of its own"]
fn child_too_few_queue_pairs() {
    let mut s = spec("compress_isal");
    s.queue_pairs = 1;
    let cfg = config(4096, 8192);
    let first = Offload::with_choice(
        registry(),
        &cfg,
        &Profile::builtin("bluefield-2").unwrap(),
        &DeviceChoice::Dpdk(s.clone()),
    )
    .unwrap();
    let e = open_err(s.clone(), &cfg);
    assert!(e.contains("all 1 queue pairs") && e.contains("--dpdk-queue-pairs"), "{e}");
    // Given back when its node is done.
    drop(first);
    Offload::with_choice(registry(), &cfg, &Profile::builtin("bluefield-2").unwrap(), &DeviceChoice::Dpdk(s))
        .unwrap();
}

#[test]
fn the_devices_profile_is_measured_through_it_and_validate_holds_the_model_against_it() {
    use dpukit_host::calibrate::{dpdk_device_profile, DpdkProfileOptions};
    use dpukit_host::validate::{validate_device, DeviceValidateOptions};
    use dpukit_sim::profile::{Confidence, ProfileKind};
    let opts = DpdkProfileOptions {
        chunk_bytes: 256 << 10,
        rounds: 2,
        round: std::time::Duration::from_millis(5),
        ..Default::default()
    };
    let text = dpdk_device_profile(&spec("compress_isal"), &opts).unwrap();
    let p = Profile::from_toml_str(&text, "measured").unwrap();
    assert_eq!(p.kind, ProfileKind::OnCpuAccelerator);
    assert_eq!(p.name, "compress-isal");
    assert!(p.cores.is_none(), "ops without an engine run on the host, as beside the device");
    assert_eq!(p.accelerators.len(), 2);
    for a in &p.accelerators {
        assert_eq!(a.bandwidth_bytes_per_s.confidence, Confidence::Measured, "{}", a.name);
        assert!(a.bandwidth_bytes_per_s.value > 1e6 && a.setup_latency_ns.value >= 0.0, "{}", a.name);
    }
    // The validation: the device measured, its profile modelled, on the same fan-out write.
    let v = validate_device(&DeviceValidateOptions {
        rounds: 1,
        object_size_bytes: 4 << 20,
        chunk_size_bytes: 256 << 10,
        scenarios: vec![ScenarioKind::FanOutWrite],
        device: DeviceChoice::Dpdk(spec("compress_isal")),
        compression: Some(CompressionSpec { algorithm: Algorithm::Gzip, level: 1 }),
        ..Default::default()
    })
    .unwrap();
    assert!(v.device.starts_with("compress_isal (software PMD on this host"), "{}", v.device);
    assert_eq!(v.goal, 0.15);
    let c = &v.cases[0];
    assert_eq!((c.measured.len(), c.modelled.len()), (2, 1), "{c:?}");
    assert!(c.measured_mean > 0.0 && c.modelled_mean > 0.0, "{c:?}");
    assert!(v.render_table().contains("[meas]") && v.render_table().contains("[model]"));
}

fn accel_spec(op: AccelOp) -> AccelSpec {
    AccelSpec {
        op,
        transfer_bytes: 16 << 10,
        queue_depth: 4,
        buffers_per_op: 1,
        threads: 1,
        batch: 1,
        seconds: 0.2,
        warmup_seconds: 0.02,
        max_wall_seconds: 30.0,
        verify: true,
        seed: 3,
        data: DataSource::Generated { compressibility: 2.0 },
        percentiles: vec![50.0, 99.0],
        sides: Sides::Offload,
        device: DeviceChoice::Dpdk(spec("compress_isal")),
        plugin: None,
    }
}

/// `dpukit accel -w compress --algorithm gzip -l 1 -y --device dpdk:compress_isal`: every
/// op ran on the device, came back gzip that decompresses to its input, and every figure
/// of the side is measured; the device is named, not a profile's simulator.
#[test]
fn accel_gzip_compress_on_compress_isal_verifies_and_is_measured() {
    let bf2 = Profile::builtin("bluefield-2").unwrap();
    let r =
        accel::run(&accel_spec(AccelOp::Compress { algorithm: Algorithm::Gzip, level: 1 }), &bf2).unwrap();
    let side = &r.sides[0];
    assert!(side.engine.contains("compress_isal") && !side.engine.contains("simulated"), "{}", side.engine);
    assert!(side.clock.starts_with("wall"), "{}", side.clock);
    let t = &side.total;
    assert!(t.ops > 0, "{side:?}");
    assert_eq!((t.failed, t.miscompares), (0, 0), "{side:?}");
    assert_eq!(side.fallbacks.total(), 0, "{:?}", side.fallbacks);
    assert!(!side.engine.contains("fell back"), "{}", side.engine);
    for f in [&side.window_s, &t.ops_per_s, &side.host_cpu_ns_per_op] {
        assert_eq!(f.source, Source::Measured, "{f:?}");
    }
    assert_eq!(side.latency.source, Source::Measured);
    assert_eq!(side.device_latency.as_ref().map(|l| l.source), Some(Source::Measured));
    assert!(side.ratio.is_some_and(|r| r < 1.0), "{:?}", side.ratio);
}

/// CRC32C through the DPDK device: compressdev has no such op, so every op ran on the host
/// CPU; the side says so in its engine and counts it as a fallback with the reason.
#[test]
fn accel_crc32c_through_dpdk_is_a_labelled_host_fallback() {
    let bf2 = Profile::builtin("bluefield-2").unwrap();
    let r = accel::run(&accel_spec(AccelOp::Crc32c), &bf2).unwrap();
    let side = &r.sides[0];
    assert!(side.total.ops > 0 && side.total.miscompares == 0, "{side:?}");
    assert!(side.engine.starts_with("host CPU: every op fell back to it"), "{}", side.engine);
    assert!(side.engine.contains("compress_isal"), "{}", side.engine);
    assert!(side.device_latency.is_none(), "no op ran on the device: {:?}", side.device_latency);
    assert!(side.fallbacks.unsupported_ops >= side.total.ops, "{:?}", side.fallbacks);
    assert!(
        side.fallbacks.reasons.iter().any(|r| r.contains("crc32c not supported by the device")),
        "{:?}",
        side.fallbacks.reasons
    );
    let table = dpukit_host::report::render_accel_table(&r);
    assert!(table.contains("fallbacks to the host CPU"), "{table}");
}
