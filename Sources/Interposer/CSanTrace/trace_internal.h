/*
 * trace_internal.h — the hot path of libsantrace.so, private to CSanTrace.
 *
 * Why each choice (the budget is ~25 ns per traced call, two records):
 *  - Per-thread state lives in one C `__thread` block with the initial-exec TLS model: reaching it
 *    is one %fs-relative load, with no __tls_get_addr call and no lazy allocation. glibc keeps a
 *    static-TLS surplus for dlopen'ed libraries; the block is 32 bytes.
 *  - Each thread writes into its own SPSC byte ring, allocated (mmap) once on the thread's first
 *    record, pushed onto a lock-free list and handed to the next new thread after this one exits
 *    and the drain emptied it. Producer and consumer only share `head` (release/acquire) and
 *    `tail`; the producer caches `tail` so a record costs no shared cache-line read.
 *  - Timestamps are rdtsc, the one clock cheaper than clock_gettime; the drain calibrates them.
 *    An ENTER reads it last (at commit, just before the real call), a LEAVE first (the wrapper
 *    reads it as the real call returns): the recorded call brackets the real one tightly, and the
 *    rdtsc's latency (~26 cycles here, microcoded) overlaps with the record writes around it.
 *  - The payload policy is a constant inside each data-path wrapper: the wrapper picks a copy
 *    specialised for `none` (no size loops, no payload branches) or the general one, once.
 *  - A record's size is computed first, then it is written in place and published with one
 *    release store of `head`: no staging copy, no locks, no allocation.
 *  - A full ring blocks the producer (counted as a stall) unless lossy mode was asked for. If the
 *    drain stops beating for 2 s, the producer drops instead (counted), so a dead drain can never
 *    hang the traced program.
 *  - A per-thread `writing` flag drops a record started while another is half-written on the same
 *    thread (a signal handler calling the SPI); `internal` marks the drain thread; `depth` bounds
 *    nesting (an upcall inside a wrapped call is recorded; runaway recursion passes through).
 */
#ifndef CSAN_TRACE_INTERNAL_H
#define CSAN_TRACE_INTERNAL_H

#include <string.h>
#include "include/csan_trace.h"
#include <csan_support.h>

struct csan_ring {
    /* producer's cache line */
    _Alignas(64) uint64_t head; /* bytes ever written; release-stored by the producer */
    uint64_t cached_tail;
    uint64_t seq;
    uint64_t stalls;  /* times the producer found the ring full and waited */
    uint64_t drops;   /* records dropped (lossy mode, or the drain stopped) */
    uint64_t records; /* records written */
    /* consumer's cache line */
    _Alignas(64) uint64_t tail; /* bytes ever consumed; release-stored by the drain */
    /* shared, rarely written */
    _Alignas(64) uint32_t state; /* CSAN_RING_* */
    uint32_t thread;             /* capture thread number of the current owner (from 1) */
    uint64_t os_tid;
    char name[16];     /* the owner's thread name when it adopted the ring (PR_GET_NAME) */
    uint64_t capacity; /* a power of two */
    uint8_t *data;
    struct csan_ring *next; /* registry: a push-only lock-free list */
};


/* ---- Per-thread block ---- */
typedef struct csan_tls {
    csan_ring *ring;
    uint32_t depth;
    uint32_t internal;
    uint32_t writing;
    uint32_t dead; /* the thread-exit destructor ran: record nothing more */
} csan_tls;

extern __thread csan_tls csan_tls_block __attribute__((tls_model("initial-exec")));

static inline csan_tls *csan_tls_get(void) { return &csan_tls_block; }

/* ---- Globals set at configuration ---- */
extern int csan_enabled_flag;       /* the one enable flag (relaxed atomic loads) */
extern int csan_payload_mode;       /* CSAN_PAYLOAD_* */
extern int csan_lossy;
extern uint64_t csan_ring_bytes;
extern uint64_t csan_max_record;    /* capacity / 4: a record never exceeds it */
extern uint64_t csan_reentry_drops;
extern uint64_t csan_sidetable_misses;

#define CSAN_MAX_DEPTH 16
#define CSAN_HDR 24u
#define CSAN_MAX_BUFS 64u /* buffer-list entries kept per record */
#define CSAN_CAP_SOCKADDR 128u
#define CSAN_CAP_BYTES 256u

/* `depth` also carries the "never record on this thread" states (the drain thread, a thread
 * whose exit destructor ran), so the hot path tests one word. */
#define CSAN_DEPTH_BLOCKED 0x10000u

static inline int csan_recording(const csan_tls *t) {
    return __atomic_load_n(&csan_enabled_flag, __ATOMIC_RELAXED) && t->depth < CSAN_MAX_DEPTH;
}

