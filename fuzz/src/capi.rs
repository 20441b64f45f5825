//! The C API's queue pairs (`ffi/src/capi.rs`) driven as a C caller would: create with
//! arbitrary sizes, register memory, submit raw descriptors, run the loopback device,
//! poll. Every call returns a status (never a panic across the boundary); the loopback
//! answers every accepted descriptor exactly once (malformed ones with the parser's status,
//! NOP and COPY as executed, other opcodes UNKNOWN_OPCODE), a COPY that succeeds copied
//! its bytes, and the counts the calls report add up.
//!
//! The same holds for a device written against the C API's device side
//! (`dpu_qp_dev_fetch`, `_check`, `_resolve`, `_complete`) doing what the loopback does:
//! its checks agree with the parser and a resolved buffer lies inside its region.
//!
//! Input: bytes 0-1 the submission ring size, 2-3 the completion ring size, byte 4 whether
//! buffer references are aimed at the registered region (bit 0, see `engine`), the device's
//! budget (bits 1-6) and which device (bit 7: the C API's device side), then 64-byte raw
//! descriptors.

use std::ptr;

use dpukit_ffi::abi::off;
use dpukit_ffi::bindings as b;
use dpukit_ffi::capi::{
    dpu_qp_create, dpu_qp_destroy, dpu_qp_dev_check, dpu_qp_dev_complete, dpu_qp_dev_fetch,
    dpu_qp_dev_resolve, dpu_qp_loopback_process, dpu_qp_poll, dpu_qp_register_region, dpu_qp_submit,
};
use dpukit_ffi::{Completion, DescFlags, Descriptor, Op, RawCpl, RawDesc, Status};

use crate::engine::{aim, descriptors, memory};
use crate::Bytes;

