//! Raw descriptors through the simulator's engine, on every shipped profile that has a
//! device. The engine must answer every descriptor exactly once (a completion, or a silent
//! success when the descriptor asked for none), reject exactly what `Descriptor::parse`
//! rejects with the same status, and every well-formed descriptor must survive an
//! encode/parse round trip bit for bit (the raw layout is canonical).
//!
//! Input: byte 0 picks the profile, byte 1 the switches (bit 0: aim buffer references at
//! the registered region, so most descriptors run their kernels instead of failing to
//! resolve; bits 1-3: the engine's fetch batch and completion budget), then 64-byte raw
//! descriptors. Each descriptor's tag is replaced by its index so answers can be counted.

use std::sync::{Arc, OnceLock};

use dpukit_ffi::abi::off;
use dpukit_ffi::{Completion, DescFlags, Descriptor, QueuePair, QueuePairConfig, RawDesc, Status};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::{Engine, EngineConfig};
use dpukit_sim::profile::{Profile, ProfileKind};
use dpukit_sim::timing::SimTime;

use crate::Bytes;

/// Device memory the descriptors point into.
pub const MEM_BYTES: usize = 64 << 10;
/// Most descriptors one input submits.
pub const MAX_DESCRIPTORS: usize = 512;

/// The shipped profiles that have a device, parsed once.
fn profiles() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        Profile::builtin_names()
            .map(|name| Profile::builtin(name).expect("shipped profiles load"))
            .filter(|p| p.kind != ProfileKind::HostOnly)
            .collect()
    })
}

/// Points the buffer reference at `at` into region `region` of `len` bytes, unless it is
/// empty (an empty reference means "none" to the parser).
pub fn aim(raw: &mut [u8; 64], at: usize, region: u32, len: usize) {
    if raw[at..at + 16].iter().all(|&b| b == 0) {
        return;
    }
    let field = |raw: &[u8; 64], o: usize, n: usize| {
        raw[at + o..at + o + n].iter().rev().fold(0u64, |a, &b| a << 8 | u64::from(b))
    };
    let offset = field(raw, off::BUF_OFFSET, 8) % len as u64;
    let room = len as u64 - offset;
    let n = field(raw, off::BUF_LEN, 4) % (room + 1);
    raw[at + off::BUF_REGION..at + off::BUF_REGION + 4].copy_from_slice(&region.to_le_bytes());
    raw[at + off::BUF_LEN..at + off::BUF_LEN + 4].copy_from_slice(&(n as u32).to_le_bytes());
    raw[at + off::BUF_OFFSET..at + off::BUF_OFFSET + 8].copy_from_slice(&offset.to_le_bytes());
}

pub fn target(data: &[u8]) {
    let mut input = Bytes(data);
    let all = profiles();
    let profile = &all[usize::from(input.u8()) % all.len()];
    let switches = input.u8();
    let cfg = EngineConfig {
        fetch_batch: [1, 4, 64, 256][usize::from(switches >> 1 & 3)],
        completion_budget: [1, 64][usize::from(switches >> 3 & 1)],
        ..EngineConfig::default()
    };
    let mut mem = memory();
    run(profile, cfg, &mut mem, &descriptors(input.rest()), switches & 1 != 0);
}

/// The device memory the descriptors point into, with a fixed pattern.
pub fn memory() -> Vec<u8> {
    (0..MEM_BYTES).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] & 0x3f).collect()
}

/// Cuts `data` into at most [`MAX_DESCRIPTORS`] raw descriptors (the last zero-padded).
pub fn descriptors(data: &[u8]) -> Vec<[u8; 64]> {
    data.chunks(64)
        .take(MAX_DESCRIPTORS)
        .map(|c| {
            let mut raw = [0u8; 64];
            raw[..c.len()].copy_from_slice(c);
            raw
        })
        .collect()
}

