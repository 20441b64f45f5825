use super::*;

fn spec(op: AccelOp, sides: Sides) -> AccelSpec {
    AccelSpec {
        op,
        transfer_bytes: 4096,
        queue_depth: 4,
        buffers_per_op: 1,
        threads: 1,
        batch: 1,
        // Long enough that a busy machine still finishes ops inside the window: a test
        // asserts each side ran some.
        seconds: 0.2,
        warmup_seconds: 0.0,
        max_wall_seconds: 20.0,
        verify: true,
        seed: 7,
        data: DataSource::Generated { compressibility: 2.0 },
        percentiles: vec![50.0, 99.0],
        sides,
    }
}

#[test]
fn ops_parse_and_refuse_with_the_flag_named() {
    assert_eq!(AccelOp::parse("crc32c", None, None), Ok(AccelOp::Crc32c));
    assert_eq!(
        AccelOp::parse("compress", Some("gzip"), Some("1")),
        Ok(AccelOp::Compress { algorithm: Algorithm::Gzip, level: 1 })
    );
    assert!(matches!(AccelOp::parse("crc64", None, None), Err(AccelError::UnknownOp(_))));
    assert!(matches!(AccelOp::parse("user:xor", None, None), Err(AccelError::PluginOp(n)) if n == "xor"));
    assert!(matches!(
        AccelOp::parse("compress", Some("zstd"), Some("20")),
        Err(AccelError::LevelOutOfRange { max: 19, .. })
    ));
    assert!(matches!(AccelOp::parse("crc32c", None, Some("3")), Err(AccelError::NotACodecOp { .. })));
}

#[test]
fn a_profile_without_the_op_names_what_is_missing() {
    let iaa = Profile::builtin("intel-dsa-iaa").unwrap();
    assert_eq!(route_on(&iaa, &AccelOp::Crc32c).unwrap(), "accel:dsa");
    let e = route_on(&iaa, &AccelOp::Lookup).unwrap_err().to_string();
    assert!(e.contains("no accelerator runs cache_lookup") && e.contains("no DPU cores"), "{e}");
    let host = Profile::builtin("host-only").unwrap();
    assert!(route_on(&host, &AccelOp::Crc32c).unwrap_err().to_string().contains("no device"));
}

/// Every op, both sides, verified: no failure and no miscompare, and the offload side
/// ran on the device (no fallback).
#[test]
fn every_op_verifies_on_both_sides() {
    let bf2 = Profile::builtin("bluefield-2").unwrap();
    for op in [
        AccelOp::Copy,
        AccelOp::Crc32c,
        AccelOp::CopyCrc32c,
        AccelOp::Compress { algorithm: Algorithm::Gzip, level: 1 },
        AccelOp::Decompress { algorithm: Algorithm::Lz4, level: 0 },
        AccelOp::Lookup,
        AccelOp::Insert,
    ] {
        let r = run(&spec(op, Sides::Both), &bf2).unwrap();
        for side in &r.sides {
            let t = &side.total;
            assert!(t.ops > 0, "{op:?} {:?} ran", side.mode);
            assert_eq!((t.failed, t.miscompares), (0, 0), "{op:?} {:?}", side.mode);
            assert_eq!(side.fallbacks.total(), 0, "{op:?} {:?}", side.mode);
        }
        assert_eq!(r.sides[1].total.ops_per_s.source, Source::Modelled);
    }
}

/// Several buffers per op: one CRC over all of them, on the host and chained on the
/// device, both equal to the CRC of the concatenation.
#[test]
fn chained_crc_over_several_buffers() {
    let bf3 = Profile::builtin("bluefield-3").unwrap();
    let mut s = spec(AccelOp::Crc32c, Sides::Both);
    s.buffers_per_op = 4;
    s.transfer_bytes = 1000;
    let r = run(&s, &bf3).unwrap();
    assert_eq!(r.sides.len(), 2);
    for side in &r.sides {
        assert!(side.total.ops > 0);
        assert_eq!(side.total.miscompares, 0, "{:?}", side.mode);
    }
}
