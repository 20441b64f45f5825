/*
 * dpu_offload.h - the dpukit offload ABI.
 *
 * This header is the source of truth for everything that crosses the host <-> DPU
 * boundary: descriptors, completion records, buffer references, status codes, the
 * shared-memory ring layout and the kernel-plugin interface. The Rust bindings in
 * ffi/src/bindings.rs are generated from it (see ffi/README.md); never edit them by hand.
 *
 * Conventions
 * - All multi-byte fields are little-endian, naturally aligned, with explicit padding.
 * - Reserved fields and reserved flag bits must be zero; the device rejects them.
 * - The device never dereferences a host pointer taken from a descriptor: buffers are
 *   named by (registered region id, offset, length) and resolved against a region table.
 * - Ring indices are free-running 64-bit counters; slot = index & (capacity - 1).
 */
#ifndef DPU_OFFLOAD_H
#define DPU_OFFLOAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DPU_ABI_VERSION_MAJOR 1
#define DPU_ABI_VERSION_MINOR 0

#define DPU_CACHE_LINE_BYTES 64
#define DPU_DESC_BYTES 64
#define DPU_CPL_BYTES 32
#define DPU_CACHE_KEY_BYTES 16
#define DPU_CACHE_VALUE_BYTES 16

/* Ring capacity bounds (entries, powers of two). */
#define DPU_RING_MIN_ENTRIES 2u
#define DPU_RING_MAX_ENTRIES 65536u

/* "DPUR" in little-endian: marks an initialised ring control block. */
#define DPU_RING_MAGIC 0x52555044u

/* ------------------------------------------------------------------------------------
 * Opcodes
 * ---------------------------------------------------------------------------------- */
enum dpu_opcode {
    DPU_OP_NOP = 0x00,          /* no work; completes with status OK (ordering, probes) */
    DPU_OP_CRC32C = 0x01,       /* result = CRC32C(src) starting from the seed */
    DPU_OP_COPY = 0x02,         /* dst[0..src.len) = src; result = bytes copied */
    DPU_OP_COPY_CRC32C = 0x03,  /* copy, and result = CRC32C(src) from the seed */
    DPU_OP_COMPRESS = 0x04,     /* dst = compress(algo, level, src); result = dst bytes */
    DPU_OP_DECOMPRESS = 0x05,   /* dst = decompress(algo, src); result = dst bytes */
    DPU_OP_CACHE_LOOKUP = 0x06, /* cache.lookup(key) -> 16-byte value written to dst */
    DPU_OP_CACHE_INSERT = 0x07, /* cache.insert(key, value); result = 1 if replaced */
    DPU_OP_CACHE_DELETE = 0x08, /* cache.delete(key) */
    /* 0x09..0x7f reserved for future built-in opcodes. */
    DPU_OP_USER_FIRST = 0x80, /* 0x80..0xfe: bound to kernel plugins at run time */
    DPU_OP_USER_LAST = 0xfe,
    /* 0xff is never valid. */
};

/* ------------------------------------------------------------------------------------
 * Descriptor flags (dpu_desc.flags). All other bits are reserved and must be zero.
 * ---------------------------------------------------------------------------------- */
enum dpu_desc_flag {
    /* Do not start until every earlier descriptor of this queue has completed. */
    DPU_DESC_F_FENCE = 1u << 0,
    /* CRC ops: take the CRC seed from the result of the previous descriptor of this
     * queue (which must be a CRC op) instead of dpu_desc.seed, so that one CRC spans
     * several descriptors. Implies FENCE. */
    DPU_DESC_F_CRC_SEED_PREV = 1u << 1,
    /* Write a completion record on success. Errors always write one. */
    DPU_DESC_F_COMPLETION = 1u << 2,
};
#define DPU_DESC_F_ALL (DPU_DESC_F_FENCE | DPU_DESC_F_CRC_SEED_PREV | DPU_DESC_F_COMPLETION)

/* ------------------------------------------------------------------------------------
 * Compression algorithms (dpu_desc.algo). Outputs are the standard stream formats.
 * ---------------------------------------------------------------------------------- */
