/* A C caller of the dpukit C API, linked against libdpukit_ffi.a: prints the ABI
 * layout as C sees it, then creates a queue pair, registers memory, submits
 * descriptors (valid and malformed), drives the loopback device and checks every
 * completion. Exit status 0 means every check passed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layout.h"

static int failures;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "caller.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static struct dpu_desc copy_desc(uint64_t tag, uint32_t region, uint64_t src, uint64_t dst, uint32_t len) {
    struct dpu_desc d;
    memset(&d, 0, sizeof d);
    d.opcode = DPU_OP_COPY;
    d.flags = DPU_DESC_F_COMPLETION;
    d.tag = tag;
    d.op.io.src.region = region;
    d.op.io.src.offset = src;
    d.op.io.src.len = len;
    d.op.io.dst.region = region;
    d.op.io.dst.offset = dst;
    d.op.io.dst.len = len;
    return d;
}

int main(void) {
#define ROW(name, value) printf("layout %s=%llu\n", name, (unsigned long long)(value));
    DPU_LAYOUT_ROWS(ROW)
#undef ROW

    struct dpu_qp *qp = NULL;
    CHECK(dpu_qp_create(3, 8, &qp) == DPU_STATUS_INVALID_ARGUMENT); /* not a power of two */
    CHECK(dpu_qp_create(8, 8, NULL) == DPU_STATUS_INVALID_ARGUMENT);
    CHECK(dpu_qp_create(8, 8, &qp) == DPU_STATUS_OK && qp != NULL);

    size_t len = 1 << 16;
    uint8_t *mem = malloc(len);
    for (size_t i = 0; i < len; i++)
        mem[i] = (uint8_t)(i * 7);
    uint32_t region = 0;
    CHECK(dpu_qp_register_region(qp, mem, len, &region) == DPU_STATUS_OK && region != 0);
    CHECK(dpu_qp_register_region(qp, NULL, len, &region) == DPU_STATUS_INVALID_ARGUMENT);

    struct dpu_desc d[10];
    d[0] = copy_desc(100, region, 0, 32768, 4096);
    d[1] = copy_desc(101, region + 7, 0, 32768, 64);           /* unknown region */
    d[2] = copy_desc(102, region, len - 10, 0, 64);            /* out of range */
    d[3] = copy_desc(103, region, 0, 100, 64);
    d[3].opcode = 0x42;                                         /* unknown opcode */
    d[4] = copy_desc(104, region, 0, 100, 64);
    d[4].flags |= 1u << 9;                                      /* reserved flag */
    memset(&d[5], 0, sizeof d[5]);
    d[5].opcode = DPU_OP_NOP;
    d[5].tag = 105;                                             /* no COMPLETION flag: silent */
    memset(&d[6], 0, sizeof d[6]);
    d[6].opcode = DPU_OP_NOP;
    d[6].flags = DPU_DESC_F_COMPLETION;
    d[6].tag = 106;
    for (int i = 7; i < 10; i++)
        d[i] = copy_desc(100 + (uint64_t)i, region, 0, 8192 + 64 * (uint64_t)i, 64);

    uint32_t accepted = 0;
    CHECK(dpu_qp_submit(qp, d, 10, &accepted) == DPU_STATUS_OK);
    CHECK(accepted == 8); /* ring of 8: backpressure, nothing dropped */
    uint32_t more = 0;
    CHECK(dpu_qp_submit(qp, &d[8], 2, &more) == DPU_STATUS_QUEUE_FULL && more == 0);

    uint32_t done = 0;
    CHECK(dpu_qp_loopback_process(qp, 64, &done) == DPU_STATUS_OK && done == 8);

    /* 7 completions (the silent NOP writes none) in a completion ring of 8: the
     * device may take only one more descriptor until the host polls. */
    CHECK(dpu_qp_submit(qp, &d[8], 2, &more) == DPU_STATUS_OK && more == 2);
    CHECK(dpu_qp_loopback_process(qp, 64, &done) == DPU_STATUS_QUEUE_FULL && done == 1);
    CHECK(dpu_qp_loopback_process(qp, 64, &done) == DPU_STATUS_QUEUE_FULL && done == 0);

    struct dpu_cpl c[16];
    uint32_t n = 0, n2 = 0;
    CHECK(dpu_qp_poll(qp, c, 16, &n) == DPU_STATUS_OK);
    CHECK(n == 8);
    CHECK(dpu_qp_loopback_process(qp, 64, &done) == DPU_STATUS_OK && done == 1);
    CHECK(n < 16 && dpu_qp_poll(qp, c + n, 16 - n, &n2) == DPU_STATUS_OK && n2 == 1);
    n += n2;
    CHECK(n == 9);
    uint16_t want_status[9] = {DPU_STATUS_OK, DPU_STATUS_UNKNOWN_REGION, DPU_STATUS_OUT_OF_RANGE,
                               DPU_STATUS_UNKNOWN_OPCODE, DPU_STATUS_BAD_FLAGS, DPU_STATUS_OK,
                               DPU_STATUS_OK, DPU_STATUS_OK, DPU_STATUS_OK};
    uint64_t want_tag[9] = {100, 101, 102, 103, 104, 106, 107, 108, 109};
    for (uint32_t i = 0; i < n && i < 9; i++) {
        CHECK(c[i].tag == want_tag[i]);
        CHECK(c[i].status == want_status[i]);
    }
    CHECK(c[0].result == 4096 && c[0].bytes == 4096);
    CHECK(memcmp(mem, mem + 32768, 4096) == 0);
    CHECK(dpu_qp_poll(qp, c, 16, &n) == DPU_STATUS_OK && n == 0);
    CHECK(dpu_qp_poll(NULL, c, 16, &n) == DPU_STATUS_INVALID_ARGUMENT);

    dpu_qp_destroy(qp);
    dpu_qp_destroy(NULL);
    free(mem);
    if (failures) {
        fprintf(stderr, "caller: %d checks failed\n", failures);
        return 1;
    }
    printf("caller: ok\n");
    return 0;
}
