/*
 * dpukit.h - libdpukit: the offload ABI's C API (dpu_offload.h) with a simulated DPU
 * that a C host program attaches to a queue pair.
 *
 *   cc prog.c $(pkg-config --cflags --libs dpukit)
 *
 * after `scripts/install-lib.sh PREFIX` (and PKG_CONFIG_PATH=PREFIX/lib/pkgconfig when
 * PREFIX is not a system prefix). capi/examples/host.c is a complete program.
 *
 * The simulated DPU executes every descriptor on real bytes with the kit's kernels and
 * stamps each completion's modelled_ns with the time the profile's timing model gives:
 * results are real, times are modelled (never measured).
 */
#ifndef DPUKIT_H
#define DPUKIT_H

#include "dpu_offload.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dpu_sim; /* opaque: one simulated DPU */

/* Attaches a simulated DPU to the device end of `qp` (made by dpu_qp_create in this
 * process). `profile` is a shipped profile's name ("bluefield-2", "bluefield-3",
 * "fungible-f1", "intel-dsa-iaa") or a path to a TOML profile. The queue pair's device
 * side then belongs to the simulator (dpu_qp_dev_* and the loopback refuse it).
 * On failure returns DPU_STATUS_INVALID_ARGUMENT and dpukit_last_error() says why. */
uint16_t dpu_sim_attach(struct dpu_qp *qp, const char *profile, struct dpu_sim **out);

/* Runs the device at virtual time now_ns: fetches what the host has doorbelled,
 * executes it and posts completions (bounded per call; call again while *pending says
 * work is held). *posted receives the completions posted; pending may be NULL. */
uint16_t dpu_sim_poll(struct dpu_sim *sim, uint64_t now_ns, uint32_t *posted, uint32_t *pending);

/* The modelled time at which the device finishes everything it has executed, ns. */
uint64_t dpu_sim_makespan_ns(const struct dpu_sim *sim);

/* Destroys the simulated DPU; the queue pair stays usable for the host side. */
void dpu_sim_destroy(struct dpu_sim *sim);

/* The calling thread's last libdpukit error message (NUL-terminated, valid until the
 * thread's next libdpukit call), or "" when the last call succeeded. */
const char *dpukit_last_error(void);

/* "major.minor.patch" of libdpukit. */
const char *dpukit_version(void);

#ifdef __cplusplus
}
#endif

#endif /* DPUKIT_H */
