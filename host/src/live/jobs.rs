//! The live executor's reading of a scenario's jobs ([`crate::scenario::Job`]): each stage
//! becomes an op on the chunk's DMA slot, and each op's result updates what the node
//! knows of the chunk (where its stored form is, its length, its checksum). Nothing here
//! names a scenario.

#![forbid(unsafe_code)]

use crate::offload::{Buf, Finished, OpResult, SlotOp};
use crate::plugin::{PLUGIN_FORWARD, PLUGIN_INVERSE, PLUGIN_OPCODE};
use crate::scenario::{Form, Job, Stage};
use dpukit_ffi::Status;

/// A chunk in its slot: where each form is, how long, and what its jobs found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotChunk {
    pub(super) raw_len: u32,
    pub(super) stored_len: u32,
    raw_in: Buf,
    stored_in: Buf,
    /// Where the stored form is with the plugin op undone (decompression reads it): the
    /// stored form itself until an inverse plugin stage runs.
    plain_in: Buf,
    /// The cache key of lookups and inserts, and the location an insert records.
    pub(super) key: [u8; 16],
    pub(super) location: [u8; 16],
    /// The last checksum a job computed.
    pub(super) crc: Option<u32>,
    /// Whether decompression gave back the raw length (`None`: no decompression ran).
    pub(super) decompressed: Option<bool>,
    /// Whether the last lookup found the key.
    pub(super) hit: bool,
}

impl SlotChunk {
    /// A chunk just generated into the slot's input: raw, and stored as it is until
    /// compressed.
    pub(super) fn generated(raw_len: u32) -> SlotChunk {
        SlotChunk::new(raw_len, raw_len, Buf::In, Buf::In)
    }

    /// A stored chunk read or fetched into the slot's input; decompression writes the raw
    /// form to the output.
    pub(super) fn stored(stored_len: u32, raw_len: u32) -> SlotChunk {
        SlotChunk::new(raw_len, stored_len, Buf::Out, Buf::In)
    }

    /// A chunk known only by its cache key (a lookup, an insert).
    pub(super) fn keyed(key: [u8; 16]) -> SlotChunk {
        SlotChunk { key, ..SlotChunk::new(0, 0, Buf::In, Buf::In) }
    }

    fn new(raw_len: u32, stored_len: u32, raw_in: Buf, stored_in: Buf) -> SlotChunk {
        SlotChunk {
            raw_len,
            stored_len,
            raw_in,
            stored_in,
            plain_in: stored_in,
            key: [0; 16],
            location: [0; 16],
            crc: None,
            decompressed: None,
            hit: false,
        }
    }

    /// Which buffer of the slot holds the stored form.
    pub(super) fn stored_in(&self) -> Buf {
        self.stored_in
    }

    /// The job's stages as ops on this chunk's slot. A stage reads where the stages before
    /// it in the job left the chunk's forms (a plugin op moves the stored form).
    pub(super) fn ops(&self, job: &Job) -> Vec<SlotOp> {
        let mut at = *self;
        job.stages
            .iter()
            .map(|&stage| {
                let op = at.op(stage);
                at.moved(stage);
                op
            })
            .collect()
    }

    fn op(&self, stage: Stage) -> SlotOp {
        match stage {
            Stage::Crc32c(Form::Raw) => SlotOp::Crc32c { buf: self.raw_in, len: self.raw_len },
            Stage::Crc32c(Form::Stored) => SlotOp::Crc32c { buf: self.stored_in, len: self.stored_len },
            Stage::Compress { algorithm, level } => {
                debug_assert_eq!(self.raw_in, Buf::In, "compression reads the slot's input");
                SlotOp::Compress { algorithm, level, len: self.raw_len }
            }
            Stage::Decompress { algorithm } => {
                SlotOp::Decompress { algorithm, src: self.plain_in, dst: self.raw_in, len: self.stored_len }
            }
            Stage::Lookup => SlotOp::CacheLookup { key: self.key },
            Stage::Insert => SlotOp::CacheInsert { key: self.key, value: self.location },
            Stage::Plugin { arg, inverse } => SlotOp::User {
                opcode: PLUGIN_OPCODE,
                arg0: arg,
                arg1: if inverse { PLUGIN_INVERSE } else { PLUGIN_FORWARD },
                src: self.stored_in,
                dst: other(self.stored_in),
                len: self.stored_len,
            },
        }
    }