/* ---- Writing one record ---- */
typedef struct csan_wr {
    csan_ring *ring;
    uint8_t *start; /* record start */
    uint8_t *p;     /* cursor */
    uint64_t new_head;
    uint16_t flags;
} csan_wr;

csan_ring *csan_ring_acquire(csan_tls *t);                            /* slow path: first record */
int csan_ring_wait(csan_ring *r, uint64_t head, uint64_t need);       /* slow path: ring full */

static inline uint32_t csan_pad8(uint64_t n) { return (uint32_t)((n + 7) & ~(uint64_t)7); }

/* Reserves `size` bytes (a multiple of 8) and writes the header with timestamp `tsc` (an ENTER
 * passes 0 and commits with csan_rec_commit_now). Returns 0 when the record is dropped (lossy,
 * drain gone, or a record already being written on this thread). */
static inline int csan_rec_begin(csan_tls *t, csan_wr *w, uint8_t kind, uint8_t function, uint32_t size, uint64_t tsc) {
    if (t->writing) {
        __atomic_fetch_add(&csan_reentry_drops, 1, __ATOMIC_RELAXED);
        return 0;
    }
    csan_ring *r = t->ring;
    if (__builtin_expect(r == NULL, 0)) {
        r = csan_ring_acquire(t);
        if (!r) return 0;
    }
    t->writing = 1;
    uint64_t seq = r->seq++;
    if (__builtin_expect(size > csan_max_record, 0)) { /* callers cap their fields; never reached */
        r->drops++;
        t->writing = 0;
        return 0;
    }
    uint64_t head = r->head;
    uint64_t cap = r->capacity;
    uint64_t off = head & (cap - 1);
    uint64_t contiguous = cap - off;
    uint64_t need = size + (contiguous < size ? contiguous : 0);
    if (__builtin_expect(head + need - r->cached_tail > cap, 0)) {
        r->cached_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
        if (head + need - r->cached_tail > cap && !csan_ring_wait(r, head, need)) {
            r->drops++;
            t->writing = 0;
            return 0;
        }
    }
    if (contiguous < size) { /* pad to the end; the record starts at 0 */
        csan_rec_hdr *pad = (csan_rec_hdr *)(r->data + off);
        pad->size = (uint32_t)contiguous;
        pad->kind = CSAN_KIND_PAD;
        head += contiguous;
        off = 0;
    }
    csan_rec_hdr *h = (csan_rec_hdr *)(r->data + off);
    uint64_t h0 = (uint64_t)size | (uint64_t)kind << 32 | (uint64_t)function << 40; /* flags 0 */
    memcpy(h, &h0, 8);
    h->seq = seq;
    h->tsc = tsc;
    w->ring = r;
    w->start = (uint8_t *)h;
    w->p = (uint8_t *)h + CSAN_HDR;
    w->new_head = head + size;
    w->flags = 0;
    return 1;
}

static inline void csan_rec_commit(csan_tls *t, csan_wr *w) {
    if (w->flags) ((csan_rec_hdr *)w->start)->flags = w->flags;
    w->ring->records++;
    __atomic_store_n(&w->ring->head, w->new_head, __ATOMIC_RELEASE);
    t->writing = 0;
}

/* Commits with the timestamp taken now (ENTER records: the last thing before the real call). */
static inline void csan_rec_commit_now(csan_tls *t, csan_wr *w) {
    ((csan_rec_hdr *)w->start)->tsc = csan_rdtsc();
    csan_rec_commit(t, w);
}

/* ---- Field encoders: csan_sz_* computes the bytes, csan_put_* writes them (same caps) ---- */
static inline uint32_t csan_sz_u64(void) { return 8; }
static inline void csan_put_u64(csan_wr *w, uint64_t v) {
    memcpy(w->p, &v, 8);
    w->p += 8;
}
static inline uint64_t csan_mode_of(const WSAOVERLAPPED *ov) {
    if (!ov) return 0;
    return ((uintptr_t)ov->hEvent & 1) ? 2 : 1;
}

static inline uint32_t csan_blob_stored(const void *ptr, int64_t len, uint32_t cap) {
    if (!ptr || len <= 0) return 0;
    return len > cap ? cap : (uint32_t)len;
}
static inline uint32_t csan_sz_blob(const void *ptr, int64_t len, uint32_t cap) {
    return 16 + csan_pad8(csan_blob_stored(ptr, len, cap));
}
static inline void csan_put_blob(csan_wr *w, const void *ptr, int64_t len, uint32_t cap) {
    uint32_t n = csan_blob_stored(ptr, len, cap);
    csan_put_u64(w, (uint64_t)(len < 0 ? 0 : len));
    csan_put_u64(w, n);
    if (n) {
        memcpy(w->p, ptr, n);
        if (n < (uint64_t)len) w->flags |= CSAN_REC_TRUNCATED;
    }
    uint32_t padded = csan_pad8(n);
    if (padded > n) memset(w->p + n, 0, padded - n);
    w->p += padded;
}

