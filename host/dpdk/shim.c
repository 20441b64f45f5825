/*
 * dpukit's shim over DPDK compressdev (see shim.h). Stateless DEFLATE only: jobs are
 * copied into mbufs from a pool of this queue pair (memory a real device can DMA),
 * chained in segments when larger than one, and copied back out when done.
 */
#define _GNU_SOURCE
/* compressdev is still marked experimental in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <rte_comp.h>
#include <rte_compressdev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#define DK_MAX_DEVS 64
#define DK_MAX_BURST 256
/* Transforms cached per queue pair: compression at levels 0..9 and decompression, each
 * with each of the three checksums. */
#define DK_XFORMS (11 * 3)

static void remove_runtime_dir(const char *dir);

static int started[DK_MAX_DEVS];
static int eal_up;

static void say(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int dk_eal_init(int argc, char **argv, char *err, size_t errlen) {
    /* EAL pins the calling thread to its main lcore; the kit's threads are spawned from
     * it later and must keep the process's whole CPU mask. */
    cpu_set_t before;
    int have_mask = pthread_getaffinity_np(pthread_self(), sizeof(before), &before) == 0;
    /* DPDK logs to stdout, and EAL prints its usage there on a bad argument: both go to
     * stderr, so the kit's own output on stdout (a result as JSON) stays whole. */
    rte_openlog_stream(stderr);
    fflush(stdout);
    int saved_stdout = dup(STDOUT_FILENO);
    if (saved_stdout >= 0)
        dup2(STDERR_FILENO, STDOUT_FILENO);
    int rc = rte_eal_init(argc, argv);
    fflush(stdout);
    if (saved_stdout >= 0) {
        dup2(saved_stdout, STDOUT_FILENO);
        close(saved_stdout);
    }
    if (rc < 0) {
        say(err, errlen, "DPDK EAL did not start (%s)", rte_strerror(rte_errno));
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
        remove_runtime_dir(dir);
        return -1;
    }
    if (have_mask)
        pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
    eal_up = 1;
    return 0;
}

/* EAL's runtime directory (/var/run/dpdk/PREFIX), removed when EAL ends if it is empty
 * (with --no-shconf or --in-memory nothing is left in it); never a non-empty one, which
 * another DPDK process with the same prefix may use. */
static void remove_runtime_dir(const char *dir) {
    if (dir[0] != '\0')
        rmdir(dir);
}

void dk_eal_cleanup(void) {
    if (!eal_up)
        return;
    for (int i = 0; i < DK_MAX_DEVS; i++)
        if (started[i]) {
            rte_compressdev_stop((uint8_t)i);
            started[i] = 0;
        }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
    rte_eal_cleanup();
    remove_runtime_dir(dir);
    eal_up = 0;
}

int dk_dev_count(void) { return rte_compressdev_count(); }

static int name_matches(const char *pmd, const char *driver, const char *dev) {
    size_t n = strlen(pmd);
    if (n == 0)
        return 0;
    if (driver != NULL && strcmp(driver, pmd) == 0)
        return 1;
    if (dev != NULL && strncmp(dev, pmd, n) == 0)
        return 1;
    /* "compress_mlx5" names the driver "mlx5_compress": the same two words. */
    if (driver != NULL && strchr(pmd, '_') != NULL) {
        const char *u = strchr(pmd, '_');
        size_t a = (size_t)(u - pmd), b = strlen(u + 1);
        if (strlen(driver) == n && strncmp(driver, u + 1, b) == 0 && driver[b] == '_' &&
            strncmp(driver + b + 1, pmd, a) == 0)
            return 1;
    }
    return 0;
}

int dk_dev_find(const char *pmd, char *err, size_t errlen) {
    uint8_t count = rte_compressdev_count();
    for (uint8_t id = 0; id < count; id++) {
        struct rte_compressdev_info info;
        memset(&info, 0, sizeof(info));
        rte_compressdev_info_get(id, &info);
        if (name_matches(pmd, info.driver_name, rte_compressdev_name_get(id)))
            return id;
    }
    say(err, errlen, "no compressdev device `%s` (EAL found %u compress device%s)", pmd, count,
        count == 1 ? "" : "s");
    return -1;
}

int dk_dev_info_get(int dev_id, dk_dev_info *out, char *err, size_t errlen) {
    if (dev_id < 0 || dev_id >= rte_compressdev_count()) {
        say(err, errlen, "no compressdev device with id %d (EAL found %u)", dev_id, rte_compressdev_count());
        return -1;
    }
    struct rte_compressdev_info info;
    memset(&info, 0, sizeof(info));
    rte_compressdev_info_get((uint8_t)dev_id, &info);
    memset(out, 0, sizeof(*out));
    snprintf(out->driver_name, sizeof(out->driver_name), "%s", info.driver_name ? info.driver_name : "?");
    const char *name = rte_compressdev_name_get((uint8_t)dev_id);
    snprintf(out->dev_name, sizeof(out->dev_name), "%s", name ? name : "?");
    snprintf(out->dpdk_version, sizeof(out->dpdk_version), "%s", rte_version());
    out->max_queue_pairs = info.max_nb_queue_pairs;
    out->device_flags = info.feature_flags;
    const struct rte_compressdev_capabilities *cap =
        rte_compressdev_capability_get((uint8_t)dev_id, RTE_COMP_ALGO_DEFLATE);
    if (cap != NULL) {
        out->has_deflate = 1;
        out->deflate_flags = cap->comp_feature_flags;
        out->deflate_window_min = cap->window_size.min;
        out->deflate_window_max = cap->window_size.max;
    }
    return 0;
}

int dk_dev_start(int dev_id, uint16_t nb_qps, uint32_t max_inflight, char *err, size_t errlen) {
    if (dev_id < 0 || dev_id >= DK_MAX_DEVS) {
        say(err, errlen, "compressdev id %d out of range", dev_id);
        return -1;
    }
    int socket = rte_compressdev_socket_id((uint8_t)dev_id);
    if (socket < 0)
        socket = SOCKET_ID_ANY;
    struct rte_compressdev_config cfg = {
        .socket_id = socket,
        .nb_queue_pairs = nb_qps,
        .max_nb_priv_xforms = (uint16_t)(nb_qps * DK_XFORMS),
        .max_nb_streams = 0,
    };
    int rc = rte_compressdev_configure((uint8_t)dev_id, &cfg);
    if (rc < 0) {
        say(err, errlen, "cannot configure compressdev %d with %u queue pairs (%s)", dev_id, nb_qps,
            rte_strerror(-rc));
        return -1;
    }
    for (uint16_t q = 0; q < nb_qps; q++) {
        rc = rte_compressdev_queue_pair_setup((uint8_t)dev_id, q, max_inflight, socket);
        if (rc < 0) {
            say(err, errlen, "cannot set up queue pair %u of compressdev %d (%s)", q, dev_id, rte_strerror(-rc));
            rte_compressdev_close((uint8_t)dev_id);
            return -1;
        }
    }
    rc = rte_compressdev_start((uint8_t)dev_id);
    if (rc < 0) {
        say(err, errlen, "cannot start compressdev %d (%s)", dev_id, rte_strerror(-rc));
        rte_compressdev_close((uint8_t)dev_id);
        return -1;
    }
    started[dev_id] = 1;
    return 0;
}

void dk_dev_stop(int dev_id) {
    if (dev_id < 0 || dev_id >= DK_MAX_DEVS || !started[dev_id])
        return;
    rte_compressdev_stop((uint8_t)dev_id);
    rte_compressdev_close((uint8_t)dev_id);
    started[dev_id] = 0;
}

struct dk_qp {
    uint8_t dev_id;
    uint16_t qp_id;
    uint16_t burst;
    uint32_t seg_bytes;
    int sgl;
    int broken;
    struct rte_mempool *op_pool;
    struct rte_mempool *mbuf_pool;
    void *xforms[DK_XFORMS];
    struct rte_comp_op *ops[DK_MAX_BURST];
};

dk_qp *dk_qp_open(int dev_id, uint16_t qp_id, uint16_t burst, uint32_t max_bytes, uint32_t seg_bytes, char *err,
                  size_t errlen) {
    static unsigned serial;
    if (burst == 0 || burst > DK_MAX_BURST) {
        say(err, errlen, "burst %u out of range 1..%d", burst, DK_MAX_BURST);
        return NULL;
    }
    if (seg_bytes == 0 || seg_bytes + RTE_PKTMBUF_HEADROOM > UINT16_MAX) {
        say(err, errlen, "mbuf segment of %u bytes out of range", seg_bytes);
        return NULL;
    }
    dk_qp *qp = calloc(1, sizeof(*qp));
    if (qp == NULL) {
        say(err, errlen, "out of memory");
        return NULL;
    }
    qp->dev_id = (uint8_t)dev_id;
    qp->qp_id = qp_id;
    qp->burst = burst;
    qp->seg_bytes = seg_bytes;
    const struct rte_compressdev_capabilities *cap =
        rte_compressdev_capability_get((uint8_t)dev_id, RTE_COMP_ALGO_DEFLATE);
    qp->sgl = cap != NULL && (cap->comp_feature_flags & RTE_COMP_FF_OOP_SGL_IN_SGL_OUT) != 0;
    int socket = rte_compressdev_socket_id((uint8_t)dev_id);
    if (socket < 0)
        socket = SOCKET_ID_ANY;
    unsigned id = __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED);
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof(name), "dk_op_%u", id);
    qp->op_pool = rte_comp_op_pool_create(name, (unsigned)burst * 2 + 8, 0, 0, socket);
    if (qp->op_pool == NULL) {
        say(err, errlen, "cannot create the op pool (%s)", rte_strerror(rte_errno));
        free(qp);
        return NULL;
    }
    uint32_t segs = (max_bytes + seg_bytes - 1) / seg_bytes;
    if (segs == 0)
        segs = 1;
    unsigned nb_mbufs = (unsigned)burst * 2 * segs + 8;
    snprintf(name, sizeof(name), "dk_mbuf_%u", id);
    qp->mbuf_pool =
        rte_pktmbuf_pool_create(name, nb_mbufs, 0, 0, (uint16_t)(seg_bytes + RTE_PKTMBUF_HEADROOM), socket);
    if (qp->mbuf_pool == NULL) {
        say(err, errlen, "cannot create a pool of %u mbufs of %u bytes (%s): give EAL more memory (-m)", nb_mbufs,
            seg_bytes, rte_strerror(rte_errno));
        rte_mempool_free(qp->op_pool);
        free(qp);
        return NULL;
    }
    return qp;
}

