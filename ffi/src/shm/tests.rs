use super::*;
use crate::desc::Op;

fn small() -> ShmConfig {
    ShmConfig { sq_entries: 8, cq_entries: 8, max_regions: 4, data_bytes: 64 << 10 }
}

#[test]
fn device_in_the_same_process_round_trips_through_the_file() {
    let mut host = ShmHost::create(small()).unwrap();
    let r = host.alloc_region(256).unwrap();
    host.write_region(r.id, 0, b"shared bytes").unwrap();
    let (p, len) = host.region_raw(r.id).unwrap();
    assert_eq!(len, 256);
    // SAFETY: p..p+12 lies in the region; nothing is in flight yet.
    assert_eq!(unsafe { std::slice::from_raw_parts(p, 12) }, b"shared bytes");
    assert!(host.region_raw(RegionId(9)).is_none());
    let mut dev = ShmDevice::attach(&host.device_path()).unwrap();
    let d =
        Descriptor::new(5, Op::Copy { src: BufRef::new(r.id.0, 0, 12), dst: BufRef::new(r.id.0, 100, 12) });
    // A success the caller did not ask to hear about is still answered by the device
    // (so the host can account for it) but not handed to the caller.
    let silent = Descriptor::new(6, Op::Nop).with_flags(DescFlags::NONE);
    assert_eq!(host.submit(&[d, silent]).unwrap(), 2);
    let mut raw = [RawDesc::default(); 8];
    assert_eq!(dev.fetch(&mut raw), 2);
    assert_ne!(raw[1].0.flags & DescFlags::COMPLETION.raw(), 0, "the host always asks for a completion");
    let src = dev.resolve(BufRef::new(r.id.0, 0, 12)).unwrap();
    let dst = dev.resolve(BufRef::new(r.id.0, 100, 12)).unwrap();
    assert_eq!(dev.resolve(BufRef::new(r.id.0, 250, 12)).unwrap_err(), Status::OutOfRange);
    assert_eq!(dev.resolve(BufRef::new(2, 0, 1)).unwrap_err(), Status::UnknownRegion);
    // SAFETY: both buffers were resolved in the shared data area and do not overlap;
    // the host does not touch them while the descriptor is in flight.
    unsafe { dst.as_mut_slice().copy_from_slice(src.as_slice()) };
    let cpls = [
        Completion::ok(5, crate::Opcode::Copy, 12, 12).encode(),
        Completion::ok(6, crate::Opcode::Nop, 0, 0).encode(),
    ];
    assert_eq!(dev.complete(&cpls), 2);
    let mut got = Vec::new();
    host.wait_all(&mut got, Duration::from_secs(5)).unwrap();
    assert_eq!(got.iter().map(|c| c.tag).collect::<Vec<_>>(), vec![5]);
    let mut back = [0u8; 12];
    host.read_region(r.id, 100, &mut back).unwrap();
    assert_eq!(&back, b"shared bytes");
    assert!(!dev.host_closed());
    drop(host);
    assert!(dev.host_closed());
}

#[test]
fn an_impossible_ring_index_abandons_the_queue_pair() {
    let mut host = ShmHost::create(small()).unwrap();
    host.submit(&[Descriptor::new(1, Op::Nop)]).unwrap();
    let h = host.map.header_copy();
    let cq_ctrl = host.q.raw_rings().1;
    assert_eq!(cq_ctrl as usize, host.map.base.as_ptr() as usize + h.cq_off as usize);
    // A device that rings the completion doorbell a million entries ahead.
    // SAFETY: the doorbell is an aligned u64 inside the mapping; the test plays the
    // device, the only writer of that word.
    unsafe {
        let bell = std::ptr::addr_of_mut!((*cq_ctrl).doorbell.value).cast::<std::sync::atomic::AtomicU64>();
        (*bell).store(1_000_000, Ordering::Release);
    }
    let mut got = Vec::new();
    let e = host.poll(8, &mut got).unwrap_err();
    assert!(matches!(e, ShmError::ProtocolViolation), "{e}");
    assert!(got.is_empty(), "nothing read from a corrupt ring");
    assert!(matches!(host.submit(&[Descriptor::new(2, Op::Nop)]), Err(ShmError::Abandoned(_))));
}

#[test]
fn a_region_entry_outside_the_data_area_never_resolves() {
    let mut host = ShmHost::create(small()).unwrap();
    let r = host.alloc_region(128).unwrap();
    let h = host.geo;
    // A host (or a scribbler) that publishes a second entry pointing past the end.
    // SAFETY: entry 1 lies in the region table inside the mapping.
    unsafe {
        let e = host.map.at(h.regions_off + REGION_ENTRY_BYTES as u64).cast::<u64>().as_ptr();
        e.write(h.data_bytes - 8);
        e.add(1).write(64);
    }
    host.map.nregions().store(2, Ordering::Release);
    let dev = ShmDevice::attach(&host.device_path()).unwrap();
    assert!(dev.resolve(BufRef::new(r.id.0, 0, 128)).is_ok());
    assert_eq!(dev.resolve(BufRef::new(2, 0, 1)).unwrap_err(), Status::UnknownRegion);
}

#[test]
fn attach_refuses_what_is_not_a_queue_pair() {
    let dir = std::env::temp_dir().join(format!("dpukit-shm-test-{}", std::process::id()));
    std::fs::write(&dir, vec![0u8; 8192]).unwrap();
    let e = ShmDevice::attach(&dir).err().expect("a plain file is not a queue pair");
    std::fs::remove_file(&dir).unwrap();
    assert!(e.to_string().contains("sealed"), "{e}");
    let e = ShmDevice::attach(Path::new("/nonexistent/dpukit-qp")).err().unwrap();
    assert!(e.to_string().starts_with("shared memory: "), "{e}");
}

#[test]
fn a_device_rewriting_the_header_cannot_move_the_hosts_bounds() {
    let mut host = ShmHost::create(small()).unwrap();
    // SAFETY: data_bytes is an aligned u64 inside the header; the test plays a device
    // that scribbles on it.
    unsafe {
        let h = host.map.base.cast::<Header>().as_ptr();
        std::ptr::addr_of_mut!((*h).data_bytes).write_volatile(u64::MAX / 2);
    }
    assert!(matches!(host.alloc_region(1 << 30), Err(ShmError::NoSpace { free, .. }) if free == 64 << 10));
    let e = ShmDevice::attach(&host.device_path()).err().expect("a device refuses the corrupt header");
    assert!(e.to_string().contains("run past"), "{e}");
}

#[test]
fn allocation_is_bounded() {
    let mut host = ShmHost::create(small()).unwrap();
    assert!(matches!(host.alloc_region(1 << 20), Err(ShmError::NoSpace { .. })));
    for _ in 0..4 {
        host.alloc_region(16).unwrap();
    }
    assert!(matches!(host.alloc_region(16), Err(ShmError::TableFull(4))));
    assert!(host.write_region(RegionId(1), 10, &[0; 8]).is_err(), "writes stay inside the region");
}
