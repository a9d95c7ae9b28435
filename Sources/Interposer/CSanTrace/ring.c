/*
 * ring.c — per-thread rings: acquisition on a thread's first record, the full-ring wait, reuse
 * after the thread exits, and what a forked child keeps. See trace_internal.h for why.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "trace_internal.h"

__thread csan_tls csan_tls_block __attribute__((tls_model("initial-exec")));

int csan_enabled_flag;
int csan_payload_mode;
int csan_lossy;
uint64_t csan_ring_bytes = 1u << 20;
uint64_t csan_max_record = (1u << 20) / 4;
uint64_t csan_reentry_drops;
uint64_t csan_sidetable_misses;

static csan_ring *ring_list;      /* push-only */
static uint32_t next_thread;      /* capture thread numbers, from 1 */
static uint64_t drain_heartbeat;  /* bumped by the drain every pass */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

void csan_trace_configure(int payload_mode, int lossy, uint64_t ring_bytes) {
    uint64_t cap = 1u << 16; /* at least 64 KiB, a power of two */
    while (cap < ring_bytes && cap < (1ull << 30)) cap <<= 1;
    csan_payload_mode = payload_mode;
    csan_lossy = lossy;
    csan_ring_bytes = cap;
    csan_max_record = cap / 4;
}

void csan_trace_set_enabled(int enabled) { __atomic_store_n(&csan_enabled_flag, enabled, __ATOMIC_SEQ_CST); }
int csan_trace_enabled(void) { return __atomic_load_n(&csan_enabled_flag, __ATOMIC_SEQ_CST); }

csan_ring *csan_ring_first(void) { return __atomic_load_n(&ring_list, __ATOMIC_ACQUIRE); }

/* Thread exit: the ring goes DEAD; the drain empties it and makes it FREE for another thread. */
static void on_thread_exit(void *arg) {
    csan_ring *r = arg;
    csan_tls *t = csan_tls_get();
    t->ring = NULL;
    t->dead = 1;
    t->depth |= CSAN_DEPTH_BLOCKED;
    __atomic_store_n(&r->state, CSAN_RING_DEAD, __ATOMIC_RELEASE);
}
static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