enum dpu_algo {
    DPU_ALGO_NONE = 0,
    DPU_ALGO_LZ4 = 1,  /* LZ4 frame format; level ignored (0) */
    DPU_ALGO_ZSTD = 2, /* zstd frame; level 1..19 */
    DPU_ALGO_GZIP = 3, /* deflate, gzip framing (RFC 1952); level 1..9 */
    DPU_ALGO_ZLIB = 4, /* deflate, zlib framing (RFC 1950); level 1..9 */
};

/* ------------------------------------------------------------------------------------
 * Status codes (dpu_cpl.status).
 * ---------------------------------------------------------------------------------- */
enum dpu_status {
    DPU_STATUS_OK = 0,
    DPU_STATUS_UNKNOWN_OPCODE = 1,     /* opcode not built in and no plugin bound */
    DPU_STATUS_BAD_FLAGS = 2,          /* reserved flag bit set, or flags invalid for op */
    DPU_STATUS_UNKNOWN_REGION = 3,     /* buffer names a region id not registered */
    DPU_STATUS_OUT_OF_RANGE = 4,       /* offset + length runs past the region's end */
    DPU_STATUS_DST_TOO_SMALL = 5,      /* output does not fit the destination buffer */
    DPU_STATUS_CORRUPT_INPUT = 6,      /* malformed compressed stream or record */
    DPU_STATUS_NOT_FOUND = 7,          /* cache key absent */
    DPU_STATUS_QUEUE_FULL = 8,         /* ring full: retry later (host-side status) */
    DPU_STATUS_DEVICE_UNAVAILABLE = 9, /* device stalled, stopped or timed out */
    DPU_STATUS_BAD_ALGORITHM = 10,     /* unknown algorithm or level out of range */
    DPU_STATUS_BAD_LENGTH = 11,        /* length invalid for the op */
    DPU_STATUS_RESERVED_NONZERO = 12,  /* a reserved field is not zero */
    DPU_STATUS_CHAIN_ABORTED = 13,     /* CRC_SEED_PREV after a failed predecessor */
    DPU_STATUS_NO_SPACE = 14,          /* device resource exhausted (e.g. cache pinned) */
    DPU_STATUS_KERNEL_ERROR = 15,      /* a plugin kernel reported failure */
    DPU_STATUS_INVALID_ARGUMENT = 16,  /* host API: null pointer or invalid argument */
};

/* ------------------------------------------------------------------------------------
 * Buffers and descriptors
 * ---------------------------------------------------------------------------------- */

/* A buffer inside a registered memory region. */
struct dpu_buf_ref {
    uint32_t region; /* region id returned by registration */
    uint32_t len;    /* bytes */
    uint64_t offset; /* bytes from the region's start */
};

/* The 16-byte cache value: where a chunk lives and how to verify it.
 * loc = offset (bits 0..47) | tier (bits 48..55) | flags (bits 56..63). */
struct dpu_cache_value {
    uint64_t loc;
    uint32_t len;
    uint32_t crc32c;
};

/* Operand block for data ops (CRC32C, COPY, COPY_CRC32C, COMPRESS, DECOMPRESS, user). */
struct dpu_desc_io {
    struct dpu_buf_ref src;
    struct dpu_buf_ref dst; /* unused (zero) for CRC32C */
};

/* Operand block for cache ops. */
struct dpu_desc_cache {
    uint8_t key[DPU_CACHE_KEY_BYTES];
    union {
        struct dpu_cache_value value; /* CACHE_INSERT */
        struct dpu_buf_ref dst;       /* CACHE_LOOKUP: receives the 16-byte value */
    } u;
};

/* A submission descriptor: 64 bytes, one cache line. */
struct dpu_desc {
    uint8_t opcode;    /* enum dpu_opcode */
    uint8_t algo;      /* enum dpu_algo (COMPRESS/DECOMPRESS), else 0 */
    uint8_t level;     /* compression level (COMPRESS), else 0 */
    uint8_t reserved0; /* must be 0 */
    uint32_t flags;    /* enum dpu_desc_flag bits */
    uint64_t tag;      /* caller's tag, returned unchanged in the completion */
    union {
        struct dpu_desc_io io;
        struct dpu_desc_cache cache;
    } op;
    uint64_t seed; /* CRC ops: initial CRC32C value (0 for a fresh CRC); user: arg0 */
    uint64_t aux;  /* user kernels: arg1; built-in ops: must be 0 */
} __attribute__((aligned(DPU_CACHE_LINE_BYTES)));