void dk_qp_close(dk_qp *qp) {
    if (qp == NULL)
        return;
    for (int i = 0; i < DK_XFORMS; i++)
        if (qp->xforms[i] != NULL)
            rte_compressdev_private_xform_free(qp->dev_id, qp->xforms[i]);
    /* A queue pair whose ops never came back may still have them in the device: its
     * pools are left allocated rather than freed under it. */
    if (!qp->broken) {
        rte_mempool_free(qp->mbuf_pool);
        rte_mempool_free(qp->op_pool);
    }
    free(qp);
}

static void *xform_for(dk_qp *qp, const dk_job *j) {
    int lvl = j->compress ? (j->level < 0 ? 0 : (j->level > 9 ? 9 : j->level)) : 10;
    int ck = j->chksum < 0 || j->chksum > 2 ? 0 : j->chksum;
    int i = lvl * 3 + ck;
    if (qp->xforms[i] != NULL)
        return qp->xforms[i];
    enum rte_comp_checksum_type c = ck == DK_CHKSUM_CRC32     ? RTE_COMP_CHECKSUM_CRC32
                                    : ck == DK_CHKSUM_ADLER32 ? RTE_COMP_CHECKSUM_ADLER32
                                                              : RTE_COMP_CHECKSUM_NONE;
    struct rte_comp_xform x;
    memset(&x, 0, sizeof(x));
    if (j->compress) {
        x.type = RTE_COMP_COMPRESS;
        x.compress.algo = RTE_COMP_ALGO_DEFLATE;
        x.compress.deflate.huffman = RTE_COMP_HUFFMAN_DEFAULT;
        x.compress.level = lvl;
        x.compress.chksum = c;
        x.compress.window_size = 15;
        x.compress.hash_algo = RTE_COMP_HASH_ALGO_NONE;
    } else {
        x.type = RTE_COMP_DECOMPRESS;
        x.decompress.algo = RTE_COMP_ALGO_DEFLATE;
        x.decompress.chksum = c;
        x.decompress.window_size = 15;
        x.decompress.hash_algo = RTE_COMP_HASH_ALGO_NONE;
    }
    void *p = NULL;
    if (rte_compressdev_private_xform_create(qp->dev_id, &x, &p) < 0)
        return NULL;
    qp->xforms[i] = p;
    return p;
}

