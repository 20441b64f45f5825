//! Queue round trips and the C API driving the simulator, measured on this machine.
//!
//! - `qp_round_trip/{in_process,shared_memory}/N`: the host submits N NOP descriptors with
//!   one doorbell and polls until their N completions are back. The device is a busy
//!   polling loop doing the same work in both cases: a thread of this process on an
//!   in-process queue pair, or a separate process (this binary re-executed) attached to
//!   a queue pair in shared memory.
//! - `c_api_sim/crc32c_4k/32`: the calls a C host makes (`dpu_qp_submit`,
//!   `dpu_sim_poll`, `dpu_qp_poll`) driving the simulated DPU (bluefield-3) with batches
//!   of 32 CRC32C descriptors of 4 KiB: descriptors per second of wall time. The
//!   completions' own times are modelled; only the throughput here is measured.
//!
//! `cargo bench -p dpukit-capi --bench capi`; `DPUKIT_BENCH_BATCHES=1,8,32,128` picks the
//! batch sizes of `qp_round_trip` (default 1, 8, 32; each at most 64, the rings' size).

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use dpukit::{dpu_sim_attach, dpu_sim_destroy, dpu_sim_poll, Sim};
use dpukit_ffi::capi::{dpu_qp_create, dpu_qp_destroy, dpu_qp_poll, dpu_qp_register_region, dpu_qp_submit};
use dpukit_ffi::{
    bindings as b, BufRef, Completion, Descriptor, Op, QueuePair, QueuePairConfig, RawCpl, RawDesc,
    ShmConfig, ShmDevice, ShmHost,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DEVICE_ENV: &str = "DPUKIT_BENCH_DEVICE";
const BATCHES_ENV: &str = "DPUKIT_BENCH_BATCHES";
const DEFAULT_BATCHES: [usize; 3] = [1, 8, 32];
/// Entries of the benchmark's rings: the largest batch.
const RING_ENTRIES: usize = 64;

/// The batch sizes to measure: `DPUKIT_BENCH_BATCHES` (comma-separated), or 1, 8, 32.
fn batches() -> Vec<usize> {
    let Ok(list) = std::env::var(BATCHES_ENV) else { return DEFAULT_BATCHES.to_vec() };
    list.split(',')
        .map(|b| match b.trim().parse::<usize>() {
            Ok(n) if (1..=RING_ENTRIES).contains(&n) => n,
            _ => panic!("{BATCHES_ENV}: `{b}` is not a batch size in 1..={RING_ENTRIES}"),
        })
        .collect()
}

/// Answers every fetched descriptor with an OK completion of its tag and opcode.
fn answer(descs: &[RawDesc], cpls: &mut [RawCpl]) {
    for (d, c) in descs.iter().zip(cpls.iter_mut()) {
        c.0 = b::dpu_cpl { tag: d.0.tag, opcode: d.0.opcode, ..Default::default() };
    }
}

/// The device process: serves the shared queue pair named by DPUKIT_QP until the host
/// closes it.
fn serve_shared() {
    let path = std::env::var_os("DPUKIT_QP").expect("the host sets DPUKIT_QP");
    let mut dev = match ShmDevice::attach(std::path::Path::new(&path)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench device: {e}");
            std::process::exit(2);
        }
    };
    let mut descs = [RawDesc::default(); 64];
    let mut cpls = [RawCpl::default(); 64];
    let mut idle = 0u32;
    loop {
        let n = dev.fetch(&mut descs);
        if n == 0 {
            idle = idle.wrapping_add(1);
            if idle.is_multiple_of(1024) && dev.host_closed() {
                return;
            }
            idle_pause(idle);
            continue;
        }
        idle = 0;
        answer(&descs[..n], &mut cpls[..n]);
        let mut done = 0;
        while done < n {
            done += dev.complete(&cpls[done..n]);
        }
    }
}

