//! The host's wake-up after waiting for a modelled completion.

use super::Offload;

impl Offload {
    /// When the host runs again to take a job that is ready at `ready_ns`: then, or, when
    /// it would have waited long enough to block, a modelled wake-up later
    /// ([`Device::host_wake_ns`](crate::device::Device::host_wake_ns); 0 for a measured
    /// device, whose completions are timed when the host sees them).
    /// `now` is the host clock's reading.
    pub(super) fn woken_at(&self, now: u64, ready_ns: u64) -> u64 {
        let Some(dev) = self.device.as_ref().filter(|d| !d.dead) else { return ready_ns };
        if ready_ns <= now {
            return ready_ns;
        }
        ready_ns + dev.device.host_wake_ns(ready_ns - now)
    }
}