/* A completion record: 32 bytes. */
struct dpu_cpl {
    uint64_t tag;          /* from the descriptor */
    uint64_t result;       /* CRC value, output length, 1/0 for insert-replaced, ... */
    uint32_t bytes;        /* source bytes processed */
    uint16_t status;       /* enum dpu_status */
    uint8_t opcode;        /* echo of the descriptor's opcode */
    uint8_t reserved0;     /* 0 */
    uint64_t modelled_ns;  /* modelled device time from doorbell to completion, ns */
} __attribute__((aligned(32)));

/* ------------------------------------------------------------------------------------
 * Rings
 *
 * A queue pair is two single-producer/single-consumer rings: the submission ring
 * (host produces dpu_desc, device consumes) and the completion ring (device produces
 * dpu_cpl, host consumes). Each ring is one control block followed by `capacity`
 * entries of `entry_bytes`, in memory both sides map.
 *
 * Protocol (free-running u64 indices, wrapping arithmetic):
 *   producer: if producer - consumer(acquire) < capacity: write entry at
 *             slot(producer); store producer + 1 (release). After a batch, store the
 *             producer index to the doorbell (release): the consumer only acts on
 *             entries below the last doorbell value.
 *   consumer: read doorbell (acquire); for consumer < doorbell: read entry at
 *             slot(consumer); after the batch store consumer + n (release).
 * producer, consumer and doorbell each live on their own cache line so the two sides
 * never write the same line.
 * ---------------------------------------------------------------------------------- */
struct dpu_ring_line_u64 {
    uint64_t value;
    uint8_t pad[DPU_CACHE_LINE_BYTES - 8];
};

struct dpu_ring_ctrl {
    struct dpu_ring_line_u64 producer; /* written by the producer only */
    struct dpu_ring_line_u64 consumer; /* written by the consumer only */
    struct dpu_ring_line_u64 doorbell; /* written by the producer only */
    /* read-only after initialisation */
    uint32_t magic;        /* DPU_RING_MAGIC */
    uint16_t abi_major;    /* DPU_ABI_VERSION_MAJOR */
    uint16_t abi_minor;    /* DPU_ABI_VERSION_MINOR */
    uint32_t capacity;     /* entries, power of two in [MIN, MAX] */
    uint32_t entry_bytes;  /* DPU_DESC_BYTES or DPU_CPL_BYTES */
    uint8_t pad[DPU_CACHE_LINE_BYTES - 16];
} __attribute__((aligned(DPU_CACHE_LINE_BYTES)));

/* Ring helpers for C producers and consumers (the Rust side implements the same
 * protocol in ffi/src/ring.rs). Entries follow the control block directly. */
static inline void *dpu_ring_slot(struct dpu_ring_ctrl *r, uint64_t index) {
    return (uint8_t *)(r + 1) + (uint64_t)(index & (uint64_t)(r->capacity - 1u)) * r->entry_bytes;
}

/* Copies up to n entries in; returns how many fit. Does not ring the doorbell. */
static inline uint32_t dpu_ring_produce(struct dpu_ring_ctrl *r, const void *items, uint32_t n) {
    uint64_t prod = __atomic_load_n(&r->producer.value, __ATOMIC_RELAXED);
    uint64_t cons = __atomic_load_n(&r->consumer.value, __ATOMIC_ACQUIRE);
    uint64_t space = (uint64_t)r->capacity - (prod - cons);
    if ((uint64_t)n > space)
        n = (uint32_t)space;
    for (uint32_t i = 0; i < n; i++)
        __builtin_memcpy(dpu_ring_slot(r, prod + i), (const uint8_t *)items + (uint64_t)i * r->entry_bytes,
                         r->entry_bytes);
    __atomic_store_n(&r->producer.value, prod + n, __ATOMIC_RELEASE);
    return n;
}