    /// Where the forms are once `stage` ran. A forward plugin op writes the new stored
    /// form to the other of input and output; an inverse one writes the undone form there,
    /// and decompression then writes the raw form to the spare buffer if that was where
    /// it would have gone.
    fn moved(&mut self, stage: Stage) {
        match stage {
            Stage::Compress { .. } => {
                self.stored_in = Buf::Out;
                self.plain_in = Buf::Out;
            }
            Stage::Plugin { inverse: false, .. } => {
                self.stored_in = other(self.stored_in);
                self.plain_in = self.stored_in;
            }
            Stage::Plugin { inverse: true, .. } => {
                self.plain_in = other(self.stored_in);
                if self.raw_in == self.plain_in {
                    self.raw_in = Buf::Spare;
                }
            }
            Stage::Crc32c(_) | Stage::Decompress { .. } | Stage::Lookup | Stage::Insert => {}
        }
    }

    /// Takes a finished job's results in. A stage that failed (a status other than `Ok`, or
    /// `NotFound` for a lookup) is returned with its status, and nothing after it is taken.
    pub(super) fn apply(&mut self, job: &Job, f: &Finished) -> Result<(), (Stage, Status)> {
        for (stage, r) in job.stages.iter().zip(&f.results) {
            self.apply_one(*stage, r)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, stage: Stage, r: &OpResult) -> Result<(), (Stage, Status)> {
        match stage {
            Stage::Lookup => {
                self.hit = r.status == Status::Ok;
                if !matches!(r.status, Status::Ok | Status::NotFound) {
                    return Err((stage, r.status));
                }
                return Ok(());
            }
            Stage::Decompress { .. } => {
                // A chunk that does not decompress is a verification outcome, not a failure of
                // the job: the caller decides what a bad chunk means.
                self.decompressed = Some(r.status == Status::Ok && r.result == u64::from(self.raw_len));
                return Ok(());
            }
            _ => {}
        }
        if r.status != Status::Ok {
            return Err((stage, r.status));
        }
        match stage {
            Stage::Crc32c(_) => self.crc = Some(r.result as u32),
            Stage::Compress { .. } => self.stored_len = r.result as u32,
            Stage::Insert | Stage::Lookup | Stage::Decompress { .. } | Stage::Plugin { .. } => {}
        }
        self.moved(stage);
        Ok(())
    }

    /// After a verify job: the checksum matched `expect_crc` and decompression (if any)
    /// gave back the raw length.
    pub(super) fn verifies(&self, job: &Job, f: &Finished, expect_crc: u32) -> bool {
        let mut c = *self;
        c.apply(job, f).is_ok() && c.crc == Some(expect_crc) && c.decompressed.unwrap_or(true)
    }
}

/// The other of a slot's input and output.
fn other(buf: Buf) -> Buf {
    if buf == Buf::In {
        Buf::Out
    } else {
        Buf::In
    }
}

/// A stage's name in error messages.
pub(super) fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Plugin { inverse: false, .. } => "plugin op",
        Stage::Plugin { inverse: true, .. } => "plugin op (inverse)",
        Stage::Crc32c(_) => "crc32c",
        Stage::Compress { .. } => "compress",
        Stage::Decompress { .. } => "decompress",
        Stage::Lookup => "lookup",
        Stage::Insert => "insert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::RanOn;
    use dpukit_ffi::Algorithm;

    fn finished(results: &[(Status, u64)]) -> Finished {
        Finished {
            slot: 0,
            user: 0,
            results: results
                .iter()
                .map(|&(status, result)| OpResult { status, result, ran_on: RanOn::Host, latency_ns: 0 })
                .collect(),
            submitted_ns: 0,
            done_ns: 0,
        }
    }

    #[test]
    fn compression_moves_the_stored_form_to_the_output_with_its_length() {
        let mut c = SlotChunk::generated(4096);
        let compress = Job { stages: vec![Stage::Compress { algorithm: Algorithm::Lz4, level: 0 }] };
        assert_eq!(
            c.ops(&compress),
            vec![SlotOp::Compress { algorithm: Algorithm::Lz4, level: 0, len: 4096 }]
        );
        c.apply(&compress, &finished(&[(Status::Ok, 1000)])).unwrap();
        let crc = Job { stages: vec![Stage::Crc32c(Form::Stored)] };
        assert_eq!(c.ops(&crc), vec![SlotOp::Crc32c { buf: Buf::Out, len: 1000 }]);
        c.apply(&crc, &finished(&[(Status::Ok, 0xdead_beef)])).unwrap();
        assert_eq!((c.crc, c.stored_len, c.stored_in()), (Some(0xdead_beef), 1000, Buf::Out));
    }

    #[test]
    fn a_failed_stage_is_named_with_its_status() {
        let mut c = SlotChunk::generated(10);
        let job = Job { stages: vec![Stage::Crc32c(Form::Raw)] };
        assert_eq!(
            c.apply(&job, &finished(&[(Status::DeviceUnavailable, 0)])),
            Err((job.stages[0], Status::DeviceUnavailable))
        );
        assert_eq!(c.crc, None);
    }