static inline uint32_t csan_bufs_stored(const void *ptr, uint32_t count) {
    if (!ptr) return 0;
    return count > CSAN_MAX_BUFS ? CSAN_MAX_BUFS : count;
}
static inline uint32_t csan_sz_wsabuf(const WSABUF *b, uint32_t count) { return 16 + 16 * csan_bufs_stored(b, count); }
static inline void csan_put_wsabuf(csan_wr *w, const WSABUF *b, uint32_t count) {
    uint32_t n = csan_bufs_stored(b, count);
    csan_put_u64(w, count);
    csan_put_u64(w, n);
    if (n < count && b) w->flags |= CSAN_REC_TRUNCATED;
    for (uint32_t i = 0; i < n; i++) {
        csan_put_u64(w, b[i].len);
        csan_put_u64(w, (uint64_t)(uintptr_t)b[i].buf);
    }
}
static inline uint32_t csan_sz_wsabufex(const WSABUFEX *b, uint32_t count) { return 16 + 24 * csan_bufs_stored(b, count); }
static inline void csan_put_wsabufex(csan_wr *w, const WSABUFEX *b, uint32_t count) {
    uint32_t n = csan_bufs_stored(b, count);
    csan_put_u64(w, count);
    csan_put_u64(w, n);
    if (n < count && b) w->flags |= CSAN_REC_TRUNCATED;
    for (uint32_t i = 0; i < n; i++) {
        csan_put_u64(w, b[i].len);
        csan_put_u64(w, (uint64_t)(uintptr_t)b[i].buf);
        csan_put_u64(w, (uint64_t)(uintptr_t)b[i].handle);
    }
}

/* ---- Payloads ----
 * A payload is described by a list of (address, length) segments and a byte limit (the bytes a
 * receive actually filled; UINT64_MAX for sends). Hash mode: one xxh64 per segment of the filled
 * part. Full mode: the bytes, capped so the record fits the ring (flagged truncated). */
typedef struct csan_seg {
    uint64_t addr, len;
} csan_seg;

uint64_t csan_xxh64(const void *data, size_t length, uint64_t seed);

/* `pm` is the payload policy: a constant in the specialised wrapper bodies (see the top). */
static inline uint32_t csan_payload_count(int pm, const void *list, uint32_t count) {
    if (pm == CSAN_PAYLOAD_NONE || !list) return 0;
    return count > CSAN_MAX_BUFS ? CSAN_MAX_BUFS : count;
}
/* The budget full mode may spend on bytes in one record (leave room for the fixed fields). */
static inline uint64_t csan_full_budget(void) { return csan_max_record > 4096 ? csan_max_record - 4096 : 0; }

/* Generic over segment accessors: `seg(i)` fills addr/len of segment i. Implemented as macros so
 * WSABUF, WSABUFEX and side-table segments share one body without indirect calls. */
#define CSAN_PAYLOAD_SIZE(PM, COUNT, LIMIT, SEG_LEN)                                                          \
    ({                                                                                                        \
        uint32_t _n = (COUNT);                                                                                \
        uint64_t _sz = 16;                                                                                    \
        if ((PM) == CSAN_PAYLOAD_HASH) _sz += 16ull * _n;                                                     \
        else if ((PM) == CSAN_PAYLOAD_FULL) {                                                                 \
            uint64_t _left = (LIMIT), _budget = csan_full_budget();                                           \
            for (uint32_t _i = 0; _i < _n; _i++) {                                                            \
                uint64_t _l = (SEG_LEN(_i));                                                                  \
                if (_l > _left) _l = _left;                                                                   \
                _left -= _l;                                                                                  \
                uint64_t _s = _l > _budget ? _budget : _l;                                                    \
                _budget -= _s;                                                                                \
                _sz += 16 + csan_pad8(_s);                                                                    \
            }                                                                                                 \
        }                                                                                                     \
        (uint32_t)_sz;                                                                                        \
    })

