/*
 * device.c - a complete offload device in C, serving a dpukit queue pair from its own
 * process.
 *
 * The host process creates the queue pair in shared memory and starts this program with
 * the path to attach to in DPUKIT_QP. The device fetches descriptors, checks them,
 * resolves their buffers through the region table (it never follows a host pointer),
 * executes NOP, COPY, CRC32C and COPY_CRC32C itself, answers every other opcode with
 * DPU_STATUS_UNKNOWN_OPCODE (the host then runs that op on its CPU), and posts one
 * completion per descriptor. It exits when the host closes its end.
 *
 * A prototype of a real device replaces execute() with calls into its engine or a
 * vendor library. Built against libdpukit with -DDPUKIT_DEVICE_KERNELS, the ops it does
 * not implement go to the kit's own kernels (dpu_kernels_execute), so it serves every
 * opcode: compression, decompression and the cache index included.
 *
 * Build: cc -O2 -std=c11 -I ffi/include ffi/examples/device.c target/release/libdpukit_ffi.a \
 *            -lpthread -ldl -lm -o dpu-device
 *    or: cc -O2 ffi/examples/device.c $(pkg-config --cflags --libs dpukit) -o dpu-device
 *    or, with the kit's kernels behind it:
 *        cc -O2 -DDPUKIT_DEVICE_KERNELS ffi/examples/device.c $(pkg-config --cflags --libs dpukit) -o dpu-device
 *
 * DPUKIT_DEVICE_FAULT makes it misbehave on purpose, for the host's fault tests:
 * exit (dies after fetching), hang (fetches, never answers), unknown-tag, dup-tag,
 * bad-status, bad-length, bad-opcode, scribble (writes 8 bytes just before a source
 * buffer: inside the region, outside the buffer it was given). The fault hits the first
 * descriptor, or the one numbered DPUKIT_DEVICE_FAULT_AFTER (counting from 0), so a test
 * can let the device answer some work correctly first.
 *
 * DPUKIT_CACHE_ENTRIES (set by `dpukit --device process:...`) sizes the kit's cache
 * index, so the device holds as many keys as the host's cache would.
 */
#define _POSIX_C_SOURCE 200809L
#ifdef DPUKIT_DEVICE_KERNELS
#include "dpukit.h"
static struct dpu_kernels *kernels;
#else
#include "dpu_offload.h"
#endif

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 32

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven; the ABI's CRC
 * seed convention: crc = crc32c(seed, data), as the kit's kernels compute it. */
