/*
 * shared_host.c - a C host whose device runs in another process.
 *
 * It creates a queue pair in shared memory, allocates a region there, starts the device
 * program given on the command line (e.g. the example device, device.c), offloads
 * CRC32C and COPY descriptors, checks every result, and exits. Any device fault (it
 * dies, hangs, answers nonsense) is one line on stderr and exit status 1.
 *
 *   cc -O2 ffi/examples/shared_host.c $(pkg-config --cflags --libs dpukit) -o shared-host
 *   ./shared-host ./dpu-device
 */
#define _POSIX_C_SOURCE 200809L
#include "dpu_offload.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define N 256u
#define CHUNK 4096u

static uint32_t crc32c_sw(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: shared-host DEVICE_PROGRAM\n");
        return 2;
    }
    struct dpu_qp *qp = NULL;
    if (dpu_qp_create_shared(64, 64, 4, 2u * N * CHUNK, &qp) != DPU_STATUS_OK) {
        fprintf(stderr, "shared-host: cannot create the shared queue pair\n");
        return 1;
    }
    uint32_t region = 0;
    void *base = NULL;
    if (dpu_qp_alloc_region(qp, 2u * N * CHUNK, &region, &base) != DPU_STATUS_OK) {
        fprintf(stderr, "shared-host: %s\n", dpu_qp_last_error(qp));
        dpu_qp_destroy(qp);
        return 1;
    }
    uint8_t *mem = base;
    for (uint32_t i = 0; i < N * CHUNK; i++)
        mem[i] = (uint8_t)(i * 2654435761u >> 13);
    if (dpu_qp_spawn_device(qp, argv[1]) != DPU_STATUS_OK) {
        fprintf(stderr, "shared-host: %s\n", dpu_qp_last_error(qp));
        dpu_qp_destroy(qp);
        return 1;
    }

    int rc = 0;
    uint32_t sent = 0, got = 0;
    struct dpu_cpl cpl[64];
    double last = now_s();
    while (got < 2 * N && rc == 0) {
        /* Even tags: CRC32C of chunk tag/2; odd tags: copy it to the upper half. */
        struct dpu_desc d[16];
        uint32_t k = 0;
        for (; k < 16 && sent + k < 2 * N; k++) {
            uint32_t t = sent + k, chunk = t / 2;
            memset(&d[k], 0, sizeof d[k]);
            d[k].tag = t;
            d[k].flags = DPU_DESC_F_COMPLETION;
            d[k].op.io.src = (struct dpu_buf_ref){.region = region, .len = CHUNK, .offset = (uint64_t)chunk * CHUNK};
            if (t % 2) {
                d[k].opcode = DPU_OP_COPY;
                d[k].op.io.dst =
                    (struct dpu_buf_ref){.region = region, .len = CHUNK, .offset = (uint64_t)(N + chunk) * CHUNK};
            } else {
                d[k].opcode = DPU_OP_CRC32C;
            }
        }
        uint32_t accepted = 0;
        uint16_t st = dpu_qp_submit(qp, d, k, &accepted);
        if (st != DPU_STATUS_OK && st != DPU_STATUS_QUEUE_FULL) {
            fprintf(stderr, "shared-host: submit: %s\n", dpu_qp_last_error(qp));
            rc = 1;
            break;
        }
        sent += accepted;
        uint32_t n = 0;
        st = dpu_qp_poll(qp, cpl, 64, &n);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = (uint32_t)cpl[i].tag, chunk = t / 2;
            const uint8_t *src = mem + (uint64_t)chunk * CHUNK;
            if (cpl[i].status != DPU_STATUS_OK ||
                (t % 2 == 0 && cpl[i].result != crc32c_sw(src, CHUNK)) ||
                (t % 2 == 1 && memcmp(src, mem + (uint64_t)(N + chunk) * CHUNK, CHUNK) != 0)) {
                fprintf(stderr, "shared-host: tag %u: wrong result (status %u)\n", t, cpl[i].status);
                rc = 1;
            }
        }
        got += n;
        if (st != DPU_STATUS_OK) {
            fprintf(stderr, "shared-host: %s\n", dpu_qp_last_error(qp));
            rc = 1;
        }
        if (n > 0)
            last = now_s();
        else if (now_s() - last > 10.0) {
            fprintf(stderr, "shared-host: the device answered nothing for 10 s (%u of %u answered)\n", got, 2 * N);
            rc = 1;
        }
    }
    if (rc == 0)
        printf("shared-host: %u descriptors answered and checked: ok\n", got);
    dpu_qp_destroy(qp);
    return rc;
}