/// Runs `descs` through a fresh engine on `profile` with `mem` registered (buffer references
/// aimed at it first if `aimed`); checks that every descriptor is answered exactly once.
/// Returns the completions in arrival order.
pub fn run(
    profile: &Profile,
    cfg: EngineConfig,
    mem: &mut [u8],
    descs: &[[u8; 64]],
    aimed: bool,
) -> Vec<Completion> {
    let registry = Registry::new(Arc::new(CacheIndex::new(256).expect("a valid cache size")));
    let mut engine = match Engine::new(profile, registry, cfg) {
        Ok(engine) => engine,
        Err(e) => panic!("profile `{}` accepted but no engine: {e}", profile.name),
    };
    let (mut host, dev) = QueuePair::create(QueuePairConfig::default()).expect("default queue pair");
    engine.attach(dev);
    // SAFETY: `mem` outlives the queue pair and the engine (both dropped at the end of this
    // function) and is not touched here while descriptors are in flight.
    let region =
        unsafe { host.register_region(mem.as_mut_ptr(), mem.len() as u64) }.expect("one region fits").0;
    let raws: Vec<RawDesc> = descs
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut bytes = *bytes;
            if aimed {
                aim(&mut bytes, off::IO_SRC, region, mem.len());
                aim(&mut bytes, off::IO_DST, region, mem.len());
            }
            bytes[8..16].copy_from_slice(&(i as u64).to_le_bytes());
            RawDesc::from_bytes(bytes)
        })
        .collect();
    // What the parser says of each: the status of its error completion, if any.
    let parsed: Vec<Result<Descriptor, Status>> = raws
        .iter()
        .map(|raw| match Descriptor::parse(raw) {
            Ok(d) => {
                assert_eq!(d.encode().as_bytes(), raw.as_bytes(), "parse then encode changed the descriptor");
                assert_eq!(Descriptor::parse(&d.encode()), Ok(d));
                Ok(d)
            }
            Err(e) => {
                crate::assert_one_line("descriptor", &e.to_string());
                Err(e.status)
            }
        })
        .collect();

    let mut answers = vec![0u32; raws.len()];
    let mut completions = Vec::new();
    let mut submitted = 0;
    let mut now = SimTime::ZERO;
    let mut rounds = 0;
    while submitted < raws.len() || engine.pending() > 0 || engine.stats().descriptors < submitted as u64 {
        rounds += 1;
        assert!(
            rounds < 100_000,
            "the engine stopped making progress: {submitted} submitted, {} pending",
            engine.pending()
        );
        submitted += host.submit_raw(&raws[submitted..]);
        let outcome = engine.poll(now);
        let mut got = Vec::new();
        host.poll(usize::MAX, &mut got).expect("the engine posts only statuses this build knows");
        for c in got {
            let i = usize::try_from(c.tag)
                .ok()
                .filter(|&i| i < raws.len())
                .unwrap_or_else(|| panic!("completion for tag {} never submitted", c.tag));
            answers[i] += 1;
            completions.push(c);
        }
        if let Some(due) = outcome.next_due {
            now = now.max(due);
        }
        now = now.saturating_add(dpukit_sim::timing::SimDuration::from_ns(1_000));
    }
    let silent = engine.stats().silent_successes;
    for (i, (n, parsed)) in answers.iter().zip(&parsed).enumerate() {
        assert!(*n <= 1, "descriptor {i} answered {n} times");
        match parsed {
            Err(status) => {
                assert_eq!(*n, 1, "malformed descriptor {i} not answered");
                let c = completions.iter().find(|c| c.tag == i as u64).expect("answered");
                assert_eq!(c.status, *status, "descriptor {i}: engine and parser disagree");
                assert_eq!(c.opcode, raws[i].as_bytes()[0], "descriptor {i}: opcode not echoed");
            }
            Ok(d) if d.flags.contains(DescFlags::COMPLETION) => {
                assert_eq!(*n, 1, "descriptor {i} asked for a completion")
            }
            Ok(_) => {}
        }
    }
    let unanswered = answers.iter().filter(|&&n| n == 0).count() as u64;
    assert_eq!(unanswered, silent, "descriptors without an answer are not the silent successes");
    completions
}