/* Makes every produced entry visible to the consumer. */
static inline void dpu_ring_doorbell(struct dpu_ring_ctrl *r) {
    __atomic_store_n(&r->doorbell.value, __atomic_load_n(&r->producer.value, __ATOMIC_RELAXED),
                     __ATOMIC_RELEASE);
}

/* Copies up to max doorbelled entries out; returns how many. */
static inline uint32_t dpu_ring_consume(struct dpu_ring_ctrl *r, void *out, uint32_t max) {
    uint64_t cons = __atomic_load_n(&r->consumer.value, __ATOMIC_RELAXED);
    uint64_t avail = __atomic_load_n(&r->doorbell.value, __ATOMIC_ACQUIRE) - cons;
    uint32_t n = (uint64_t)max < avail ? max : (uint32_t)avail;
    for (uint32_t i = 0; i < n; i++)
        __builtin_memcpy((uint8_t *)out + (uint64_t)i * r->entry_bytes, dpu_ring_slot(r, cons + i),
                         r->entry_bytes);
    __atomic_store_n(&r->consumer.value, cons + n, __ATOMIC_RELEASE);
    return n;
}

/* ------------------------------------------------------------------------------------
 * Kernel plugins
 *
 * A plugin implements one user opcode on the device side. The device has already
 * resolved and bounds-checked the descriptor's buffers; the kernel sees plain
 * pointers to device-visible memory and must stay within src_len / dst_cap.
 * ---------------------------------------------------------------------------------- */
struct dpu_kernel_io {
    const uint8_t *src;
    uint64_t src_len;
    uint8_t *dst; /* NULL when the descriptor names no destination */
    uint64_t dst_cap;
    uint64_t seed; /* dpu_desc.seed */
    uint64_t aux;  /* dpu_desc.aux */
    uint8_t opcode;
    uint8_t algo;
    uint8_t level;
    uint8_t reserved0;
    uint32_t flags;
};

struct dpu_kernel_out {
    uint64_t result;  /* copied to dpu_cpl.result */
    uint64_t dst_len; /* bytes written to dst, <= dst_cap */
};

/* Returns a dpu_status value; anything but DPU_STATUS_OK fails the descriptor. */
typedef uint16_t (*dpu_kernel_fn)(void *ctx, const struct dpu_kernel_io *io,
                                  struct dpu_kernel_out *out);

/* What a plugin shared object exports, by default under the symbol name
 * DPU_KERNEL_PLUGIN_SYMBOL: a function returning a static descriptor. */
struct dpu_kernel_plugin {
    uint32_t abi_major; /* DPU_ABI_VERSION_MAJOR the plugin was built against */
    uint32_t abi_minor;
    const char *name; /* NUL-terminated, for reports */
    dpu_kernel_fn run;
    void *ctx; /* passed to run unchanged */
};

typedef const struct dpu_kernel_plugin *(*dpu_kernel_plugin_entry_fn)(void);
#define DPU_KERNEL_PLUGIN_SYMBOL "dpu_kernel_plugin_v1"

/* ------------------------------------------------------------------------------------
 * Layout checks
 * ---------------------------------------------------------------------------------- */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define DPU_STATIC_ASSERT(c, m) _Static_assert(c, m)
#elif defined(__cplusplus)
#define DPU_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define DPU_STATIC_ASSERT(c, m)
#endif