static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32c(uint32_t seed, const uint8_t *p, uint64_t n) {
    uint32_t c = ~seed;
    for (uint64_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
    return ~c;
}

/* The previous descriptor's outcome, for DPU_DESC_F_CRC_SEED_PREV chains. */
static uint64_t prev_result;
static uint16_t prev_status = DPU_STATUS_OK;

/* Executes one checked descriptor; fills the completion's status, result and bytes. */
static void execute(struct dpu_qp *qp, const struct dpu_desc *d, struct dpu_cpl *c) {
    void *src = NULL, *dst = NULL;
    const struct dpu_buf_ref *s = &d->op.io.src, *t = &d->op.io.dst;
    uint32_t seed = (uint32_t)d->seed;
    uint16_t st;
    if (d->flags & DPU_DESC_F_CRC_SEED_PREV) {
        if (prev_status != DPU_STATUS_OK) {
            c->status = DPU_STATUS_CHAIN_ABORTED;
            return;
        }
        seed = (uint32_t)prev_result;
    }
    switch (d->opcode) {
    case DPU_OP_NOP:
        c->status = DPU_STATUS_OK;
        return;
    case DPU_OP_CRC32C:
        if ((st = dpu_qp_dev_resolve(qp, s, &src)) != DPU_STATUS_OK) {
            c->status = st;
            return;
        }
        c->result = crc32c(seed, src, s->len);
        c->bytes = s->len;
        c->status = DPU_STATUS_OK;
        return;
    case DPU_OP_COPY:
    case DPU_OP_COPY_CRC32C:
        if ((st = dpu_qp_dev_resolve(qp, s, &src)) != DPU_STATUS_OK ||
            (st = dpu_qp_dev_resolve(qp, t, &dst)) != DPU_STATUS_OK) {
            c->status = st;
            return;
        }
        if (t->len < s->len) {
            c->status = DPU_STATUS_DST_TOO_SMALL;
            return;
        }
        memmove(dst, src, s->len);
        c->result = d->opcode == DPU_OP_COPY ? s->len : crc32c(seed, dst, s->len);
        c->bytes = s->len;
        c->status = DPU_STATUS_OK;
        return;
    default:
#ifdef DPUKIT_DEVICE_KERNELS
        /* Not implemented here: the kit's kernels run it. */
        if (dpu_kernels_execute(kernels, qp, d, c) != DPU_STATUS_OK)
            c->status = DPU_STATUS_KERNEL_ERROR;
        return;
#else
        /* Not implemented by this device: the host runs it instead. */
        c->status = DPU_STATUS_UNKNOWN_OPCODE;
        return;
#endif
    }
}

/* The descriptor the fault hits (DPUKIT_DEVICE_FAULT_AFTER). */
static uint64_t fault_at;

/* Writes 8 bytes just before the source buffer of `d`, if it has one past the region's
 * first 8 bytes; returns 1 if it did. */
static int scribble(struct dpu_qp *qp, const struct dpu_desc *d) {
    void *p = NULL;
    struct dpu_buf_ref r = d->op.io.src;
    switch (d->opcode) {
    case DPU_OP_CRC32C:
    case DPU_OP_COPY:
    case DPU_OP_COPY_CRC32C:
    case DPU_OP_COMPRESS:
    case DPU_OP_DECOMPRESS:
        break;
    default:
        return 0;
    }
    if (r.offset < 8)
        return 0;
    r.offset -= 8;
    r.len = 8;
    if (dpu_qp_dev_resolve(qp, &r, &p) != DPU_STATUS_OK)
        return 0;
    memset(p, 0x5a, 8);
    return 1;
}

/* Deliberate faults, for the host's tests: returns 1 if the completion is to be
 * withheld (the device then hangs or exits). */
static int misbehave(const char *fault, uint64_t nth, struct dpu_qp *qp, const struct dpu_desc *d,
                     struct dpu_cpl *c) {
    static int scribbled;
    if (fault && !strcmp(fault, "scribble") && nth >= fault_at && !scribbled)
        scribbled = scribble(qp, d);
    if (!fault || nth != fault_at)
        return 0;
    if (!strcmp(fault, "exit"))
        exit(3);
    if (!strcmp(fault, "hang"))
        return 1;
    if (!strcmp(fault, "unknown-tag"))
        c->tag ^= 0x5a5a5a5a00000000ull;
    if (!strcmp(fault, "bad-status"))
        c->status = 999;
    if (!strcmp(fault, "bad-length"))
        c->bytes = 0xffffffffu;
    if (!strcmp(fault, "bad-opcode"))
        c->opcode ^= 0x40;
    return 0;
}

int main(void) {
    const char *path = getenv("DPUKIT_QP");
    const char *fault = getenv("DPUKIT_DEVICE_FAULT");
    if (!path) {
        fprintf(stderr, "device: DPUKIT_QP is not set (the host sets it to the queue pair to serve)\n");
        return 2;
    }
    struct dpu_qp *qp = NULL;
    uint16_t st = dpu_qp_dev_attach(path, &qp);
    if (st != DPU_STATUS_OK) {
        fprintf(stderr, "device: cannot attach to %s (status %u)\n", path, st);
        return 2;
    }
    crc_init();
    const char *after = getenv("DPUKIT_DEVICE_FAULT_AFTER");
    fault_at = after ? strtoull(after, NULL, 10) : 0;
#ifdef DPUKIT_DEVICE_KERNELS
    const char *entries = getenv("DPUKIT_CACHE_ENTRIES");
    unsigned long cache_entries = entries ? strtoul(entries, NULL, 10) : 0;
    if (cache_entries == 0 || cache_entries > 0xffffffffu)
        cache_entries = 1u << 16;
    if (dpu_kernels_create((uint32_t)cache_entries, &kernels) != DPU_STATUS_OK) {
        fprintf(stderr, "device: %s\n", dpukit_last_error());
        return 2;
    }
#endif
    struct dpu_desc descs[BATCH];
    struct dpu_cpl cpls[BATCH + 1];
    uint64_t answered = 0;
    unsigned idle = 0;
    int hung = 0;
    for (;;) {
        uint32_t n = 0;
        if (dpu_qp_dev_fetch(qp, descs, BATCH, &n) != DPU_STATUS_OK)
            break;
        if (n == 0) {
            uint32_t closed = 0;
            dpu_qp_dev_host_closed(qp, &closed);
            if (closed)
                break;
            /* Poll hard for a while after work, then back off to spare the core. */
            if (++idle > 4096) {
                struct timespec ts = {0, 20000};
                nanosleep(&ts, NULL);
            } else {
                sched_yield();
            }
            continue;
        }
        idle = 0;
        if (hung)
            continue;
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct dpu_cpl *c = &cpls[m];
            memset(c, 0, sizeof *c);
            c->tag = descs[i].tag;
            c->opcode = descs[i].opcode;
            c->status = dpu_qp_dev_check(&descs[i]);
            if (c->status == DPU_STATUS_OK)
                execute(qp, &descs[i], c);
            prev_status = c->status;
            prev_result = c->result;
            if (misbehave(fault, answered + m, qp, &descs[i], c)) {
                hung = 1;
                break;
            }
            m++;
            if (fault && !strcmp(fault, "dup-tag") && answered + m == fault_at + 1)
                cpls[m++] = *c; /* the same completion twice */
        }
        uint32_t posted = 0;
        for (uint32_t done = 0; done < m; done += posted) {
            /* fetch never takes more than the completion ring holds, so this fits at once
             * unless the duplicate of a fault test overflows it */
            if (dpu_qp_dev_complete(qp, cpls + done, m - done, &posted) != DPU_STATUS_OK)
                sched_yield();
        }
        answered += m;
    }
    dpu_qp_destroy(qp);
#ifdef DPUKIT_DEVICE_KERNELS
    dpu_kernels_destroy(kernels);
#endif
    return 0;
}