pub fn target(data: &[u8]) {
    let mut input = Bytes(data);
    let (sq, cq) = (u32::from(input.u16() % 1100), u32::from(input.u16() % 1100));
    let switches = input.u8();
    let budget = u32::from((switches >> 1) & 0x3f) + 1;
    // The loopback device, or a device written against the C API's device side (fetch,
    // check, resolve, complete) doing what the loopback does: the same checks hold.
    let c_device = switches & 0x80 != 0;
    let raw = descriptors(input.rest());

    let ok = Status::Ok.raw();
    let invalid = Status::InvalidArgument.raw();
    let mut qp: *mut b::dpu_qp = ptr::null_mut();
    // SAFETY: `qp` is a valid place for the created pointer.
    let status = unsafe { dpu_qp_create(sq, cq, &mut qp) };
    if status != ok {
        assert_eq!(status, invalid, "create({sq}, {cq})");
        assert!(qp.is_null());
        return;
    }
    // SAFETY (for every call below): `qp` is live until `dpu_qp_destroy` at the end, every
    // out-pointer is a local, `mem` outlives `qp` and is only read by this function once
    // the loopback has answered, and each slice passed with its length.
    unsafe {
        assert_eq!(dpu_qp_create(sq, cq, ptr::null_mut()), invalid);
        let mut mem = memory();
        let mut region = 0u32;
        assert_eq!(dpu_qp_register_region(qp, mem.as_mut_ptr().cast(), mem.len() as u64, &mut region), ok);
        assert_eq!(dpu_qp_register_region(qp, mem.as_mut_ptr().cast(), 1, ptr::null_mut()), invalid);
        let mut accepted_n = 0u32;
        assert_eq!(dpu_qp_submit(qp, ptr::null(), 1, &mut accepted_n), invalid);
        let descs: Vec<RawDesc> = raw
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let mut bytes = *bytes;
                if switches & 1 != 0 {
                    aim(&mut bytes, off::IO_SRC, region, mem.len());
                    aim(&mut bytes, off::IO_DST, region, mem.len());
                }
                bytes[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                RawDesc::from_bytes(bytes)
            })
            .collect();

        let mut answers = vec![0u32; descs.len()];
        let mut cpls: Vec<Completion> = Vec::new();
        let mut submitted = 0usize;
        let mut out = vec![RawCpl::default(); 64];
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 100_000, "no progress: {submitted} of {} submitted", descs.len());
            let rest = &descs[submitted..];
            let mut accepted = u32::MAX;
            let status = dpu_qp_submit(qp, rest.as_ptr().cast(), rest.len() as u32, &mut accepted);
            assert!(accepted as usize <= rest.len(), "accepted {accepted} of {}", rest.len());
            if accepted == 0 && !rest.is_empty() {
                assert_eq!(status, Status::QueueFull.raw());
            } else {
                assert_eq!(status, ok);
            }
            submitted += accepted as usize;
            let mut done = u32::MAX;
            if c_device {
                done = device_round(qp, budget, (mem.as_ptr() as usize, mem.len()));
            } else {
                let status = dpu_qp_loopback_process(qp, budget, &mut done);
                assert!(status == ok || status == Status::QueueFull.raw(), "loopback status {status}");
            }
            assert!(done <= budget);
            let mut n = u32::MAX;
            assert_eq!(dpu_qp_poll(qp, out.as_mut_ptr().cast(), out.len() as u32, &mut n), ok);
            assert!(n as usize <= out.len());
            for c in &out[..n as usize] {
                let c = Completion::parse(c).expect("the loopback posts known statuses");
                let i = usize::try_from(c.tag)
                    .ok()
                    .filter(|&i| i < submitted)
                    .unwrap_or_else(|| panic!("answer to tag {} never submitted", c.tag));
                answers[i] += 1;
                cpls.push(c);
            }
            if submitted == descs.len() && done == 0 && n == 0 {
                break;
            }
        }
        let mut zero = 0u32;
        assert_eq!(dpu_qp_poll(qp, ptr::null_mut(), 1, &mut zero), invalid);
        assert_eq!(dpu_qp_loopback_process(qp, 1, ptr::null_mut()), invalid);
        dpu_qp_destroy(qp);

        // The loopback runs in order and only COPY writes: replaying the successful copies on
        // a second copy of the memory must give the same bytes.
        let mut shadow = memory();
        for (i, raw) in descs.iter().enumerate() {
            let answer = cpls.iter().find(|c| c.tag == i as u64);
            assert!(answers[i] <= 1, "descriptor {i} answered {} times", answers[i]);
            match Descriptor::parse(raw) {
                Err(e) => {
                    let c = answer.unwrap_or_else(|| panic!("malformed descriptor {i} not answered"));
                    assert_eq!((c.status, c.opcode), (e.status, raw.as_bytes()[0]), "descriptor {i}");
                }
                Ok(d) => match (d.op, answer) {
                    (Op::Nop | Op::Copy { .. }, None) => {
                        assert!(
                            !d.flags.contains(DescFlags::COMPLETION),
                            "descriptor {i} asked for a completion"
                        );
                        replay(&mut shadow, &d.op);
                    }
                    (Op::Copy { .. }, Some(c)) if c.status.is_ok() => replay(&mut shadow, &d.op),
                    (Op::Nop | Op::Copy { .. }, Some(c)) => {
                        assert!(
                            !c.status.is_ok() || d.flags.contains(DescFlags::COMPLETION),
                            "descriptor {i}: unasked-for success"
                        );
                    }
                    (_, Some(c)) => assert_eq!(
                        c.status,
                        Status::UnknownOpcode,
                        "descriptor {i}: loopback runs only NOP and COPY"
                    ),
                    (_, None) => panic!("descriptor {i} ({:?}) not answered", d.op.opcode()),
                },
            }
        }
        assert!(mem == shadow, "the loopback's copies differ from a replay of the successful ones");
    }
}