    #[test]
    fn a_stored_chunk_verifies_only_with_its_checksum_and_raw_length() {
        let c = SlotChunk::stored(100, 400);
        let job = Job {
            stages: vec![Stage::Crc32c(Form::Stored), Stage::Decompress { algorithm: Algorithm::Zstd }],
        };
        assert_eq!(
            c.ops(&job),
            vec![
                SlotOp::Crc32c { buf: Buf::In, len: 100 },
                SlotOp::Decompress { algorithm: Algorithm::Zstd, src: Buf::In, dst: Buf::Out, len: 100 }
            ]
        );
        assert!(c.verifies(&job, &finished(&[(Status::Ok, 7), (Status::Ok, 400)]), 7));
        assert!(!c.verifies(&job, &finished(&[(Status::Ok, 8), (Status::Ok, 400)]), 7));
        assert!(!c.verifies(&job, &finished(&[(Status::Ok, 7), (Status::Ok, 399)]), 7));
        assert!(!c.verifies(&job, &finished(&[(Status::Ok, 7), (Status::CorruptInput, 0)]), 7));
        assert!(!c.verifies(&job, &finished(&[(Status::CorruptInput, 7), (Status::Ok, 400)]), 7));
    }

    #[test]
    fn a_plugin_op_moves_the_stored_form_and_its_inverse_keeps_the_stored_bytes() {
        let fwd = Stage::Plugin { arg: 9, inverse: false };
        let inv = Stage::Plugin { arg: 9, inverse: true };
        let user = |arg1, src, dst, len| SlotOp::User { opcode: PLUGIN_OPCODE, arg0: 9, arg1, src, dst, len };
        // Produced, compressed: the plugin reads the compressed form in the output and
        // writes the stored form back to the input, which the checksum then reads.
        let mut c = SlotChunk::generated(4096);
        let compress = Job { stages: vec![Stage::Compress { algorithm: Algorithm::Lz4, level: 0 }] };
        c.apply(&compress, &finished(&[(Status::Ok, 1000)])).unwrap();
        let seal = Job { stages: vec![fwd, Stage::Crc32c(Form::Stored)] };
        assert_eq!(
            c.ops(&seal),
            vec![user(PLUGIN_FORWARD, Buf::Out, Buf::In, 1000), SlotOp::Crc32c { buf: Buf::In, len: 1000 }]
        );
        c.apply(&seal, &finished(&[(Status::Ok, 0), (Status::Ok, 5)])).unwrap();
        assert_eq!((c.stored_in(), c.stored_len, c.crc), (Buf::In, 1000, Some(5)));
        // Verified: checksum of the stored bytes in the input, inverse into the output,
        // decompression from there into the spare buffer; the input keeps the stored bytes.
        let v = SlotChunk::stored(1000, 4096);
        let verify = Job {
            stages: vec![Stage::Crc32c(Form::Stored), inv, Stage::Decompress { algorithm: Algorithm::Lz4 }],
        };
        assert_eq!(
            v.ops(&verify),
            vec![
                SlotOp::Crc32c { buf: Buf::In, len: 1000 },
                user(PLUGIN_INVERSE, Buf::In, Buf::Out, 1000),
                SlotOp::Decompress { algorithm: Algorithm::Lz4, src: Buf::Out, dst: Buf::Spare, len: 1000 },
            ]
        );
        assert!(v.verifies(&verify, &finished(&[(Status::Ok, 3), (Status::Ok, 0), (Status::Ok, 4096)]), 3));
        let failed = finished(&[(Status::Ok, 3), (Status::BadLength, 0), (Status::Ok, 4096)]);
        assert!(!v.verifies(&verify, &failed, 3), "a failed inverse does not verify");
        // Uncompressed: the plugin takes the raw bytes to the output.
        let c = SlotChunk::generated(512);
        assert_eq!(
            c.ops(&Job { stages: vec![fwd, Stage::Crc32c(Form::Stored)] }),
            vec![user(PLUGIN_FORWARD, Buf::In, Buf::Out, 512), SlotOp::Crc32c { buf: Buf::Out, len: 512 }]
        );
        let mut c = SlotChunk::generated(512);
        let err = c.apply(&Job { stages: vec![fwd] }, &finished(&[(Status::KernelError, 0)]));
        assert_eq!(err, Err((fwd, Status::KernelError)));
    }

    #[test]
    fn a_lookup_miss_is_an_answer_not_a_failure() {
        let mut c = SlotChunk::keyed([1; 16]);
        let job = Job { stages: vec![Stage::Lookup] };
        c.apply(&job, &finished(&[(Status::NotFound, 0)])).unwrap();
        assert!(!c.hit);
        c.apply(&job, &finished(&[(Status::Ok, 0)])).unwrap();
        assert!(c.hit);
    }
}
