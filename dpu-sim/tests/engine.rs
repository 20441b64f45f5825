//! The engine end to end: descriptors through a queue pair, executed on real bytes and
//! timed by the model; malformed descriptors, chaining, fences, budgets, faults, C
//! plugins and live emulation.

use dpukit_ffi::{
    Algorithm, BufRef, Completion, DescFlags, Descriptor, HostQueue, Op, QueuePair, QueuePairConfig, Status,
};
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_kernels::crc32c::crc32c;
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::{ClockMode, Engine, EngineConfig};
use dpukit_sim::live::LiveDevice;
use dpukit_sim::plugin::{CKernel, PluginError};
use dpukit_sim::profile::{FaultConfig, Profile};
use dpukit_sim::timing::SimTime;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MEM: usize = 1 << 20;

struct Fixture {
    host: HostQueue,
    engine: Engine,
    mem: Vec<u8>,
    region: u32,
}

fn registry() -> Registry {
    Registry::new(Arc::new(CacheIndex::new(4096).unwrap()))
}

fn fixture_with(profile: &Profile, cfg: EngineConfig, qp: QueuePairConfig) -> Fixture {
    let (host, dev) = QueuePair::create(qp).unwrap();
    let mut engine = Engine::new(profile, registry(), cfg).unwrap();
    engine.attach(dev);
    let mut mem = vec![0u8; MEM];
    for (i, b) in mem.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] & 0x3f;
    }
    // SAFETY: `mem` lives in the fixture with the queue pair, never moves (its heap
    // buffer is fixed), and tests only touch it between submit and after poll.
    let region = unsafe { host.register_region(mem.as_mut_ptr(), mem.len() as u64) }.unwrap().0;
    Fixture { host, engine, mem, region }
}

fn fixture() -> Fixture {
    fixture_with(
        &Profile::builtin("bluefield-2").unwrap(),
        EngineConfig::default(),
        QueuePairConfig::default(),
    )
}

impl Fixture {
    fn buf(&self, offset: u64, len: u32) -> BufRef {
        BufRef::new(self.region, offset, len)
    }

    /// Submits, polls the device at `now` until everything is answered, returns the
    /// completions in order of arrival.
    fn run(&mut self, descs: &[Descriptor], now: SimTime) -> Vec<Completion> {
        assert_eq!(self.host.submit(descs), descs.len());
        let mut out = Vec::new();
        for _ in 0..1000 {
            self.engine.poll(now);
            self.host.poll(256, &mut out).unwrap();
            if self.engine.pending() == 0 && out.len() >= descs.len() {
                break;
            }
        }
        // Completions arrive in modelled-completion order; tests read them by tag.
        out.sort_by_key(|c| c.tag);
        out
    }
}

#[test]
fn crc_copy_and_chained_crc_match_the_kernels() {
    let mut f = fixture();
    let whole = crc32c(&f.mem[..300_000]);
    let descs = [
        Descriptor::new(1, Op::Crc32c { src: f.buf(0, 300_000), seed: 0 }),
        // One CRC spanning three descriptors.
        Descriptor::new(2, Op::Crc32c { src: f.buf(0, 100_000), seed: 0 }),
        Descriptor::new(3, Op::Crc32c { src: f.buf(100_000, 150_000), seed: 0 })
            .with_flags(DescFlags::CRC_SEED_PREV),
        Descriptor::new(
            4,
            Op::CopyCrc32c { src: f.buf(250_000, 50_000), dst: f.buf(600_000, 50_000), seed: 0 },
        )
        .with_flags(DescFlags::CRC_SEED_PREV | DescFlags::COMPLETION),
    ];
    let c = f.run(&descs, SimTime::ZERO);
    assert_eq!(c.len(), 3, "descriptor 3 asked for no completion");
    assert_eq!((c[0].tag, c[0].status, c[0].result as u32), (1, Status::Ok, whole));
    assert_eq!((c[2].tag, c[2].status, c[2].result as u32), (4, Status::Ok, whole));
    assert_eq!(&f.mem[600_000..650_000], &f.mem[250_000..300_000].to_vec()[..]);
    assert!(c.iter().all(|c| c.modelled_ns > 0), "every completion carries a modelled time");
    assert_eq!(f.engine.stats().silent_successes, 1);
}