static void adopt(csan_ring *r, csan_tls *t) {
    r->seq = 0;
    r->os_tid = (uint64_t)syscall(SYS_gettid);
    memset(r->name, 0, sizeof r->name);
    prctl(PR_GET_NAME, r->name, 0, 0, 0);
    __atomic_store_n(&r->thread, __atomic_add_fetch(&next_thread, 1, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
    t->ring = r;
    pthread_once(&exit_key_once, make_exit_key);
    pthread_setspecific(exit_key, r);
}

csan_ring *csan_ring_acquire(csan_tls *t) {
    if (t->dead) return NULL;
    /* Reuse a FREE ring of an exited thread (same capacity: rings are made at one size). */
    for (csan_ring *r = csan_ring_first(); r; r = csan_ring_next(r)) {
        uint32_t expected = CSAN_RING_FREE;
        if (r->capacity == csan_ring_bytes &&
            __atomic_compare_exchange_n(&r->state, &expected, CSAN_RING_LIVE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            adopt(r, t);
            return r;
        }
    }
    /* Allocate once per thread: header and data in one mapping, touched now so the first
     * records do not page-fault. */
    size_t hdr = (sizeof(csan_ring) + 4095) & ~(size_t)4095;
    void *m = mmap(NULL, hdr + csan_ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (m == MAP_FAILED) return NULL;
    csan_ring *r = m;
    r->capacity = csan_ring_bytes;
    r->data = (uint8_t *)m + hdr;
    r->state = CSAN_RING_LIVE;
    adopt(r, t);
    csan_ring *old = __atomic_load_n(&ring_list, __ATOMIC_RELAXED);
    do {
        r->next = old;
    } while (!__atomic_compare_exchange_n(&ring_list, &old, r, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    return r;
}

int csan_ring_try_reclaim(csan_ring *r) {
    if (csan_ring_state(r) != CSAN_RING_DEAD) return 0;
    if (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) != r->tail) return 0;
    r->cached_tail = r->tail;
    uint32_t expected = CSAN_RING_DEAD;
    return __atomic_compare_exchange_n(&r->state, &expected, CSAN_RING_FREE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void csan_trace_heartbeat(void) { __atomic_fetch_add(&drain_heartbeat, 1, __ATOMIC_RELEASE); }

void csan_trace_mark_internal_thread(void) {
    csan_tls *t = csan_tls_get();
    t->internal = 1;
    t->depth |= CSAN_DEPTH_BLOCKED;
}

/* The ring is full: lossy mode drops at once; otherwise wait for the drain (spin, then yield,
 * then sleep), counting one stall. If the drain shows no sign of life for 2 s, drop instead. */
int csan_ring_wait(csan_ring *r, uint64_t head, uint64_t need) {
    if (csan_lossy) return 0;
    r->stalls++;
    uint64_t beat = __atomic_load_n(&drain_heartbeat, __ATOMIC_ACQUIRE);
    uint64_t quiet_since = 0;
    for (uint32_t i = 0;; i++) {
        r->cached_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
        if (head + need - r->cached_tail <= r->capacity) return 1;
        if (i < 128) {
            csan_cpu_relax();
        } else if (i < 256) {
            sched_yield();
        } else {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        if ((i & 255) == 255) {
            uint64_t now_beat = __atomic_load_n(&drain_heartbeat, __ATOMIC_ACQUIRE);
            uint64_t now = csan_monotonic_ns();
            if (now_beat != beat || !csan_trace_enabled()) {
                beat = now_beat;
                quiet_since = now;
            } else if (quiet_since == 0) {
                quiet_since = now;
            } else if (now - quiet_since > 2000000000ull) {
                return 0;
            }
            if (!csan_trace_enabled()) return 0;
        }
    }
}

void csan_trace_get_stats(csan_trace_stats *out) {
    memset(out, 0, sizeof *out);
    for (csan_ring *r = csan_ring_first(); r; r = csan_ring_next(r)) {
        out->records += __atomic_load_n(&r->records, __ATOMIC_RELAXED);
        out->stalls += __atomic_load_n(&r->stalls, __ATOMIC_RELAXED);
        out->drops += __atomic_load_n(&r->drops, __ATOMIC_RELAXED);
        out->rings++;
    }
    out->threads = __atomic_load_n(&next_thread, __ATOMIC_RELAXED);
    out->reentry_drops = __atomic_load_n(&csan_reentry_drops, __ATOMIC_RELAXED);
    out->sidetable_misses = __atomic_load_n(&csan_sidetable_misses, __ATOMIC_RELAXED);
}

/* Forked child: only the forking thread exists. Every other ring is emptied and FREE; ours is
 * emptied and renumbered; counters restart, since the child writes a trace of its own. */
void csan_trace_after_fork_child(void) {
    csan_tls *t = csan_tls_get();
    next_thread = 0;
    csan_reentry_drops = 0;
    csan_sidetable_misses = 0;
    for (csan_ring *r = csan_ring_first(); r; r = csan_ring_next(r)) {
        r->tail = r->head;
        r->cached_tail = r->head;
        r->stalls = r->drops = r->records = 0;
        if (r != t->ring) r->state = CSAN_RING_FREE;
    }
    if (t->ring) {
        t->ring->seq = 0;
        t->ring->os_tid = (uint64_t)syscall(SYS_gettid);
        prctl(PR_GET_NAME, t->ring->name, 0, 0, 0);
        t->ring->thread = ++next_thread;
    }
    t->writing = 0;
    t->depth = 0;
}

/* ---- Drain-side accessors (csan_trace.h) ---- */
csan_ring *csan_ring_next(const csan_ring *r) { return __atomic_load_n(&r->next, __ATOMIC_ACQUIRE); }
uint64_t csan_ring_head(const csan_ring *r) { return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE); }
uint64_t csan_ring_tail(const csan_ring *r) { return __atomic_load_n(&r->tail, __ATOMIC_RELAXED); }
uint32_t csan_ring_state(const csan_ring *r) { return __atomic_load_n(&r->state, __ATOMIC_ACQUIRE); }
uint32_t csan_ring_thread(const csan_ring *r) { return __atomic_load_n(&r->thread, __ATOMIC_ACQUIRE); }
uint64_t csan_ring_os_tid(const csan_ring *r) { return __atomic_load_n(&r->os_tid, __ATOMIC_RELAXED); }
uint64_t csan_ring_capacity(const csan_ring *r) { return r->capacity; }
const char *csan_ring_name(const csan_ring *r) { return r->name; }
const csan_rec_hdr *csan_ring_record(const csan_ring *r, uint64_t pos) {
    return (const csan_rec_hdr *)(r->data + (pos & (r->capacity - 1)));
}
void csan_ring_release(csan_ring *r, uint64_t tail) { __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE); }
uint64_t csan_trace_now_ticks(void) { return csan_rdtsc(); }
uint64_t csan_trace_gettid(void) { return (uint64_t)syscall(SYS_gettid); }
