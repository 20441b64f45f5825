//! Profile TOML (`Profile::from_toml_str`, what `--profile FILE` reads). An accepted profile
//! is independent of its formatting (the same document written out again by a TOML writer
//! gives the same profile), and a device profile builds an engine that times and answers a
//! few descriptors of every kind: a profile that passes validation never breaks the model.

use dpukit_ffi::{Algorithm, BufRef, DescFlags, Descriptor, Op};
use dpukit_sim::engine::EngineConfig;
use dpukit_sim::profile::{Profile, ProfileKind};

use crate::assert_one_line;
use crate::engine::{memory, run, MEM_BYTES};

pub fn target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let profile = match Profile::from_toml_str(text, "fuzz.toml") {
        Ok(p) => p,
        Err(e) => return assert_one_line("profile", &e.to_string()),
    };
    let value: toml::Value = toml::from_str(text).expect("an accepted profile is TOML");
    let rewritten = toml::to_string(&value).expect("a TOML value serialises");
    let again = Profile::from_toml_str(&rewritten, "again.toml")
        .unwrap_or_else(|e| panic!("profile rejected once rewritten: {e}\n{rewritten}"));
    assert_eq!(format!("{again:?}"), format!("{profile:?}"), "rewriting the TOML changed the profile");
    if profile.kind == ProfileKind::HostOnly {
        return;
    }
    let region = 1;
    let buf = |offset: u64, len: u32| BufRef::new(region, offset, len);
    let n = 16 << 10;
    let ops = [
        Op::Nop,
        Op::Crc32c { src: buf(0, n), seed: 0 },
        Op::Copy { src: buf(0, n), dst: buf(n.into(), n) },
        Op::Compress {
            src: buf(0, n),
            dst: buf(2 * u64::from(n), n + 1024),
            algorithm: Algorithm::Lz4,
            level: 0,
        },
        Op::Compress {
            src: buf(0, n),
            dst: buf(2 * u64::from(n), n + 1024),
            algorithm: Algorithm::Zstd,
            level: 1,
        },
        Op::Compress {
            src: buf(0, n),
            dst: buf(2 * u64::from(n), n + 1024),
            algorithm: Algorithm::Gzip,
            level: 1,
        },
        Op::CacheInsert { key: [1; 16], value: [0; 16] },
        Op::CacheLookup { key: [1; 16], dst: buf(MEM_BYTES as u64 - 16, 16) },
        Op::CacheDelete { key: [1; 16] },
    ];
    let descs: Vec<[u8; 64]> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| *Descriptor::new(i as u64, *op).with_flags(DescFlags::COMPLETION).encode().as_bytes())
        .collect();
    let mut mem = memory();
    let answers = run(&profile, EngineConfig::default(), &mut mem, &descs, false);
    assert_eq!(answers.len(), descs.len());
}