#[test]
fn compression_and_cache_ops_through_the_device() {
    let mut f = fixture();
    let n = 64 * 1024u32;
    let mut descs = Vec::new();
    for (i, (algorithm, level)) in
        [(Algorithm::Gzip, 6u8), (Algorithm::Lz4, 0), (Algorithm::Zstd, 3), (Algorithm::Zlib, 1)]
            .iter()
            .enumerate()
    {
        let dst = 200_000 + i as u64 * 80_000;
        descs.push(Descriptor::new(
            i as u64,
            Op::Compress { src: f.buf(0, n), dst: f.buf(dst, 80_000), algorithm: *algorithm, level: *level },
        ));
    }
    let c = f.run(&descs, SimTime::ZERO);
    assert!(c.iter().all(|c| c.status == Status::Ok), "{c:?}");
    // Decompress each back and compare.
    let mut back = Vec::new();
    for (i, cpl) in c.iter().enumerate() {
        let algorithm = [Algorithm::Gzip, Algorithm::Lz4, Algorithm::Zstd, Algorithm::Zlib][i];
        let src = 200_000 + i as u64 * 80_000;
        back.push(Descriptor::new(
            10 + i as u64,
            Op::Decompress {
                src: f.buf(src, cpl.result as u32),
                dst: f.buf(600_000 + i as u64 * 70_000, 70_000),
                algorithm,
            },
        ));
    }
    let d = f.run(&back, SimTime::from_ns(1_000_000));
    for (i, cpl) in d.iter().enumerate() {
        assert_eq!((cpl.status, cpl.result), (Status::Ok, n as u64), "{i}");
        let at = 600_000 + i * 70_000;
        assert_eq!(&f.mem[at..at + n as usize], &f.mem[..n as usize].to_vec()[..]);
    }

    let key = CacheKey::for_chunk(1, 2).to_bytes();
    let loc = Location::new(2, 1, 12345, 4096, 0xfeed).unwrap();
    let ops = [
        Descriptor::new(20, Op::CacheLookup { key, dst: f.buf(900_000, 16) }),
        Descriptor::new(21, Op::CacheInsert { key, value: loc.to_bytes() }),
        Descriptor::new(22, Op::CacheLookup { key, dst: f.buf(900_000, 16) }),
        Descriptor::new(23, Op::CacheDelete { key }),
        Descriptor::new(24, Op::CacheDelete { key }),
    ];
    let c = f.run(&ops, SimTime::from_ns(2_000_000));
    let st: Vec<_> = c.iter().map(|c| c.status).collect();
    assert_eq!(st, vec![Status::NotFound, Status::Ok, Status::Ok, Status::Ok, Status::NotFound]);
    assert_eq!(Location::from_bytes(f.mem[900_000..900_016].try_into().unwrap()), loc);
}

