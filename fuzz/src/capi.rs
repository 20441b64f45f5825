//! The C API's queue pairs (`ffi/src/capi.rs`) driven as a C caller would: create with
//! arbitrary sizes, register memory, submit raw descriptors, run the loopback device,
//! poll. Every call returns a status (never a panic across the boundary); the loopback
//! answers every accepted descriptor exactly once (malformed ones with the parser's status,
//! NOP and COPY as executed, other opcodes UNKNOWN_OPCODE), a COPY that succeeds copied
//! its bytes, and the counts the calls report add up.
//!
//! Input: bytes 0-1 the submission ring size, 2-3 the completion ring size, byte 4 the
//! loopback budget and whether buffer references are aimed at the registered region (see
//! `engine`), then 64-byte raw descriptors.

use std::ptr;

use dpukit_ffi::abi::off;
use dpukit_ffi::bindings as b;
use dpukit_ffi::capi::{
    dpu_qp_create, dpu_qp_destroy, dpu_qp_loopback_process, dpu_qp_poll, dpu_qp_register_region,
    dpu_qp_submit,
};
use dpukit_ffi::{Completion, DescFlags, Descriptor, Op, RawCpl, RawDesc, Status};

use crate::engine::{aim, descriptors, memory};
use crate::Bytes;

pub fn target(data: &[u8]) {
    let mut input = Bytes(data);
    let (sq, cq) = (u32::from(input.u16() % 1100), u32::from(input.u16() % 1100));
    let switches = input.u8();
    let budget = u32::from(switches >> 1) + 1;
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
            let status = dpu_qp_loopback_process(qp, budget, &mut done);
            assert!(status == ok || status == Status::QueueFull.raw(), "loopback status {status}");
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

fn replay(mem: &mut [u8], op: &Op) {
    if let Op::Copy { src, dst } = op {
        let (s, d, n) = (src.offset as usize, dst.offset as usize, src.len as usize);
        mem.copy_within(s..s + n, d);
    }
}
