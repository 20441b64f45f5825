use super::*;
use dpukit_kernels::registry::{FnKernel, UserOutput};

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
        device: DeviceChoice::Simulated,
        plugin: None,
    }
}

/// A plugin op that xors every byte with its argument, as a Rust kernel.
fn xor_plugin(name: &str) -> Plugin {
    let k = FnKernel::new(name, |a: &UserArgs, src: &[u8], dst: &mut [u8]| {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s ^ a.arg0 as u8;
        }
        Ok(UserOutput { result: 0, dst_len: src.len() })
    });
    Plugin::from_kernel(Arc::new(k), format!("lib{name}.so").into())
}

/// bluefield-2 with a `[[user_kernels]]` cost for the plugin `name`.
fn bf2_with_cost(name: &str) -> Profile {
    Profile::from_toml_str(
        &format!(
            "{}\n[[user_kernels]]\nname = \"{name}\"\nfixed_ns = {{ value = 300.0, source = \"s\", confidence = \"assumed\" }}\nbytes_per_s = {{ value = 4.0e9, source = \"s\", confidence = \"assumed\" }}\n",
            Profile::builtin_toml("bluefield-2").unwrap()
        ),
        "bf2+cost.toml",
    )
    .unwrap()
}

fn user_spec(name: &str, sides: Sides) -> AccelSpec {
    let mut s = spec(AccelOp::User { name: name.into(), arg: 0x5a }, sides);
    s.plugin = Some(xor_plugin(name));
    s
}

#[test]
fn ops_parse_and_refuse_with_the_flag_named() {
    assert_eq!(AccelOp::parse("crc32c", None, None), Ok(AccelOp::Crc32c));
    assert_eq!(
        AccelOp::parse("compress", Some("gzip"), Some("1")),
        Ok(AccelOp::Compress { algorithm: Algorithm::Gzip, level: 1 })
    );
    assert!(matches!(AccelOp::parse("crc64", None, None), Err(AccelError::UnknownOp(_))));
    assert_eq!(AccelOp::parse("user:Xor", None, None), Ok(AccelOp::User { name: "Xor".into(), arg: 0 }));
    assert!(matches!(AccelOp::parse("user:", None, None), Err(AccelError::UnknownOp(_))));
    assert!(matches!(
        AccelOp::parse("user:xor", Some("gzip"), None),
        Err(AccelError::NotACodecOp { flag: "--algorithm" })
    ));
    assert!(matches!(
        AccelOp::parse("user:xor", None, Some("1")),
        Err(AccelError::NotACodecOp { flag: "-l" })
    ));
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
        let r = run(&spec(op.clone(), Sides::Both), &bf2).unwrap();
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

/// A plugin op on both sides, the simulator timing it at the profile's `[[user_kernels]]`
/// cost: every output checked against the plugin's own, none failed, none fell back.
#[test]
fn a_plugin_op_verifies_on_the_host_and_on_the_simulator() {
    let r = run(&user_spec("xor", Sides::Both), &bf2_with_cost("xor")).unwrap();
    assert_eq!(r.op_name, "user:xor");
    assert_eq!(r.sides.len(), 2);
    for side in &r.sides {
        let t = &side.total;
        assert!(t.ops > 0, "{:?} ran", side.mode);
        assert_eq!((t.failed, t.miscompares), (0, 0), "{:?}", side.mode);
        assert_eq!(side.fallbacks.total(), 0, "{:?}", side.mode);
        assert!(t.bandwidth.is_some(), "a plugin op moves its buffer");
    }
    assert_eq!(r.sides[1].engine, "bluefield-2 (simulated), dpu-cores");
    assert_eq!(r.sides[1].total.ops_per_s.source, Source::Modelled);
}

/// `-y` can fail: a plugin whose output changes from call to call miscompares.
#[test]
fn a_plugin_that_answers_differently_each_time_miscompares() {
    let calls = std::sync::atomic::AtomicU64::new(0);
    let k = FnKernel::new("drift", move |_: &UserArgs, src: &[u8], dst: &mut [u8]| {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.wrapping_add(n as u8);
        }
        Ok(UserOutput { result: 0, dst_len: src.len() })
    });
    let mut s = spec(AccelOp::User { name: "drift".into(), arg: 0 }, Sides::Host);
    s.plugin = Some(Plugin::from_kernel(Arc::new(k), "libdrift.so".into()));
    let r = run(&s, &Profile::builtin("bluefield-2").unwrap()).unwrap();
    let t = &r.sides[0].total;
    assert!(t.ops > 0 && t.miscompares > 0, "{t:?}");
}

