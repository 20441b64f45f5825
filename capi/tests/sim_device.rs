//! A simulated DPU serving a host's shared queue pair through the C calls a device
//! process makes (`dpu_qp_dev_attach`, `dpu_sim_attach`, `dpu_sim_poll`): real results,
//! modelled times. Host and device share this process here; the calls are the ones a
//! separate device process makes (the cross-process path is in ffi/ctest).

use dpukit::{dpu_sim_attach, dpu_sim_destroy, dpu_sim_poll, Sim};
use dpukit_ffi::capi::{dpu_qp_destroy, dpu_qp_dev_attach};
use dpukit_ffi::{bindings as b, BufRef, Descriptor, Op, ShmConfig, ShmHost, Status};
use dpukit_kernels::crc32c::crc32c;
use std::ffi::CString;
use std::time::Duration;

#[test]
fn simulator_attached_to_a_shared_queue_pair_answers_with_modelled_times() {
    let mut host =
        ShmHost::create(ShmConfig { sq_entries: 16, cq_entries: 16, max_regions: 2, data_bytes: 1 << 16 })
            .unwrap();
    let r = host.alloc_region(8192).unwrap();
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
    host.write_region(r.id, 0, &data).unwrap();

    let path = CString::new(host.device_path().into_os_string().into_encoded_bytes()).unwrap();
    let mut qp: *mut b::dpu_qp = std::ptr::null_mut();
    let mut sim: *mut Sim = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and out-pointers; the queue pair and the
    // simulator are destroyed once, below.
    unsafe {
        assert_eq!(dpu_qp_dev_attach(path.as_ptr(), &mut qp), Status::Ok.raw());
        assert_eq!(dpu_sim_attach(qp, c"bluefield-3".as_ptr(), &mut sim), Status::Ok.raw());
        let mut again: *mut Sim = std::ptr::null_mut();
        assert_eq!(
            dpu_sim_attach(qp, c"bluefield-3".as_ptr(), &mut again),
            Status::InvalidArgument.raw(),
            "one device per queue pair"
        );
    }
    host.submit(&[
        Descriptor::new(1, Op::Crc32c { src: BufRef::new(r.id.0, 0, 4096), seed: 0 }),
        Descriptor::new(2, Op::Crc32c { src: BufRef::new(r.id.0, 8000, 400), seed: 0 }),
    ])
    .unwrap();
    let mut posted = 0u32;
    // SAFETY: `sim` is live; `posted` is writable; pending may be null.
    assert_eq!(unsafe { dpu_sim_poll(sim, 0, &mut posted, std::ptr::null_mut()) }, Status::Ok.raw());
    assert_eq!(posted, 2);
    let mut got = Vec::new();
    host.wait_all(&mut got, Duration::from_secs(5)).unwrap();
    got.sort_by_key(|c| c.tag);
    assert_eq!((got[0].status, got[0].result), (Status::Ok, crc32c(&data) as u64));
    assert!(got[0].modelled_ns > 0);
    assert_eq!(got[1].status, Status::OutOfRange);
    // SAFETY: created above, destroyed once.
    unsafe {
        dpu_sim_destroy(sim);
        dpu_qp_destroy(qp);
    }
}
