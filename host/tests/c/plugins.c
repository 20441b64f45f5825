/* Plugins for the tests of the plugin stage, one shared object per behaviour (chosen at
 * build time):
 *   default          "addcipher": forward adds a keystream to every byte, inverse (aux = 1)
 *                    subtracts it, so running forward where the inverse belongs is caught;
 *   -DPLUGIN_FAILS   the same name, every call returns DPU_STATUS_KERNEL_ERROR;
 *   -DPLUGIN_SHORT   the same name, reports one output byte less than its input;
 *   -DPLUGIN_NO_ENTRY a shared object that exports no plugin at all. */
#include <stddef.h>
#include "dpu_offload.h"

static uint16_t cipher_run(void *ctx, const struct dpu_kernel_io *io, struct dpu_kernel_out *out) {
    (void)ctx;
    if (io->flags != 0 || io->aux > 1)
        return DPU_STATUS_BAD_FLAGS;
#ifdef PLUGIN_FAILS
    return DPU_STATUS_KERNEL_ERROR;
#endif
    if (io->dst == NULL || io->dst_cap < io->src_len)
        return DPU_STATUS_DST_TOO_SMALL;
    for (uint64_t i = 0; i < io->src_len; i++) {
        uint8_t k = (uint8_t)(io->seed + i * 131);
        io->dst[i] = io->aux ? (uint8_t)(io->src[i] - k) : (uint8_t)(io->src[i] + k);
    }
    out->result = 0;
    out->dst_len = io->src_len;
#ifdef PLUGIN_SHORT
    out->dst_len = io->src_len - 1;
#endif
    return DPU_STATUS_OK;
}

#ifndef PLUGIN_NO_ENTRY
static const struct dpu_kernel_plugin plugin = {
    .abi_major = DPU_ABI_VERSION_MAJOR,
    .abi_minor = DPU_ABI_VERSION_MINOR,
    .name = "addcipher",
    .run = cipher_run,
    .ctx = NULL,
};

const struct dpu_kernel_plugin *dpu_kernel_plugin_v1(void) { return &plugin; }
#else
uint16_t not_a_plugin(void *ctx, const struct dpu_kernel_io *io, struct dpu_kernel_out *out) {
    return cipher_run(ctx, io, out);
}
#endif