DPU_STATIC_ASSERT(sizeof(struct dpu_buf_ref) == 16, "dpu_buf_ref size");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_buf_ref, region) == 0, "region");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_buf_ref, len) == 4, "len");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_buf_ref, offset) == 8, "offset");
DPU_STATIC_ASSERT(sizeof(struct dpu_cache_value) == DPU_CACHE_VALUE_BYTES, "value size");
DPU_STATIC_ASSERT(sizeof(struct dpu_desc_io) == 32, "dpu_desc_io size");
DPU_STATIC_ASSERT(sizeof(struct dpu_desc_cache) == 32, "dpu_desc_cache size");
DPU_STATIC_ASSERT(sizeof(struct dpu_desc) == DPU_DESC_BYTES, "dpu_desc size");
DPU_STATIC_ASSERT(__alignof__(struct dpu_desc) == DPU_CACHE_LINE_BYTES, "dpu_desc align");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, opcode) == 0, "opcode");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, algo) == 1, "algo");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, level) == 2, "level");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, flags) == 4, "flags");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, tag) == 8, "tag");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, op) == 16, "op");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, seed) == 48, "seed");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_desc, aux) == 56, "aux");
DPU_STATIC_ASSERT(sizeof(struct dpu_cpl) == DPU_CPL_BYTES, "dpu_cpl size");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_cpl, tag) == 0, "cpl tag");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_cpl, result) == 8, "cpl result");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_cpl, bytes) == 16, "cpl bytes");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_cpl, status) == 20, "cpl status");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_cpl, opcode) == 22, "cpl opcode");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_cpl, modelled_ns) == 24, "cpl time");
DPU_STATIC_ASSERT(sizeof(struct dpu_ring_ctrl) == 4 * DPU_CACHE_LINE_BYTES, "ring ctrl");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_ring_ctrl, consumer) == 64, "consumer");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_ring_ctrl, doorbell) == 128, "doorbell");
DPU_STATIC_ASSERT(__builtin_offsetof(struct dpu_ring_ctrl, magic) == 192, "magic");

/* ------------------------------------------------------------------------------------
 * The C API (exported by libdpukit, and by libdpukit_ffi.a without the simulator)
 *
 * A queue pair owns its two rings and a region table. Every function returns a
 * dpu_status value and checks its pointers (a null one is DPU_STATUS_INVALID_ARGUMENT).
 * One thread at a time per queue pair and side: the host side (submit, poll) and the
 * device side (dpu_qp_dev_*) may run on two threads, or in two processes.
 * ---------------------------------------------------------------------------------- */
struct dpu_qp; /* opaque */

uint16_t dpu_qp_create(uint32_t sq_entries, uint32_t cq_entries, struct dpu_qp **out);
void dpu_qp_destroy(struct dpu_qp *qp);

/* Registers [base, base+len) for device access; the memory must stay valid until the
 * queue pair is destroyed. Ids start at 1; 0 is never a valid region. */
uint16_t dpu_qp_register_region(struct dpu_qp *qp, void *base, uint64_t len,
                                uint32_t *region_id);

/* Copies up to n descriptors into the submission ring and rings the doorbell once.
 * *accepted receives how many went in; fewer than n means the ring is full
 * (status DPU_STATUS_QUEUE_FULL when none fit). Never blocks. */
uint16_t dpu_qp_submit(struct dpu_qp *qp, const struct dpu_desc *descs, uint32_t n,
                       uint32_t *accepted);

/* Copies up to max completions out of the completion ring. Never blocks. */
uint16_t dpu_qp_poll(struct dpu_qp *qp, struct dpu_cpl *out, uint32_t max, uint32_t *n);

/* Device side, for testing the ABI without a device: a loopback executor that
 * consumes up to `budget` submitted descriptors, bounds-checks their buffers against
 * the region table, executes NOP and COPY, and answers every other opcode with
 * DPU_STATUS_UNKNOWN_OPCODE (the simulator executes the rest). *done receives the
 * count consumed. Returns DPU_STATUS_QUEUE_FULL if the completion ring fills first. */
uint16_t dpu_qp_loopback_process(struct dpu_qp *qp, uint32_t budget, uint32_t *done);

/* ------------------------------------------------------------------------------------
 * A queue pair in shared memory, for a device in another process. The queue pair, its
 * rings and its regions live in one anonymous memory file (memfd, sealed at its size):
 * nothing has a name that could outlive the processes. dpu_qp_submit, dpu_qp_poll and
 * dpu_qp_destroy work on it as on any queue pair; dpu_qp_register_region does not
 * (another process cannot see this process's memory): allocate regions in the shared
 * data area with dpu_qp_alloc_region instead.
 *
 * The host trusts nothing the device writes: dpu_qp_poll checks every completion (a tag
 * in flight, a defined status, the opcode sent, lengths within the descriptor's buffers),
 * every ring index, and whether the device process (dpu_qp_spawn_device) is still alive.
 * A fault fails the call with DPU_STATUS_DEVICE_UNAVAILABLE, one line in
 * dpu_qp_last_error, and abandons the queue pair; completions checked before the fault
 * are still returned in `out` / *n. Tags must be unique among descriptors in flight
 * (DPU_STATUS_INVALID_ARGUMENT otherwise). dpu_qp_destroy tells the device the host is
 * gone, gives it a second to exit, then kills it.
 * ---------------------------------------------------------------------------------- */