#define CSAN_PAYLOAD_PUT(PM, W, COUNT, LIMIT, SEG_ADDR, SEG_LEN)                                              \
    do {                                                                                                      \
        uint32_t _n = (COUNT);                                                                                \
        csan_put_u64((W), (uint64_t)(PM));                                                                    \
        csan_put_u64((W), _n);                                                                                \
        uint64_t _left = (LIMIT), _budget = csan_full_budget();                                               \
        for (uint32_t _i = 0; _i < _n; _i++) {                                                                \
            uint64_t _l = (SEG_LEN(_i));                                                                      \
            if (_l > _left) _l = _left;                                                                       \
            _left -= _l;                                                                                      \
            const void *_a = (const void *)(uintptr_t)(SEG_ADDR(_i));                                         \
            csan_put_u64((W), _l);                                                                            \
            if ((PM) == CSAN_PAYLOAD_HASH) {                                                                  \
                csan_put_u64((W), _a ? csan_xxh64(_a, _l, 0) : 0);                                            \
            } else {                                                                                          \
                uint64_t _s = _l > _budget ? _budget : _l;                                                    \
                if (!_a) _s = 0;                                                                              \
                _budget -= _s;                                                                                \
                csan_put_u64((W), _s);                                                                        \
                if (_s < _l) (W)->flags |= CSAN_REC_TRUNCATED;                                                \
                if (_s) memcpy((W)->p, _a, _s);                                                               \
                uint32_t _p = csan_pad8(_s);                                                                  \
                if (_p > _s) memset((W)->p + _s, 0, _p - _s);                                                 \
                (W)->p += _p;                                                                                 \
            }                                                                                                 \
        }                                                                                                     \
    } while (0)

/* WSABUF / WSABUFEX payloads (send and RDMA write at enter; synchronous receive at leave). */
#define CSAN_WSABUF_LEN(i) (_b[(i)].len)
#define CSAN_WSABUF_ADDR(i) ((uintptr_t)_b[(i)].buf)
static inline uint32_t csan_sz_payload_wsabuf(int pm, const WSABUF *_b, uint32_t count, uint64_t limit) {
    return CSAN_PAYLOAD_SIZE(pm, csan_payload_count(pm, _b, count), limit, CSAN_WSABUF_LEN);
}
static inline void csan_put_payload_wsabuf(int pm, csan_wr *w, const WSABUF *_b, uint32_t count, uint64_t limit) {
    CSAN_PAYLOAD_PUT(pm, w, csan_payload_count(pm, _b, count), limit, CSAN_WSABUF_ADDR, CSAN_WSABUF_LEN);
}
static inline uint32_t csan_sz_payload_wsabufex(int pm, const WSABUFEX *_b, uint32_t count, uint64_t limit) {
    return CSAN_PAYLOAD_SIZE(pm, csan_payload_count(pm, _b, count), limit, CSAN_WSABUF_LEN);
}
static inline void csan_put_payload_wsabufex(int pm, csan_wr *w, const WSABUFEX *_b, uint32_t count, uint64_t limit) {
    CSAN_PAYLOAD_PUT(pm, w, csan_payload_count(pm, _b, count), limit, CSAN_WSABUF_ADDR, CSAN_WSABUF_LEN);
}

/* ---- Side table: overlapped → buffers of a receive / RDMA read, hashed at completion ----
 * Used only when the payload policy is not `none`. Lock-free open addressing over a fixed array;
 * an entry is claimed by CAS on its key. */
#define CSAN_SIDE_BUFS 8u
typedef struct csan_side_entry {
    uintptr_t key; /* overlapped address; 0 free; 1 busy */
    uint32_t count;
    uint32_t truncated;
    csan_seg seg[CSAN_SIDE_BUFS];
} csan_side_entry;
void csan_side_put_wsabuf(const WSAOVERLAPPED *ov, const WSABUF *b, uint32_t count);
void csan_side_put_wsabufex(const WSAOVERLAPPED *ov, const WSABUFEX *b, uint32_t count);
/* Takes the entry for `ov` (returns 0 when there is none). */
int csan_side_take(const WSAOVERLAPPED *ov, csan_side_entry *out);

/* ---- Hand-written records and hooks (hooks.c), called from the generated wrappers ---- */
/* `tsc`: when it happened (0: now). */
void csan_rec_completion(csan_tls *t, uint64_t tsc, const WSAOVERLAPPED *ov, uint32_t status, uint32_t bytes,
                         uint32_t flags, uint32_t via);
void csan_rec_lookup(csan_tls *t, uint64_t tsc, const GUID *guid, uint32_t extension, uint32_t status);

/* The real provider and switch tables the wrappers call (startup.c). */
extern WSPPROC_TABLE csan_real_procs;
extern WSPUPCALLTABLEEX csan_real_upcalls;
extern void *csan_real_ext[7];

#endif /* CSAN_TRACE_INTERNAL_H */
