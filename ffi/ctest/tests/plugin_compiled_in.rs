//! A C kernel plugin compiled into the program (not loaded from a shared object) runs
//! on the simulated device through a queue pair.

use dpukit_ffi::{BufRef, Descriptor, Op, QueuePair, QueuePairConfig, Status};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::{Engine, EngineConfig};
use dpukit_sim::plugin::CKernel;
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::{SimTime, UserOpCost};
use std::sync::Arc;

#[test]
fn compiled_in_c_kernel_runs_on_the_device() {
    // SAFETY: the entry is the C file's `dpu_kernel_plugin_v1`, which returns a static
    // descriptor whose `run` is thread-safe (it touches only its buffers).
    let kernel =
        unsafe { CKernel::from_entry(Some(dpukit_ffi_ctest::dpu_kernel_plugin_v1), "compiled-in xor") }
            .expect("valid plugin");
    let (mut host, dev) = QueuePair::create(QueuePairConfig::default()).unwrap();
    let registry = Registry::new(Arc::new(CacheIndex::new(16).unwrap()));
    let mut engine =
        Engine::new(&Profile::builtin("bluefield-3").unwrap(), registry, EngineConfig::default()).unwrap();
    engine.attach(dev);
    let cost = UserOpCost { id: 0xa0, fixed_ns: 50.0, bytes_per_s: 1e9 };
    engine.bind_user_kernel_with_cost(0xa0, Arc::new(kernel), cost).unwrap();
    let mut mem: Vec<u8> = (0..8192u32).map(|i| i as u8).collect();
    // SAFETY: `mem` outlives the queue pair's use below and is read only after polling.
    let r = unsafe { host.register_region(mem.as_mut_ptr(), mem.len() as u64) }.unwrap().0;
    let d = Descriptor::new(
        9,
        Op::User {
            opcode: 0xa0,
            src: BufRef::new(r, 0, 1000),
            dst: BufRef::new(r, 4096, 1000),
            arg0: 0xff,
            arg1: 0,
            algo: 0,
            level: 0,
        },
    );
    assert_eq!(host.submit(&[d]), 1);
    engine.poll(SimTime::ZERO);
    let mut out = Vec::new();
    host.poll(4, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Ok);
    assert_eq!(out[0].result, (0..1000u32).filter(|i| (*i as u8) != 0xff).count() as u64);
    assert!(out[0].modelled_ns >= 1000, "1000 B at 1 GB/s on a core");
    for i in 0..1000 {
        assert_eq!(mem[4096 + i], (i as u8) ^ 0xff);
    }
}