#[test]
fn malformed_descriptors_get_errors_and_the_queue_keeps_going() {
    let mut f = fixture();
    let mut bad_opcode = Descriptor::new(2, Op::Nop).encode();
    bad_opcode.0.opcode = 0x33;
    let mut bad_flags = Descriptor::new(3, Op::Nop).encode();
    bad_flags.0.flags = 1 << 20;
    assert_eq!(f.host.submit_raw(&[bad_opcode, bad_flags]), 2);
    let descs = [
        Descriptor::new(4, Op::Crc32c { src: BufRef::new(99, 0, 10), seed: 0 }),
        Descriptor::new(5, Op::Crc32c { src: f.buf(MEM as u64 - 5, 10), seed: 0 }),
        Descriptor::new(6, Op::Copy { src: f.buf(0, 100), dst: f.buf(50, 100) }),
        Descriptor::new(
            7,
            Op::Decompress { src: f.buf(0, 1000), dst: f.buf(10_000, 1000), algorithm: Algorithm::Zstd },
        ),
        Descriptor::new(
            8,
            Op::Compress {
                src: f.buf(0, 60_000),
                dst: f.buf(100_000, 100),
                algorithm: Algorithm::Lz4,
                level: 0,
            },
        ),
        Descriptor::new(9, Op::Crc32c { src: f.buf(0, 10), seed: 0 })
            .with_flags(DescFlags::CRC_SEED_PREV | DescFlags::COMPLETION),
        Descriptor::new(
            10,
            Op::User {
                opcode: 0x90,
                src: f.buf(0, 1),
                dst: BufRef::NONE,
                arg0: 0,
                arg1: 0,
                algo: 0,
                level: 0,
            },
        ),
        Descriptor::new(11, Op::Crc32c { src: f.buf(0, 10), seed: 0 }),
    ];
    let c = f.run(&descs, SimTime::ZERO);
    let st: Vec<_> = c.iter().map(|c| (c.tag, c.status)).collect();
    assert_eq!(
        st,
        vec![
            (2, Status::UnknownOpcode),
            (3, Status::BadFlags),
            (4, Status::UnknownRegion),
            (5, Status::OutOfRange),
            (6, Status::OutOfRange),
            (7, Status::CorruptInput),
            (8, Status::DstTooSmall),
            (9, Status::ChainAborted),
            (10, Status::UnknownOpcode),
            (11, Status::Ok),
        ]
    );
    assert_eq!(f.engine.stats().errors(), 9);
}

#[test]
fn fences_order_the_model_and_budgets_bound_each_poll() {
    let mut f = fixture_with(
        &Profile::builtin("bluefield-2").unwrap(),
        EngineConfig { completion_budget: 4, fetch_batch: 64, ..EngineConfig::default() },
        QueuePairConfig::default(),
    );
    // Two independent 256 KiB deflate compressions share one engine: the second queues.
    // A fenced third must start after both complete.
    let mk = |dst| Op::Compress {
        src: BufRef::new(1, 0, 256 * 1024),
        dst: BufRef::new(1, dst, 300 * 1024),
        algorithm: Algorithm::Gzip,
        level: 1,
    };
    let descs = [
        Descriptor::new(1, mk(300_000)),
        Descriptor::new(2, mk(600_000)),
        Descriptor::new(3, Op::Crc32c { src: BufRef::new(1, 0, 64), seed: 0 }),
        Descriptor::new(4, Op::Crc32c { src: BufRef::new(1, 0, 64), seed: 0 })
            .with_flags(DescFlags::FENCE | DescFlags::COMPLETION),
    ];
    let c = f.run(&descs, SimTime::ZERO);
    let t = |tag| c.iter().find(|c| c.tag == tag).unwrap().modelled_ns;
    assert!(t(2) > t(1), "the second compression queued behind the first");
    assert!(t(3) < t(1), "an unfenced small CRC overtakes the compressions");
    assert!(t(4) > t(2), "the fenced CRC completes after both compressions");

    // Budget: 10 NOPs, at most 4 completions per poll.
    let nops: Vec<_> = (100..110).map(|t| Descriptor::new(t, Op::Nop)).collect();
    assert_eq!(f.host.submit(&nops), 10);
    let o = f.engine.poll(SimTime::from_ns(10_000_000));
    assert_eq!((o.fetched, o.posted, o.pending), (10, 4, 6));
    let o = f.engine.poll(SimTime::from_ns(10_000_000));
    assert_eq!((o.posted, o.pending), (4, 2));
}

#[test]
fn the_device_takes_no_more_than_it_can_complete() {
    let mut f = fixture_with(
        &Profile::builtin("bluefield-3").unwrap(),
        EngineConfig::default(),
        QueuePairConfig { sq_entries: 64, cq_entries: 8, max_regions: 4 },
    );
    let nops: Vec<_> = (0..40).map(|t| Descriptor::new(t, Op::Nop)).collect();
    assert_eq!(f.host.submit(&nops), 40);
    let o = f.engine.poll(SimTime::ZERO);
    assert_eq!((o.fetched, o.posted), (8, 8), "completion ring of 8 bounds the fetch");
    assert_eq!(f.engine.poll(SimTime::ZERO).fetched, 0, "full completion ring: backpressure");
    let mut got = Vec::new();
    while got.len() < 40 {
        f.host.poll(64, &mut got).unwrap();
        f.engine.poll(SimTime::ZERO);
    }
    assert_eq!(got.iter().map(|c| c.tag).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>());
}