uint16_t dpu_qp_create_shared(uint32_t sq_entries, uint32_t cq_entries, uint32_t max_regions,
                              uint64_t data_bytes, struct dpu_qp **out);

/* Allocates len bytes in the shared data area (zeroed) as a region: *region_id for
 * descriptors, *base for the host to fill and read. Valid until dpu_qp_destroy. */
uint16_t dpu_qp_alloc_region(struct dpu_qp *qp, uint64_t len, uint32_t *region_id, void **base);

/* Starts `program` as the device process, with DPUKIT_QP in its environment naming the
 * queue pair to attach to (dpu_qp_dev_attach). */
uint16_t dpu_qp_spawn_device(struct dpu_qp *qp, const char *program);

/* Why the last failing call on qp failed, one line (NUL-terminated, owned by qp). */
const char *dpu_qp_last_error(struct dpu_qp *qp);

/* ------------------------------------------------------------------------------------
 * The device side: what a device implementation calls (a C prototype of an offload,
 * or a thin shim over a vendor library). A device loop is:
 *
 *   fetch a batch -> for each descriptor: check it, resolve its buffers, execute ->
 *   post one completion per descriptor -> repeat.
 *
 * The device works on a queue pair made by dpu_qp_create in the same process, or one a
 * host process created in shared memory (dpu_qp_dev_attach). A device must answer every
 * descriptor it fetched with exactly one completion: same tag, the descriptor's opcode,
 * a dpu_status value, `bytes` <= the source length and, for COPY/COMPRESS/DECOMPRESS,
 * `result` <= the destination length. A host across processes treats anything else as
 * a device fault and abandons the queue pair.
 * ---------------------------------------------------------------------------------- */

/* Attaches to the device end of a queue pair another process created in shared memory;
 * `path` is what the host hands over (the dpukit host sets DPUKIT_QP in the device's
 * environment). One device per queue pair. Returns DPU_STATUS_DEVICE_UNAVAILABLE when
 * the path cannot be opened or is not a dpukit queue pair. Free with dpu_qp_destroy. */
uint16_t dpu_qp_dev_attach(const char *path, struct dpu_qp **out);

/* Copies up to max submitted (doorbelled) descriptors out; *n receives the count. Never
 * takes more than the completion ring has room for, so every fetched descriptor can be
 * answered. Never blocks. */
uint16_t dpu_qp_dev_fetch(struct dpu_qp *qp, struct dpu_desc *out, uint32_t max, uint32_t *n);

/* Checks a fetched descriptor as the kit's own devices do (opcode, flags, reserved
 * fields, algorithm and level, lengths): DPU_STATUS_OK, or the status its error
 * completion must carry. */
uint16_t dpu_qp_dev_check(const struct dpu_desc *desc);

/* Resolves a buffer reference against the queue pair's region table: DPU_STATUS_OK and
 * *ptr = the buffer's first byte (valid for buf->len bytes), or DPU_STATUS_UNKNOWN_REGION /
 * DPU_STATUS_OUT_OF_RANGE and *ptr = NULL. The only way a device reaches host memory. */
uint16_t dpu_qp_dev_resolve(struct dpu_qp *qp, const struct dpu_buf_ref *buf, void **ptr);

/* Posts up to n completions with one doorbell; *posted receives how many fit
 * (DPU_STATUS_QUEUE_FULL when none did). */
uint16_t dpu_qp_dev_complete(struct dpu_qp *qp, const struct dpu_cpl *cpls, uint32_t n, uint32_t *posted);

/* For an attached device: *closed = 1 once the host has dropped its end (the device may
 * exit when it has nothing left to fetch), else 0. */
uint16_t dpu_qp_dev_host_closed(struct dpu_qp *qp, uint32_t *closed);

#ifdef __cplusplus
}
#endif

#endif /* DPU_OFFLOAD_H */