/// A polling device spins briefly, then yields: on a machine with fewer free cores than
/// busy threads, a device that never yields would keep the host off the core it needs.
fn idle_pause(idle: u32) {
    if idle < 256 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

fn nops(n: usize, tag0: u64) -> Vec<Descriptor> {
    (0..n as u64).map(|i| Descriptor::new(tag0 + i, Op::Nop)).collect()
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("qp_round_trip");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));

    // In one process: the device is a thread polling the device end.
    {
        let (mut host, mut dev) = QueuePair::create(QueuePairConfig {
            sq_entries: RING_ENTRIES as u32,
            cq_entries: RING_ENTRIES as u32,
            ..Default::default()
        })
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let device = std::thread::spawn(move || {
            let mut descs = [RawDesc::default(); 64];
            let mut cpls = [RawCpl::default(); 64];
            let mut idle = 0u32;
            while !stop2.load(Ordering::Relaxed) {
                let room = dev.cq_free().min(64);
                let n = dev.fetch(&mut descs[..room]);
                if n == 0 {
                    idle = idle.wrapping_add(1);
                    idle_pause(idle);
                    continue;
                }
                idle = 0;
                answer(&descs[..n], &mut cpls[..n]);
                dev.complete(&cpls[..n]);
            }
        });
        let mut got = Vec::with_capacity(64);
        for n in batches() {
            let batch: Vec<RawDesc> = nops(n, 0).iter().map(Descriptor::encode).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new("in_process", n), &n, |bch, &n| {
                bch.iter(|| {
                    assert_eq!(host.submit_raw(&batch), n);
                    got.clear();
                    // Waits as ShmHost::wait_all does: spin a little, then yield.
                    let mut idle = 0u32;
                    while got.len() < n {
                        if host.poll(n, &mut got).unwrap() == 0 {
                            idle = idle.wrapping_add(1);
                            if idle < 1000 {
                                std::hint::spin_loop();
                            } else {
                                std::thread::yield_now();
                            }
                        }
                    }
                })
            });
        }
        stop.store(true, Ordering::Relaxed);
        device.join().unwrap();
    }

    // Across processes: the device is this binary re-executed, on shared memory.
    {
        let mut host = ShmHost::create(ShmConfig {
            sq_entries: RING_ENTRIES as u32,
            cq_entries: RING_ENTRIES as u32,
            max_regions: 1,
            data_bytes: 4096,
        })
        .unwrap();
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.env(DEVICE_ENV, "1");
        host.spawn_device(cmd).unwrap();
        let mut got: Vec<Completion> = Vec::with_capacity(64);
        let mut tag = 0u64;
        for n in batches() {
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new("shared_memory", n), &n, |bch, &n| {
                bch.iter(|| {
                    // Tags must be unique among those in flight; a fresh range each time.
                    let batch = nops(n, tag);
                    tag += n as u64;
                    assert_eq!(host.submit(&batch).unwrap(), n);
                    got.clear();
                    host.wait_all(&mut got, Duration::from_secs(10)).unwrap();
                })
            });
        }
        host.close_and_wait(Duration::from_secs(5)).unwrap();
    }
    g.finish();
}

fn c_api_sim(c: &mut Criterion) {
    const BATCH: u32 = 32;
    let mut g = c.benchmark_group("c_api_sim");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let mut mem = vec![0x5au8; BATCH as usize * 4096];
    let mut qp: *mut b::dpu_qp = std::ptr::null_mut();
    let mut sim: *mut Sim = std::ptr::null_mut();
    let mut region = 0u32;
    // SAFETY: the calls a C host makes, with valid out-pointers; `mem` outlives the
    // queue pair (destroyed below) and is not touched while descriptors are in flight.
    unsafe {
        assert_eq!(dpu_qp_create(64, 64, &mut qp), 0);
        assert_eq!(dpu_qp_register_region(qp, mem.as_mut_ptr().cast(), mem.len() as u64, &mut region), 0);
        assert_eq!(dpu_sim_attach(qp, c"bluefield-3".as_ptr(), &mut sim), 0);
    }
    let descs: Vec<RawDesc> = (0..BATCH)
        .map(|i| {
            Descriptor::new(i as u64, Op::Crc32c { src: BufRef::new(region, i as u64 * 4096, 4096), seed: 0 })
                .encode()
        })
        .collect();
    let mut cpls = vec![RawCpl::default(); BATCH as usize];
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::new("crc32c_4k", BATCH), |bch| {
        bch.iter(|| {
            let (mut accepted, mut posted, mut got) = (0u32, 0u32, 0u32);
            // SAFETY: valid queue pair, simulator and buffers (set up above).
            unsafe {
                assert_eq!(dpu_qp_submit(qp, descs.as_ptr().cast(), BATCH, &mut accepted), 0);
                while got < BATCH {
                    assert_eq!(dpu_sim_poll(sim, 0, &mut posted, std::ptr::null_mut()), 0);
                    let mut k = 0u32;
                    let out = cpls.as_mut_ptr().add(got as usize).cast();
                    assert_eq!(dpu_qp_poll(qp, out, BATCH - got, &mut k), 0);
                    got += k;
                }
            }
            assert_eq!(accepted, BATCH);
        })
    });
    // SAFETY: created above, destroyed once.
    unsafe {
        dpu_sim_destroy(sim);
        dpu_qp_destroy(qp);
    }
    drop(mem);
    g.finish();
}

criterion_group!(benches, round_trip, c_api_sim);

fn main() {
    if std::env::var_os(DEVICE_ENV).is_some() {
        serve_shared();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