#[test]
fn host_only_and_unrouted_ops() {
    let err = Engine::new(&Profile::builtin("host-only").unwrap(), registry(), EngineConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("no device"), "{err}");
    // DSA/IAA has no engine for cache lookups and no device cores.
    let mut f = fixture_with(
        &Profile::builtin("intel-dsa-iaa").unwrap(),
        EngineConfig::default(),
        QueuePairConfig::default(),
    );
    assert!(!f.engine.supports(dpukit_ffi::Opcode::CacheLookup, None));
    assert!(f.engine.supports(dpukit_ffi::Opcode::Crc32c, None));
    let c = f.run(&[Descriptor::new(1, Op::CacheDelete { key: [1; 16] })], SimTime::ZERO);
    assert_eq!(c[0].status, Status::UnknownOpcode);
}

#[test]
fn injected_faults_drop_doorbells_and_fail_ops() {
    let faults = FaultConfig { doorbell_drop_rate: 1.0, ..FaultConfig::default() };
    let mut f = fixture_with(
        &Profile::builtin("bluefield-2").unwrap(),
        EngineConfig { faults: Some(faults), ..EngineConfig::default() },
        QueuePairConfig::default(),
    );
    assert_eq!(f.host.submit(&[Descriptor::new(1, Op::Nop)]), 1);
    for _ in 0..10 {
        assert_eq!(f.engine.poll(SimTime::ZERO).fetched, 0, "every doorbell is dropped");
    }
    assert_eq!(f.engine.stats().doorbells_dropped, 1);

    let faults = FaultConfig { error_completion_rate: 0.5, ..FaultConfig::default() };
    let mut f = fixture_with(
        &Profile::builtin("bluefield-2").unwrap(),
        EngineConfig { faults: Some(faults), fault_seed: 7, ..EngineConfig::default() },
        QueuePairConfig::default(),
    );
    let descs: Vec<_> =
        (0..200).map(|t| Descriptor::new(t, Op::Crc32c { src: BufRef::new(1, 0, 512), seed: 0 })).collect();
    let mut c = Vec::new();
    for chunk in descs.chunks(50) {
        c.extend(f.run(chunk, SimTime::ZERO));
    }
    let failed = c.iter().filter(|c| c.status == Status::DeviceUnavailable).count();
    assert_eq!(c.len(), 200);
    assert!((60..140).contains(&failed), "about half fail: {failed}");
    assert_eq!(failed as u64, f.engine.stats().injected_errors);
}

fn header_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ffi/include")
}

fn build_plugin() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libdpukit_xor_kernel.so");
    let status = std::process::Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC", "-I"])
        .arg(header_dir())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/xor_kernel.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("`cc` not found: install gcc");
    assert!(status.success(), "building the C plugin failed");
    out
}

fn profile_with_xor_cost() -> Profile {
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/bluefield-2.toml"))
            .unwrap();
    let extra = r#"
[[user_kernels]]
name = "xor"
fixed_ns = { value = 100.0, source = "assumed: test kernel", confidence = "assumed" }
bytes_per_s = { value = 2.0e9, source = "assumed: test kernel", confidence = "assumed" }
"#;
    Profile::from_toml_str(&format!("{base}{extra}"), "bluefield-2+xor.toml").unwrap()
}

