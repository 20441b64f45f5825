/* A user kernel as a DPU engineer would write one: XOR every source byte with the low
 * byte of the descriptor's seed into the destination; the result is the count of
 * non-zero output bytes. Built into a shared object by the engine tests. */
#include <stddef.h>
#include "dpu_offload.h"

static uint16_t xor_run(void *ctx, const struct dpu_kernel_io *io, struct dpu_kernel_out *out) {
    (void)ctx;
    if (io->dst == NULL || io->dst_cap < io->src_len)
        return DPU_STATUS_DST_TOO_SMALL;
    uint64_t nonzero = 0;
    uint8_t k = (uint8_t)io->seed;
    for (uint64_t i = 0; i < io->src_len; i++) {
        io->dst[i] = io->src[i] ^ k;
        nonzero += io->dst[i] != 0;
    }
    out->result = nonzero;
    out->dst_len = io->src_len;
    return DPU_STATUS_OK;
}

static const struct dpu_kernel_plugin plugin = {
    .abi_major = DPU_ABI_VERSION_MAJOR,
    .abi_minor = DPU_ABI_VERSION_MINOR,
    .name = "xor",
    .run = xor_run,
    .ctx = NULL,
};

const struct dpu_kernel_plugin *dpu_kernel_plugin_v1(void) { return &plugin; }

/* A second entry that reports a future ABI, to test the version check. */
static const struct dpu_kernel_plugin future = {
    .abi_major = DPU_ABI_VERSION_MAJOR + 1, .abi_minor = 0, .name = "future", .run = xor_run, .ctx = NULL};
const struct dpu_kernel_plugin *future_plugin(void) { return &future; }
