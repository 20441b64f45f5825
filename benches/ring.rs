//! Queue-pair round trip: the host submits 64-byte descriptors, a device thread answers
//! each with a 32-byte completion, the host polls. Measured at several batch sizes, with
//! the same round trip through `rtrb` and crossbeam's `ArrayQueue` (same item sizes) as
//! references in the same run.
//!
//! Parameters (env): DPUKIT_BENCH_RING_BATCHES (default "1,8,32"),
//! DPUKIT_BENCH_RING_ENTRIES (ring capacity, default 256).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use dpukit_ffi::{QueuePair, QueuePairConfig, RawCpl, RawDesc};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name}: not a number: {s:?}")))
        .collect()
}

fn desc(tag: u64) -> RawDesc {
    let mut d = RawDesc::default();
    d.0.tag = tag;
    d
}

fn cpl_for(d: &RawDesc) -> RawCpl {
    let mut c = RawCpl::default();
    c.0.tag = d.0.tag;
    c.0.result = d.0.tag ^ 0x5a;
    c
}

/// dpukit queue pair: batched submit with one doorbell, batched fetch/complete/poll.
fn dpukit_round_trip(n: u64, batch: usize, entries: u32) -> Duration {
    let (mut host, mut dev) =
        QueuePair::create(QueuePairConfig { sq_entries: entries, cq_entries: entries, max_regions: 1 })
            .unwrap();
    let device = std::thread::spawn(move || {
        let mut descs = vec![RawDesc::default(); 64];
        let mut cpls = vec![RawCpl::default(); 64];
        let mut done = 0u64;
        while done < n {
            let room = dev.cq_free().min(64);
            let k = dev.fetch(&mut descs[..room]);
            for i in 0..k {
                cpls[i] = cpl_for(&descs[i]);
            }
            let mut posted = 0;
            while posted < k {
                posted += dev.complete(&cpls[posted..k]);
            }
            done += k as u64;
            if k == 0 {
                std::hint::spin_loop();
            }
        }
    });
    let start = Instant::now();
    let mut sent = 0u64;
    let mut got = 0u64;
    let mut out = vec![RawCpl::default(); 64];
    let mut buf: Vec<RawDesc> = Vec::with_capacity(batch);
    while got < n {
        if sent < n {
            buf.clear();
            buf.extend((sent..(sent + batch as u64).min(n)).map(desc));
            sent += host.submit_raw(&buf) as u64;
        }
        let k = host.poll_raw(&mut out);
        for c in &out[..k] {
            debug_assert_eq!(c.0.tag, got);
            black_box(c.0.result);
            got += 1;
        }
    }
    let elapsed = start.elapsed();
    device.join().unwrap();
    elapsed
}

fn rtrb_round_trip(n: u64, batch: usize, entries: u32) -> Duration {
    let (mut sq_p, mut sq_c) = rtrb::RingBuffer::<RawDesc>::new(entries as usize);
    let (mut cq_p, mut cq_c) = rtrb::RingBuffer::<RawCpl>::new(entries as usize);
    let device = std::thread::spawn(move || {
        let mut done = 0u64;
        while done < n {
            match sq_c.pop() {
                Ok(d) => {
                    let mut c = cpl_for(&d);
                    while let Err(rtrb::PushError::Full(back)) = cq_p.push(c) {
                        c = back;
                        std::hint::spin_loop();
                    }
                    done += 1;
                }
                Err(_) => std::hint::spin_loop(),
            }
        }
    });
    let start = Instant::now();
    let (mut sent, mut got) = (0u64, 0u64);
    while got < n {
        let mut k = 0;
        while k < batch && sent < n && sq_p.push(desc(sent)).is_ok() {
            sent += 1;
            k += 1;
        }
        while let Ok(c) = cq_c.pop() {
            black_box(c.0.result);
            got += 1;
        }
    }
    let elapsed = start.elapsed();
    device.join().unwrap();
    elapsed
}

fn arrayqueue_round_trip(n: u64, batch: usize, entries: u32) -> Duration {
    let sq = Arc::new(ArrayQueue::<RawDesc>::new(entries as usize));
    let cq = Arc::new(ArrayQueue::<RawCpl>::new(entries as usize));
    let (sq2, cq2) = (sq.clone(), cq.clone());
    let device = std::thread::spawn(move || {
        let mut done = 0u64;
        while done < n {
            match sq2.pop() {
                Some(d) => {
                    let mut c = cpl_for(&d);
                    while let Err(back) = cq2.push(c) {
                        c = back;
                        std::hint::spin_loop();
                    }
                    done += 1;
                }
                None => std::hint::spin_loop(),
            }
        }
    });
    let start = Instant::now();
    let (mut sent, mut got) = (0u64, 0u64);
    while got < n {
        let mut k = 0;
        while k < batch && sent < n && sq.push(desc(sent)).is_ok() {
            sent += 1;
            k += 1;
        }
        while let Some(c) = cq.pop() {
            black_box(c.0.result);
            got += 1;
        }
    }
    let elapsed = start.elapsed();
    device.join().unwrap();
    elapsed
}

fn round_trip(c: &mut Criterion) {
    let entries = env_list("DPUKIT_BENCH_RING_ENTRIES", "256")[0] as u32;
    let mut g = c.benchmark_group("queue_pair_round_trip");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    for batch in env_list("DPUKIT_BENCH_RING_BATCHES", "1,8,32") {
        g.bench_with_input(BenchmarkId::new("dpukit_qp", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| dpukit_round_trip(iters, batch, entries))
        });
        g.bench_with_input(BenchmarkId::new("rtrb", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| rtrb_round_trip(iters, batch, entries))
        });
        g.bench_with_input(BenchmarkId::new("crossbeam_arrayqueue", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| arrayqueue_round_trip(iters, batch, entries))
        });
    }
    g.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