#[test]
fn c_plugin_from_a_shared_object_runs_through_a_queue() {
    let so = build_plugin();
    let kernel = CKernel::load(&so, None).unwrap();
    let profile = profile_with_xor_cost();
    let mut f = fixture_with(&profile, EngineConfig::default(), QueuePairConfig::default());
    f.engine.bind_user_kernel(0x80, Arc::new(kernel)).unwrap();
    let op = |tag, len| {
        Descriptor::new(
            tag,
            Op::User {
                opcode: 0x80,
                src: BufRef::new(1, 0, len),
                dst: BufRef::new(1, 500_000, 4096),
                arg0: 0x5a,
                arg1: 0,
                algo: 0,
                level: 0,
            },
        )
    };
    let c = f.run(&[op(1, 4096), op(2, 5000)], SimTime::ZERO);
    let expect_nonzero = f.mem[..4096].iter().filter(|&&b| b != 0x5a).count() as u64;
    assert_eq!((c[0].status, c[0].result), (Status::Ok, expect_nonzero));
    for i in 0..4096 {
        assert_eq!(f.mem[500_000 + i], f.mem[i] ^ 0x5a);
    }
    assert_eq!(c[1].status, Status::DstTooSmall, "the plugin's own status comes back");
    assert!(c[0].modelled_ns > 2_000, "4 KiB at 2 GB/s plus fixed costs");

    // Errors name the problem.
    let missing = CKernel::load(Path::new("/nonexistent/libnope.so"), None).unwrap_err();
    assert!(
        matches!(missing, PluginError::Open { .. })
            && missing.to_string().contains("/nonexistent/libnope.so")
    );
    let nosym = CKernel::load(&so, Some("no_such_entry")).unwrap_err();
    assert!(nosym.to_string().contains("no_such_entry"), "{nosym}");
    let future = CKernel::load(&so, Some("future_plugin")).unwrap_err();
    assert!(matches!(future, PluginError::AbiMismatch { major: 2, .. }), "{future}");
    // A kernel without a cost in the profile is refused with the fix in the message.
    let mut g = fixture();
    let e = g.engine.bind_user_kernel(0x81, Arc::new(CKernel::load(&so, None).unwrap())).unwrap_err();
    assert!(e.to_string().contains("[[user_kernels]]"), "{e}");
}

#[test]
fn live_device_never_answers_before_the_modelled_time() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let (mut host, dev) = QueuePair::create(QueuePairConfig::default()).unwrap();
    let mut engine =
        Engine::new(&profile, registry(), EngineConfig { clock: ClockMode::Live, ..EngineConfig::default() })
            .unwrap();
    engine.attach(dev);
    let mut mem = vec![7u8; 1 << 20];
    // SAFETY: `mem` outlives the device (stopped below) and is not touched meanwhile.
    let r = unsafe { host.register_region(mem.as_mut_ptr(), mem.len() as u64) }.unwrap().0;
    let live = LiveDevice::spawn(engine).unwrap();
    let mut seen = 0;
    for round in 0..20u64 {
        // Deflate on BF-2 Arm cores is slow in the model: 64 KiB ~ 80 us+.
        let d = Descriptor::new(
            round,
            Op::Compress {
                src: BufRef::new(r, 0, 64 * 1024),
                dst: BufRef::new(r, 512 * 1024, 128 * 1024),
                algorithm: Algorithm::Zstd,
                level: 1,
            },
        );
        let submitted = std::time::Instant::now();
        assert_eq!(host.submit(&[d]), 1);
        let mut out = Vec::new();
        while out.is_empty() {
            host.poll(1, &mut out).unwrap();
            std::hint::spin_loop();
        }
        let waited_ns = submitted.elapsed().as_nanos() as u64;
        let c = out[0];
        assert_eq!(c.status, Status::Ok);
        // The device noticed the doorbell at or after `submitted`, and held the
        // completion until doorbell + modelled_ns: the host cannot have seen it sooner.
        assert!(
            waited_ns >= c.modelled_ns,
            "round {round}: waited {waited_ns} ns < modelled {} ns",
            c.modelled_ns
        );
        seen += 1;
    }
    let engine = live.stop();
    assert_eq!(seen, 20);
    assert_eq!(engine.stats().completions_posted, 20);
    drop(mem);
}
