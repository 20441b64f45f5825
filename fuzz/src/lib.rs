//! Bodies of the fuzz targets over the host, simulator and C API readers (the kernels'
//! targets live in `dpukit_kernels::fuzzing`). Each is a plain function of arbitrary bytes,
//! called by the libFuzzer binaries in `fuzz_targets/`; each panics only when a reader
//! breaks its contract: a panic on bad input, an error that is not one line, or a
//! property of the format (round trip, exactly-once answers, no unverified chunk
//! acknowledged) that does not hold.

pub mod blob;
pub mod calibration;
pub mod capi;
pub mod device;
pub mod engine;
pub mod manifest;
pub mod profile;
pub mod result;
pub mod scenario;
#[cfg(test)]
mod seeds;

/// Errors are for people: one line, not empty (the kit prints them as `dpukit: error: ...`).
pub fn assert_one_line(what: &str, message: &str) {
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    assert!(!message.contains('\n'), "{what}: error is not one line: {message:?}");
}

/// Reads little-endian fields off the front of a fuzz input; missing bytes read as zero.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
