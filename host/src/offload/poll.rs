//! Taking a device's completions: progressing it, checking every answer against what was
//! asked, and listing the jobs it completes.

use super::*;

impl Offload {
    /// Lets the device progress and collects its completions. A modelled device runs
    /// here, on this thread, and its time is kept off the host clock; a measured device's
    /// completions are due when the host sees them. A device fault (a completion the
    /// queue pair refuses, a tag not in flight or answered twice, a write outside the
    /// buffers of a slot) is a fail-over with its reason: the completions taken before it
    /// stand, everything else runs on the host CPU.
    pub(super) fn drive_device(&mut self) -> Result<usize, OffloadError> {
        let Some(dev) = self.device.as_ref().filter(|d| !d.dead) else { return Ok(0) };
        // A modelled device progresses only while some descriptor is unanswered (every
        // descriptor gets one completion): once all are, the call would do nothing, and it
        // and its accounting (two thread-CPU clock reads, each a system call of ~0.3 us)
        // are skipped, and so is the host clock read (tens of ns, several per job
        // otherwise), unless the device answers anyway. A measured device runs on its own
        // and is always asked.
        let active = dev.clock == DeviceClock::Measured || dev.unanswered > 0;
        let mut now = if active { self.now_ns() } else { 0 };
        let dev = self.device.as_mut().expect("checked above");
        if active {
            let (w0, c0) = (self.clock.raw(), thread_cpu_ns());
            dev.device.progress(now);
            if dev.clock == DeviceClock::Modelled {
                self.stats.sim_cpu_ns += thread_cpu_ns().saturating_sub(c0);
                self.stats.sim_wall_ns += self.clock.delta_as_nanos(w0, self.clock.raw());
            }
        }
        let measured = dev.clock == DeviceClock::Measured;
        // Reused across polls: no allocation per poll on the data path.
        let mut cpls = std::mem::take(&mut self.cpl_buf);
        cpls.clear();
        let mut fault = dev.queue.poll(1024, &mut cpls).err();
        let mut taken = 0;
        dev.unanswered = dev.unanswered.saturating_sub(cpls.len() as u64);
        if !active && (!cpls.is_empty() || fault.is_some()) {
            now = self.now_ns();
        }
        for &c in &cpls {
            let slot = (c.tag >> 8) as usize;
            let i = (c.tag & 0xff) as usize;
            let in_flight = self.pool.is_in_flight(slot);
            let Some(op) = self
                .jobs
                .get(slot)
                .and_then(|j| j.as_ref())
                .filter(|j| in_flight && j.results.get(i).is_some_and(|r| r.is_none()))
                .map(|j| j.ops[i])
            else {
                fault.get_or_insert(format!(
                    "answered tag {}, which is not in flight (unknown, or answered twice)",
                    c.tag
                ));
                break;
            };
            // Whatever device answers, the lengths the caller gets lie within the slot's
            // buffers: an answer no correct device gives is a fault, like a wrong tag.
            if let Err(e) = Sent::of(&self.descriptor(slot, i, &op).encode()).check(&c) {
                fault.get_or_insert(e.to_string());
                break;
            }
            let job = self.jobs[slot].as_mut().expect("checked above");
            taken += 1;
            let due = if measured { now } else { job.submitted_ns.saturating_add(c.modelled_ns) };
            job.ready_ns = job.ready_ns.max(due);
            self.stats.ops_on_device += 1;
            let latency_ns = if measured { now.saturating_sub(job.submitted_ns) } else { c.modelled_ns };
            job.results[i] =
                Some(OpResult { status: c.status, result: c.result, ran_on: RanOn::Device, latency_ns });
            // A job completed by answers taken before a fault (the queue pair reports the
            // fault after the valid completions before it) is finished all the same: it is
            // listed here, since the fail-over reruns only what is unanswered.
            if Self::device_done(job) {
                if let Err(why) = self.pool.check_guards(slot) {
                    // What the job's ops wrote is suspect: they run again on the CPU.
                    for r in job.results.iter_mut() {
                        if r.is_some_and(|r| r.ran_on == RanOn::Device) {
                            *r = None;
                        }
                    }
                    fault.get_or_insert(why);
                } else {
                    self.ready.push(Reverse((job.ready_ns, slot)));
                    self.fresh.push(slot);
                }
            }
        }
        let dev = self.device.as_mut().expect("device");
        dev.answered += taken;
        dev.error_answers += cpls[..taken as usize]
            .iter()
            .filter(|c| !matches!(c.status, Status::Ok | Status::NotFound))
            .count() as u64;
        self.cpl_buf = cpls;
        if let Some(why) = fault {
            self.fail_over(now, &why)?;
        }
        Ok(taken as usize)
    }
}