/* A chain of segments holding `len` bytes (copied from `src` when not NULL). */
static struct rte_mbuf *chain(dk_qp *qp, const uint8_t *src, uint32_t len) {
    struct rte_mbuf *head = NULL;
    uint32_t done = 0;
    do {
        uint32_t n = len - done < qp->seg_bytes ? len - done : qp->seg_bytes;
        struct rte_mbuf *m = rte_pktmbuf_alloc(qp->mbuf_pool);
        if (m == NULL)
            goto fail;
        char *p = rte_pktmbuf_append(m, (uint16_t)n);
        if (p == NULL && n > 0) {
            rte_pktmbuf_free(m);
            goto fail;
        }
        if (src != NULL && n > 0)
            memcpy(p, src + done, n);
        if (head == NULL)
            head = m;
        else if (rte_pktmbuf_chain(head, m) != 0) {
            rte_pktmbuf_free(m);
            goto fail;
        }
        done += n;
    } while (done < len);
    return head;
fail:
    rte_pktmbuf_free(head);
    return NULL;
}

static void copy_out(const struct rte_mbuf *m, uint8_t *dst, uint32_t len) {
    uint32_t done = 0;
    for (; m != NULL && done < len; m = m->next) {
        uint32_t n = m->data_len < len - done ? m->data_len : len - done;
        memcpy(dst + done, rte_pktmbuf_mtod(m, const uint8_t *), n);
        done += n;
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int status_of(enum rte_comp_op_status s) {
    switch (s) {
    case RTE_COMP_OP_STATUS_SUCCESS:
        return DK_OK;
    case RTE_COMP_OP_STATUS_OUT_OF_SPACE_TERMINATED:
    case RTE_COMP_OP_STATUS_OUT_OF_SPACE_RECOVERABLE:
        return DK_OUT_OF_SPACE;
    case RTE_COMP_OP_STATUS_INVALID_ARGS:
        return DK_INVALID_ARGS;
    default:
        return DK_ERROR;
    }
}

int dk_qp_run(dk_qp *qp, dk_job *jobs, uint16_t n, uint64_t timeout_ns) {
    if (n > qp->burst)
        n = qp->burst;
    struct rte_comp_op **ops = qp->ops;
    uint16_t ready = 0;
    int idx[DK_MAX_BURST];
    for (uint16_t i = 0; i < n; i++) {
        dk_job *j = &jobs[i];
        j->status = DK_NO_RESOURCES;
        j->pmd_status = -1;
        j->consumed = j->produced = 0;
        j->checksum = 0;
        if (qp->broken) {
            j->status = DK_TIMEOUT;
            continue;
        }
        if (!qp->sgl && (j->src_len > qp->seg_bytes || j->dst_cap > qp->seg_bytes)) {
            j->status = DK_INVALID_ARGS;
            continue;
        }
        void *xf = xform_for(qp, j);
        if (xf == NULL) {
            j->status = DK_INVALID_ARGS;
            continue;
        }
        struct rte_comp_op *op = rte_comp_op_alloc(qp->op_pool);
        if (op == NULL)
            continue;
        op->m_src = chain(qp, j->src, j->src_len);
        op->m_dst = op->m_src ? chain(qp, NULL, j->dst_cap) : NULL;
        if (op->m_src == NULL || op->m_dst == NULL) {
            rte_pktmbuf_free(op->m_src);
            rte_comp_op_free(op);
            continue;
        }
        op->op_type = RTE_COMP_OP_STATELESS;
        op->private_xform = xf;
        op->src.offset = 0;
        op->src.length = j->src_len;
        op->dst.offset = 0;
        op->flush_flag = RTE_COMP_FLUSH_FINAL;
        op->input_chksum = 0;
        ops[ready] = op;
        idx[ready] = i;
        ready++;
    }
    uint16_t enq = 0, back = 0;
    struct rte_comp_op *out[DK_MAX_BURST];
    uint64_t deadline = now_ns() + timeout_ns;
    while (back < ready) {
        if (enq < ready)
            enq += rte_compressdev_enqueue_burst(qp->dev_id, qp->qp_id, ops + enq, ready - enq);
        uint16_t got = rte_compressdev_dequeue_burst(qp->dev_id, qp->qp_id, out, DK_MAX_BURST);
        for (uint16_t k = 0; k < got; k++) {
            struct rte_comp_op *op = out[k];
            int at = -1;
            for (uint16_t r = 0; r < ready; r++)
                if (ops[r] == op) {
                    at = idx[r];
                    break;
                }
            if (at >= 0) {
                dk_job *j = &jobs[at];
                j->pmd_status = op->status;
                j->status = status_of(op->status);
                j->consumed = op->consumed;
                j->produced = op->produced;
                j->checksum = op->output_chksum;
                if (j->status == DK_OK) {
                    if (j->produced > j->dst_cap)
                        j->status = DK_ERROR;
                    else
                        copy_out(op->m_dst, j->dst, j->produced);
                }
            }
            rte_pktmbuf_free(op->m_src);
            rte_pktmbuf_free(op->m_dst);
            rte_comp_op_free(op);
        }
        back += got;
        if (back < ready && now_ns() > deadline) {
            qp->broken = 1;
            for (uint16_t r = 0; r < ready; r++)
                if (jobs[idx[r]].pmd_status == -1)
                    jobs[idx[r]].status = DK_TIMEOUT;
            break;
        }
    }
    return back;
}