/// One round of a device using the C API's device side on `qp`, whose one region is
/// `mem`: fetches up to `budget` descriptors, runs NOP and COPY through resolved
/// pointers (checked to lie inside `mem`), answers the rest UNKNOWN_OPCODE and the
/// malformed with `dpu_qp_dev_check`'s status (the parser's), posts the completions due.
///
/// # Safety
/// `qp` is live with `mem` (address, length) as its one registered region; nothing else
/// touches that memory during the call.
unsafe fn device_round(qp: *mut b::dpu_qp, budget: u32, mem: (usize, usize)) -> u32 {
    let ok = Status::Ok.raw();
    let mut descs = vec![RawDesc::default(); budget as usize];
    let mut n = u32::MAX;
    // SAFETY (every call below): `qp` is live (contract), each out-pointer is a local and
    // each slice is passed with its length.
    unsafe {
        assert_eq!(dpu_qp_dev_fetch(qp, descs.as_mut_ptr().cast(), budget, &mut n), ok);
        assert!(n <= budget);
        let mut cpls = Vec::new();
        for raw in &descs[..n as usize] {
            let checked = dpu_qp_dev_check((raw as *const RawDesc).cast());
            let (cpl, always) = match Descriptor::parse(raw) {
                Err(e) => {
                    assert_eq!(checked, e.status.raw(), "dev_check agrees with the parser");
                    (Completion::error(e.tag, e.opcode, e.status), true)
                }
                Ok(d) => {
                    assert_eq!(checked, ok, "dev_check agrees with the parser");
                    let c = execute(qp, &d, mem);
                    (c, !c.status.is_ok() || d.flags.contains(DescFlags::COMPLETION))
                }
            };
            if always {
                cpls.push(cpl.encode());
            }
        }
        let mut posted = u32::MAX;
        let status = dpu_qp_dev_complete(qp, cpls.as_ptr().cast(), cpls.len() as u32, &mut posted);
        // dev_fetch takes no more than the completion ring has room for.
        assert_eq!((status, posted as usize), (ok, cpls.len()), "every fetched descriptor can be answered");
    }
    n
}

/// NOP and COPY as the loopback runs them, through `dpu_qp_dev_resolve`.
///
/// # Safety
/// As [`device_round`].
unsafe fn execute(qp: *mut b::dpu_qp, d: &Descriptor, mem: (usize, usize)) -> Completion {
    let opcode = d.op.opcode();
    let Op::Copy { src, dst } = d.op else {
        return match d.op {
            Op::Nop => Completion::ok(d.tag, opcode, 0, 0),
            _ => Completion::error(d.tag, opcode.raw(), Status::UnknownOpcode),
        };
    };
    let resolve = |r: dpukit_ffi::BufRef| {
        let raw = b::dpu_buf_ref { region: r.region, offset: r.offset, len: r.len };
        let mut p: *mut core::ffi::c_void = ptr::dangling_mut();
        // SAFETY: `qp` is live (contract); `raw` and `p` are locals.
        let status = unsafe { dpu_qp_dev_resolve(qp, &raw, &mut p) };
        if status != Status::Ok.raw() {
            assert!(p.is_null(), "a refused reference leaves no pointer");
            return Err(Status::try_from(status).expect("a defined status"));
        }
        let (lo, hi) = (mem.0, mem.0 + mem.1);
        let at = p as usize;
        assert!(at >= lo && at + r.len as usize <= hi, "resolved {r:?} outside the region");
        assert_eq!(at - lo, r.offset as usize, "resolved {r:?} to another place");
        Ok(p.cast::<u8>())
    };
    let (s, t) = match (resolve(src), resolve(dst)) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(st), _) | (_, Err(st)) => return Completion::error(d.tag, opcode.raw(), st),
    };
    let (so, to) = (src.offset, dst.offset);
    if src.len > 0 && dst.len > 0 && so < to + u64::from(dst.len) && to < so + u64::from(src.len) {
        return Completion::error(d.tag, opcode.raw(), Status::OutOfRange);
    }
    assert!(dst.len >= src.len, "the parser lets no COPY into a shorter destination");
    // SAFETY: both ranges lie inside `mem` (checked above) and do not overlap; the
    // host reads `mem` only once the round is over.
    unsafe { ptr::copy_nonoverlapping(s, t, src.len as usize) };
    Completion::ok(d.tag, opcode, u64::from(src.len), src.len)
}

fn replay(mem: &mut [u8], op: &Op) {
    if let Op::Copy { src, dst } = op {
        let (s, d, n) = (src.offset as usize, dst.offset as usize, src.len as usize);
        mem.copy_within(s..s + n, d);
    }
}
