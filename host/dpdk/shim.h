/*
 * dpukit's shim over DPDK compressdev: a kit-shaped API of plain C types, so the Rust
 * side needs neither DPDK's headers nor its `static inline` functions (mbuf allocation
 * and chaining, burst enqueue/dequeue). Compiled against `pkg-config --cflags libdpdk`
 * by host/build.rs when the `dpdk` feature is on; host/src/dpdk/sys.rs is generated from
 * this header alone.
 *
 * Every function that can fail writes one line saying why into `err` (at most `errlen`
 * bytes, NUL-terminated) and returns a negative value.
 */
#ifndef DPUKIT_DPDK_SHIM_H
#define DPUKIT_DPDK_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a compressdev device says it can do (rte_compressdev_info_get and
 * rte_compressdev_capability_get). */
typedef struct dk_dev_info {
    char driver_name[64];
    char dev_name[64];
    /* The DPDK release the PMD was built with (rte_version()). */
    char dpdk_version[64];
    /* 0: no limit stated by the device. */
    uint16_t max_queue_pairs;
    /* RTE_COMP_FF_* of the device's DEFLATE capability (0 when it has none). */
    uint64_t deflate_flags;
    int has_deflate;
    uint16_t deflate_window_min;
    uint16_t deflate_window_max;
    /* Device feature flags (RTE_COMPDEV_FF_*). */
    uint64_t device_flags;
} dk_dev_info;

/* Feature bits the Rust side reads, copied from rte_comp.h so the bindings need no DPDK. */
#define DK_FF_OOP_SGL_IN_SGL_OUT (1ULL << 2)
#define DK_FF_ADLER32_CHECKSUM (1ULL << 5)
#define DK_FF_CRC32_CHECKSUM (1ULL << 6)
#define DK_FF_SHAREABLE_PRIV_XFORM (1ULL << 12)
#define DK_FF_HUFFMAN_DYNAMIC (1ULL << 14)

/* Checksums a job asks the PMD for. */
#define DK_CHKSUM_NONE 0
#define DK_CHKSUM_CRC32 1
#define DK_CHKSUM_ADLER32 2

/* How a job ended. */
#define DK_OK 0
/* The output did not fit in dst_cap bytes. */
#define DK_OUT_OF_SPACE 1
/* The PMD answered an error status (corrupt input for a decompression). */
#define DK_ERROR 2
/* The PMD refused the job's arguments. */
#define DK_INVALID_ARGS 3
/* The job never came back within the burst's time limit. */
#define DK_TIMEOUT 4
/* No mbuf or op could be allocated for it. */
#define DK_NO_RESOURCES 5

/* One stateless operation on raw DEFLATE data. */
typedef struct dk_job {
    const uint8_t *src;
    uint32_t src_len;
    uint8_t *dst;
    uint32_t dst_cap;
    /* 1: compress, 0: decompress. */
    int compress;
    /* Compression level (1..9); ignored for decompression. */
    int level;
    /* DK_CHKSUM_*: computed over the uncompressed bytes. */
    int chksum;
    /* Out: DK_OK or why not; the PMD's raw status; bytes consumed and produced; the
     * checksum. */
    int status;
    int pmd_status;
    uint32_t consumed;
    uint32_t produced;
    uint64_t checksum;
} dk_job;

typedef struct dk_qp dk_qp;

/* Starts EAL with `argv` (argv[0] is the program name). Once per process. */
int dk_eal_init(int argc, char **argv, char *err, size_t errlen);
/* Stops every started device and cleans EAL up (rte_eal_cleanup). */
void dk_eal_cleanup(void);
/* The id of the first compressdev whose driver or device name is `pmd`, or whose device
 * name starts with it; negative (and why) when none. */
int dk_dev_find(const char *pmd, char *err, size_t errlen);
/* How many compressdev devices EAL found. */
int dk_dev_count(void);
int dk_dev_info_get(int dev_id, dk_dev_info *out, char *err, size_t errlen);
/* Configures `nb_qps` queue pairs of `max_inflight` ops each and starts the device. */
int dk_dev_start(int dev_id, uint16_t nb_qps, uint32_t max_inflight, char *err, size_t errlen);
/* Stops and closes a started device. */
void dk_dev_stop(int dev_id);

/* Opens queue pair `qp_id` of a started device for bursts of up to `burst` jobs, each at
 * most `max_bytes` in and out, in mbuf segments of `seg_bytes` (chained when larger). */
dk_qp *dk_qp_open(int dev_id, uint16_t qp_id, uint16_t burst, uint32_t max_bytes, uint32_t seg_bytes,
                  char *err, size_t errlen);
/* Frees a queue pair's pools and transforms (after every job came back). */
void dk_qp_close(dk_qp *qp);
/* Runs `n` (at most the burst) jobs: copies each source into mbufs, enqueues them all,
 * dequeues until all came back or `timeout_ns` passed, copies each output out. Returns
 * the jobs that came back; a job that did not is DK_TIMEOUT and the queue pair is then
 * unusable (its ops may still be running). */
int dk_qp_run(dk_qp *qp, dk_job *jobs, uint16_t n, uint64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
