/* A C peer of the Rust rings, built against dpu_offload.h only: it produces
 * descriptors into a submission ring and consumes completion records, with the
 * header's inline ring helpers, and reports the ABI layout as C sees it. */
#include <stdint.h>
#include <string.h>
#include "layout.h"

size_t dpu_c_layout(const char **names, uint64_t *values, size_t max) {
    size_t n = 0;
#define ROW(name, value)          \
    if (n < max) {                \
        names[n] = name;          \
        values[n] = (uint64_t)(value); \
    }                             \
    n++;
    DPU_LAYOUT_ROWS(ROW)
#undef ROW
    return n;
}

/* Produces `count` COPY_CRC32C-shaped descriptors with tags tag0.., in batches of up
 * to `batch`, ringing the doorbell after each batch; spins while the ring is full.
 * Returns the number produced (== count) or 0 on a bad ring. */
uint64_t dpu_c_produce(struct dpu_ring_ctrl *sq, uint64_t tag0, uint64_t count, uint32_t batch) {
    struct dpu_desc descs[64];
    if (sq->magic != DPU_RING_MAGIC || sq->entry_bytes != sizeof(struct dpu_desc) || batch == 0 || batch > 64)
        return 0;
    uint64_t done = 0;
    while (done < count) {
        uint32_t k = (count - done) < batch ? (uint32_t)(count - done) : batch;
        for (uint32_t i = 0; i < k; i++) {
            memset(&descs[i], 0, sizeof descs[i]);
            descs[i].opcode = DPU_OP_COPY;
            descs[i].flags = DPU_DESC_F_COMPLETION;
            descs[i].tag = tag0 + done + i;
            descs[i].op.io.src.region = 1;
            descs[i].op.io.src.len = (uint32_t)((done + i) % 4096);
            descs[i].op.io.src.offset = 64 * (done + i);
            descs[i].op.io.dst.region = 2;
            descs[i].op.io.dst.len = 4096;
        }
        uint32_t sent = 0;
        while (sent < k) {
            uint32_t n = dpu_ring_produce(sq, &descs[sent], k - sent);
            if (n)
                dpu_ring_doorbell(sq);
            sent += n;
        }
        done += k;
    }
    return done;
}

/* Consumes up to `max` completion records into out; returns the count. */
uint32_t dpu_c_consume(struct dpu_ring_ctrl *cq, struct dpu_cpl *out, uint32_t max) {
    if (cq->magic != DPU_RING_MAGIC || cq->entry_bytes != sizeof(struct dpu_cpl))
        return 0;
    return dpu_ring_consume(cq, out, max);
}
