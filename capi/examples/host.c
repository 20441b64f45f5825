/*
 * host.c - a C host program driving a simulated DPU through libdpukit.
 *
 * It creates a queue pair, registers one buffer, attaches a simulated DPU for a profile
 * (a shipped name or a TOML path; default bluefield-3), and offloads a CRC32C, a zstd
 * compression, the decompression of its output and a copy. Results are real bytes,
 * checked here; each completion's time is the profile's model (modelled_ns), not a
 * measurement.
 *
 *   scripts/install-lib.sh "$HOME/.local"
 *   export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
 *   cc -O2 capi/examples/host.c $(pkg-config --cflags --libs dpukit) -o dpukit-host
 *   ./dpukit-host bluefield-3
 *   ./dpukit-host bluefield-3 bench 200000   # descriptors/s, measured on this machine
 */
#define _POSIX_C_SOURCE 200809L
#include <dpukit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 65536u
/* Buffer layout inside the one registered region. */
#define OFF_SRC 0u
#define OFF_ZIP (1u * CHUNK)
#define OFF_OUT (3u * CHUNK)
#define OFF_CPY (4u * CHUNK)
#define BUF_BYTES (5u * CHUNK)

static uint32_t crc32c_sw(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static struct dpu_desc io_desc(uint8_t op, uint64_t tag, uint32_t region, uint64_t src_off, uint32_t src_len,
                               uint64_t dst_off, uint32_t dst_len) {
    struct dpu_desc d;
    memset(&d, 0, sizeof d);
    d.opcode = op;
    d.flags = DPU_DESC_F_COMPLETION;
    d.tag = tag;
    d.op.io.src = (struct dpu_buf_ref){.region = region, .len = src_len, .offset = src_off};
    if (dst_len)
        d.op.io.dst = (struct dpu_buf_ref){.region = region, .len = dst_len, .offset = dst_off};
    return d;
}

/* Submits n descriptors, runs the device and collects n completions into out. */
static int run(struct dpu_qp *qp, struct dpu_sim *sim, const struct dpu_desc *d, uint32_t n,
               struct dpu_cpl *out) {
    uint32_t sent = 0, got = 0;
    for (int rounds = 0; got < n; rounds++) {
        uint32_t k = 0;
        if (sent < n && dpu_qp_submit(qp, d + sent, n - sent, &k) == DPU_STATUS_OK)
            sent += k;
        uint32_t posted = 0;
        if (dpu_sim_poll(sim, 0, &posted, NULL) != DPU_STATUS_OK) {
            fprintf(stderr, "host: dpu_sim_poll: %s\n", dpukit_last_error());
            return -1;
        }
        if (dpu_qp_poll(qp, out + got, n - got, &k) == DPU_STATUS_OK)
            got += k;
        if (rounds > 1000000) {
            fprintf(stderr, "host: device answered %u of %u descriptors\n", got, n);
            return -1;
        }
    }
    return 0;
}

static int bench(struct dpu_qp *qp, struct dpu_sim *sim, uint32_t region, long count) {
    enum { BATCH = 32 };
    struct dpu_desc d[BATCH];
    struct dpu_cpl c[BATCH];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long done = 0; done < count; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            d[i] = io_desc(DPU_OP_CRC32C, (uint64_t)(done + i), region, (uint64_t)i * 4096, 4096, 0, 0);
        if (run(qp, sim, d, BATCH, c))
            return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    long n = (count + BATCH - 1) / BATCH * BATCH;
    printf("host: %ld CRC32C descriptors of 4 KiB, batch %d: %.0f descriptors/s (measured on this machine, "
           "wall clock; device times are modelled: makespan %llu ns)\n",
           n, BATCH, (double)n / s, (unsigned long long)dpu_sim_makespan_ns(sim));
    return 0;
}

int main(int argc, char **argv) {
    const char *profile = argc > 1 ? argv[1] : "bluefield-3";
    printf("host: libdpukit %s, profile %s\n", dpukit_version(), profile);

    struct dpu_qp *qp = NULL;
    if (dpu_qp_create(64, 64, &qp) != DPU_STATUS_OK)
        return 1;
    uint8_t *buf = calloc(1, BUF_BYTES);
    uint32_t region = 0;
    if (!buf || dpu_qp_register_region(qp, buf, BUF_BYTES, &region) != DPU_STATUS_OK)
        return 1;

    /* A bad profile name is one clear message, and the queue pair stays usable. */
    struct dpu_sim *sim = NULL;
    if (dpu_sim_attach(qp, "no-such-dpu", &sim) == DPU_STATUS_OK) {
        fprintf(stderr, "host: a made-up profile was accepted\n");
        return 1;
    }
    printf("host: expected error: %s\n", dpukit_last_error());
    if (dpu_sim_attach(qp, profile, &sim) != DPU_STATUS_OK) {
        fprintf(stderr, "host: %s\n", dpukit_last_error());
        return 1;
    }

    int rc = 0;
    if (argc > 3 && !strcmp(argv[2], "bench")) {
        rc = bench(qp, sim, region, atol(argv[3]));
        goto out;
    }

    /* Compressible input: text-like runs. */
    for (uint32_t i = 0; i < CHUNK; i++)
        buf[OFF_SRC + i] = (uint8_t)("offload the data path "[i % 22] + (i / 4096) % 3);

    struct dpu_desc d[3];
    struct dpu_cpl c[3];
    d[0] = io_desc(DPU_OP_CRC32C, 1, region, OFF_SRC, CHUNK, 0, 0);
    d[1] = io_desc(DPU_OP_COMPRESS, 2, region, OFF_SRC, CHUNK, OFF_ZIP, 2 * CHUNK);
    d[1].algo = DPU_ALGO_ZSTD;
    d[1].level = 3;
    d[2] = io_desc(DPU_OP_COPY, 3, region, OFF_SRC, CHUNK, OFF_CPY, CHUNK);
    if (run(qp, sim, d, 3, c)) {
        rc = 1;
        goto out;
    }
    uint64_t zip_len = 0;
    for (int i = 0; i < 3; i++) {
        printf("host: tag %llu opcode %u status %u result %llu modelled_ns %llu (modelled)\n",
               (unsigned long long)c[i].tag, c[i].opcode, c[i].status, (unsigned long long)c[i].result,
               (unsigned long long)c[i].modelled_ns);
        if (c[i].status == DPU_STATUS_UNKNOWN_OPCODE && c[i].tag == 2) {
            /* This profile's device cannot run the op; a host runs it on its CPU. */
            printf("host: %s cannot compress zstd; a host would run it on its CPU\n", profile);
            continue;
        }
        if (c[i].status != DPU_STATUS_OK)
            rc = 1;
        if (c[i].tag == 1 && c[i].result != crc32c_sw(buf + OFF_SRC, CHUNK)) {
            fprintf(stderr, "host: CRC32C differs from the software CRC\n");
            rc = 1;
        }
        if (c[i].tag == 2)
            zip_len = c[i].result;
    }
    if (memcmp(buf + OFF_SRC, buf + OFF_CPY, CHUNK) != 0) {
        fprintf(stderr, "host: the copy differs\n");
        rc = 1;
    }
    if (rc == 0 && zip_len > 0) {
        d[0] = io_desc(DPU_OP_DECOMPRESS, 4, region, OFF_ZIP, (uint32_t)zip_len, OFF_OUT, CHUNK);
        d[0].algo = DPU_ALGO_ZSTD;
        if (run(qp, sim, d, 1, c) || c[0].status != DPU_STATUS_OK || c[0].result != CHUNK ||
            memcmp(buf + OFF_SRC, buf + OFF_OUT, CHUNK) != 0) {
            fprintf(stderr, "host: the decompressed chunk differs (status %u)\n", c[0].status);
            rc = 1;
        } else {
            printf("host: zstd %u -> %llu bytes and back, modelled_ns %llu (modelled)\n", CHUNK,
                   (unsigned long long)zip_len, (unsigned long long)c[0].modelled_ns);
        }
    }
    if (rc == 0)
        printf("host: ok\n");
out:
    dpu_sim_destroy(sim);
    dpu_qp_destroy(qp);
    free(buf);
    return rc;
}
