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

/* Attaches a simulated DPU to the device end of `qp`: made by dpu_qp_create in this
 * process, or attached with dpu_qp_dev_attach to a host's shared queue pair (then this
 * process is a simulated device for a host in another process; it serves the regions the
 * host allocated before the attach). `profile` is a shipped profile's name ("bluefield-2", "bluefield-3",
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

/* The kit's kernels, for a C device that executes some ops itself and hands the rest to
 * the same code the kit's host and simulator run (CRC32C, copy, LZ4/zstd/deflate, the
 * cache index): a device prototype can start with everything here and replace ops one
 * by one. ffi/examples/device.c built with -DDPUKIT_DEVICE_KERNELS does that. */
struct dpu_kernels; /* opaque: a kernel registry with its own cache index */

/* cache_entries bounds the cache index the CACHE_* opcodes operate on. */
uint16_t dpu_kernels_create(uint32_t cache_entries, struct dpu_kernels **out);

/* Executes one fetched descriptor as the simulator's engine does: checks it, resolves its
 * buffers against qp's region table (qp is a device side: dpu_qp_create or
 * dpu_qp_dev_attach), runs the kernel and fills *cpl (tag, opcode, status, result,
 * bytes; modelled_ns 0). CRC_SEED_PREV chains to the previous descriptor executed here.
 * Returns DPU_STATUS_OK when *cpl was filled (its own status says how the op went). */
uint16_t dpu_kernels_execute(struct dpu_kernels *k, struct dpu_qp *qp, const struct dpu_desc *desc,
                             struct dpu_cpl *cpl);

void dpu_kernels_destroy(struct dpu_kernels *k);

/* The calling thread's last libdpukit error message (NUL-terminated, valid until the
 * thread's next libdpukit call), or "" when the last call succeeded. */
const char *dpukit_last_error(void);

/* "major.minor.patch" of libdpukit. */
const char *dpukit_version(void);

#ifdef __cplusplus
}
#endif

#endif /* DPUKIT_H */
