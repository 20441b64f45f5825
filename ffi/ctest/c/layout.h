/* Layout facts of the ABI as a C compiler sees them, in the order of
 * dpukit_ffi::abi::layout_table(). Shared by peer.c and caller.c. */
#include <stddef.h>
#include "dpu_offload.h"

#define DPU_LAYOUT_ROWS(X)                                                     \
    X("sizeof(dpu_buf_ref)", sizeof(struct dpu_buf_ref))                       \
    X("sizeof(dpu_cache_value)", sizeof(struct dpu_cache_value))               \
    X("sizeof(dpu_desc)", sizeof(struct dpu_desc))                             \
    X("alignof(dpu_desc)", _Alignof(struct dpu_desc))                          \
    X("offsetof(dpu_desc,opcode)", offsetof(struct dpu_desc, opcode))          \
    X("offsetof(dpu_desc,algo)", offsetof(struct dpu_desc, algo))              \
    X("offsetof(dpu_desc,level)", offsetof(struct dpu_desc, level))            \
    X("offsetof(dpu_desc,flags)", offsetof(struct dpu_desc, flags))            \
    X("offsetof(dpu_desc,tag)", offsetof(struct dpu_desc, tag))                \
    X("offsetof(dpu_desc,op)", offsetof(struct dpu_desc, op))                  \
    X("offsetof(dpu_desc,seed)", offsetof(struct dpu_desc, seed))              \
    X("offsetof(dpu_desc,aux)", offsetof(struct dpu_desc, aux))                \
    X("offsetof(dpu_desc_io,dst)", offsetof(struct dpu_desc_io, dst))          \
    X("offsetof(dpu_desc_cache,u)", offsetof(struct dpu_desc_cache, u))        \
    X("sizeof(dpu_cpl)", sizeof(struct dpu_cpl))                               \
    X("alignof(dpu_cpl)", _Alignof(struct dpu_cpl))                            \
    X("offsetof(dpu_cpl,result)", offsetof(struct dpu_cpl, result))            \
    X("offsetof(dpu_cpl,bytes)", offsetof(struct dpu_cpl, bytes))              \
    X("offsetof(dpu_cpl,status)", offsetof(struct dpu_cpl, status))            \
    X("offsetof(dpu_cpl,opcode)", offsetof(struct dpu_cpl, opcode))            \
    X("offsetof(dpu_cpl,modelled_ns)", offsetof(struct dpu_cpl, modelled_ns))  \
    X("sizeof(dpu_ring_ctrl)", sizeof(struct dpu_ring_ctrl))                   \
    X("offsetof(dpu_ring_ctrl,consumer)", offsetof(struct dpu_ring_ctrl, consumer)) \
    X("offsetof(dpu_ring_ctrl,doorbell)", offsetof(struct dpu_ring_ctrl, doorbell)) \
    X("offsetof(dpu_ring_ctrl,magic)", offsetof(struct dpu_ring_ctrl, magic))  \
    X("offsetof(dpu_ring_ctrl,capacity)", offsetof(struct dpu_ring_ctrl, capacity)) \
    X("offsetof(dpu_ring_ctrl,entry_bytes)", offsetof(struct dpu_ring_ctrl, entry_bytes)) \
    X("sizeof(dpu_kernel_io)", sizeof(struct dpu_kernel_io))                   \
    X("offsetof(dpu_kernel_io,flags)", offsetof(struct dpu_kernel_io, flags))  \
    X("sizeof(dpu_kernel_out)", sizeof(struct dpu_kernel_out))                 \
    X("sizeof(dpu_kernel_plugin)", sizeof(struct dpu_kernel_plugin))           \
    X("offsetof(dpu_kernel_plugin,run)", offsetof(struct dpu_kernel_plugin, run))