#[test]
fn a_plugin_op_without_its_plugin_or_a_profile_to_run_it_is_refused() {
    let bf2 = Profile::builtin("bluefield-2").unwrap();
    let mut s = user_spec("xor", Sides::Both);
    s.plugin = None;
    let e = run(&s, &bf2).unwrap_err().to_string();
    assert!(e.contains("-w user:xor") && e.contains("give --plugin PATH.so"), "{e}");
    s.plugin = Some(xor_plugin("rot13"));
    let e = run(&s, &bf2).unwrap_err().to_string();
    assert_eq!(e, "-w user:xor: plugin librot13.so is named `rot13`, not `xor`");
    let mut s = spec(AccelOp::Crc32c, Sides::Host);
    s.plugin = Some(xor_plugin("xor"));
    assert!(run(&s, &bf2)
        .unwrap_err()
        .to_string()
        .contains("--plugin libxor.so: applies to -w user:NAME only"));
    // The profile cannot time or run it: plugin::check_profile's lines.
    let e = run(&user_spec("xor", Sides::Both), &bf2).unwrap_err().to_string();
    assert!(e.contains("has no cost for it: add a [[user_kernels]] entry"), "{e}");
    let iaa = Profile::builtin("intel-dsa-iaa").unwrap();
    let e = run(&user_spec("xor", Sides::Offload), &iaa).unwrap_err().to_string();
    assert!(e.contains("has no DPU cores"), "{e}");
    // On the host alone no profile is asked.
    run(&user_spec("xor", Sides::Host), &iaa).unwrap();
}

/// The dedicated-thread device: every figure of the side measured, the device named, no
/// simulator speed (there is no simulator), and the profile not asked to route.
#[test]
fn a_measured_device_labels_every_figure_measured() {
    let iaa = Profile::builtin("intel-dsa-iaa").unwrap();
    for op in [AccelOp::Lookup, AccelOp::User { name: "xor".into(), arg: 3 }] {
        let mut s = spec(op.clone(), Sides::Offload);
        s.device = DeviceChoice::Thread;
        if op.plugin_name().is_some() {
            s.plugin = Some(xor_plugin("xor"));
        }
        let r = run(&s, &iaa).unwrap();
        let side = &r.sides[0];
        assert!(side.engine.starts_with("host thread"), "{op:?}: {}", side.engine);
        assert!(side.clock.starts_with("wall"), "{}", side.clock);
        assert!(side.total.ops > 0);
        assert_eq!((side.total.failed, side.total.miscompares, side.fallbacks.total()), (0, 0, 0), "{op:?}");
        let figures = [&side.window_s, &side.total.ops_per_s, &side.host_cpu_ns_per_op];
        assert!(figures.iter().all(|f| f.source == Source::Measured), "{figures:?}");
        assert_eq!(side.latency.source, Source::Measured);
        assert_eq!(side.device_latency.as_ref().unwrap().source, Source::Measured);
        assert!(side.simulator.is_none());
    }
}

/// On a measured device `-t` counts wall seconds, and `--max-wall` still ends the side
/// first when it is shorter: the side says which limit ended it.
#[test]
fn the_wall_budget_bounds_a_measured_device() {
    let mut s = spec(AccelOp::Crc32c, Sides::Offload);
    s.device = DeviceChoice::Thread;
    s.seconds = 600.0;
    s.max_wall_seconds = 0.2;
    let r = run(&s, &Profile::builtin("bluefield-2").unwrap()).unwrap();
    let side = &r.sides[0];
    assert_eq!(side.stopped_by, "wall budget");
    assert!(side.total.ops > 0 && side.wall_s < 60.0, "{side:?}");
}

/// The paced simulator: modelled figures, and its lag behind the model given beside them,
/// measured; no simulator speed (it runs on a thread of its own).
#[test]
fn the_paced_simulator_reports_its_lag() {
    let mut s = spec(AccelOp::Crc32c, Sides::Offload);
    s.device = DeviceChoice::SimPaced;
    s.seconds = 0.05;
    let r = run(&s, &Profile::builtin("bluefield-2").unwrap()).unwrap();
    let side = &r.sides[0];
    assert!(side.engine.starts_with("bluefield-2 (simulated, paced)"), "{}", side.engine);
    assert_eq!(side.total.ops_per_s.source, Source::Modelled);
    assert!(side.simulator.is_none());
    let lag = side.sim_lag.as_ref().expect("a paced simulator reports its lag");
    assert_eq!(lag.max_lag_ns.source, Source::Measured);
    assert!(crate::report::render_accel_table(&r).contains("simulator lag behind its model"));
}

/// Slot inputs start on a cache line and hold exactly the bytes given, whatever the length.
#[test]
fn aligned_inputs_start_on_a_cache_line_and_keep_their_bytes() {
    for len in [0usize, 1, 63, 64, 65, 4096, 4097] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let a = Aligned::copy_of(&bytes);
        assert_eq!(a.as_ptr() as usize % 64, 0, "{len} bytes");
        assert_eq!(&a[..], &bytes[..], "{len} bytes");
    }
}
