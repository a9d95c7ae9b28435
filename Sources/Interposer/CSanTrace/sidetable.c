/*
 * sidetable.c — overlapped → buffers of a pending receive or RDMA read, so the payload can be
 * hashed (or copied) at completion, the moment the bytes are valid. Only used when the payload
 * policy is not `none`. Fixed array, lock-free: a slot is claimed by CAS on its key (0 → BUSY),
 * filled, then published with the overlapped address; taking does the reverse. Lookups scan a
 * fixed window, so removals need no tombstones. A full window is counted, not waited on.
 */
#include "trace_internal.h"

#define SIDE_SLOTS 4096u
#define SIDE_WINDOW 32u
#define BUSY ((uintptr_t)1)

static csan_side_entry side[SIDE_SLOTS];

static inline uint32_t slot_of(const void *ov) {
    uint64_t x = (uint64_t)(uintptr_t)ov;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(x >> 40) & (SIDE_SLOTS - 1);
}

static csan_side_entry *claim(const WSAOVERLAPPED *ov) {
    uint32_t s = slot_of(ov);
    for (uint32_t i = 0; i < SIDE_WINDOW; i++) {
        csan_side_entry *e = &side[(s + i) & (SIDE_SLOTS - 1)];
        uintptr_t expected = 0;
        if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&e->key, &expected, BUSY, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return e;
    }
    __atomic_fetch_add(&csan_sidetable_misses, 1, __ATOMIC_RELAXED);
    return NULL;
}

void csan_side_put_wsabuf(const WSAOVERLAPPED *ov, const WSABUF *b, uint32_t count) {
    if (!ov || !b) return;
    (void)csan_side_take(ov, &(csan_side_entry){0}); /* a stale entry of a reused overlapped */
    csan_side_entry *e = claim(ov);
    if (!e) return;
    e->count = count > CSAN_SIDE_BUFS ? CSAN_SIDE_BUFS : count;
    e->truncated = count > CSAN_SIDE_BUFS;
    for (uint32_t i = 0; i < e->count; i++) e->seg[i] = (csan_seg){(uintptr_t)b[i].buf, b[i].len};
    __atomic_store_n(&e->key, (uintptr_t)ov, __ATOMIC_RELEASE);
}

void csan_side_put_wsabufex(const WSAOVERLAPPED *ov, const WSABUFEX *b, uint32_t count) {
    if (!ov || !b) return;
    (void)csan_side_take(ov, &(csan_side_entry){0});
    csan_side_entry *e = claim(ov);
    if (!e) return;
    e->count = count > CSAN_SIDE_BUFS ? CSAN_SIDE_BUFS : count;
    e->truncated = count > CSAN_SIDE_BUFS;
    for (uint32_t i = 0; i < e->count; i++) e->seg[i] = (csan_seg){(uintptr_t)b[i].buf, b[i].len};
    __atomic_store_n(&e->key, (uintptr_t)ov, __ATOMIC_RELEASE);
}

int csan_side_take(const WSAOVERLAPPED *ov, csan_side_entry *out) {
    if (!ov) return 0;
    uint32_t s = slot_of(ov);
    for (uint32_t i = 0; i < SIDE_WINDOW; i++) {
        csan_side_entry *e = &side[(s + i) & (SIDE_SLOTS - 1)];
        uintptr_t expected = (uintptr_t)ov;
        if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) == expected &&
            __atomic_compare_exchange_n(&e->key, &expected, BUSY, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            *out = *e;
            __atomic_store_n(&e->key, 0, __ATOMIC_RELEASE);
            return 1;
        }
    }
    return 0;
}
