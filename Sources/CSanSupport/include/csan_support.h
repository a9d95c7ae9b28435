/*
 * csan_support.h — the few things Swift cannot express safely on memory it does not own:
 * atomic access to fields of a caller-owned WSAOVERLAPPED, futex wait/wake on such a field,
 * rdtsc and the monotonic clock.
 *
 * Why C: a provider and the application share the WSAOVERLAPPED across threads (the provider
 * completes it on its progress thread while the application polls WSPGetOverlappedResult), so
 * `Internal` must be published with release/acquire ordering. Swift's `Atomic` only works on
 * storage Swift owns; these inline functions use the C11/GCC builtins on the raw field instead.
 * Everything here is `static inline`: no symbols, no runtime, usable from the interposer.
 */
#ifndef CSAN_SUPPORT_H
#define CSAN_SUPPORT_H

#include <stdint.h>
#include <time.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <linux/futex.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Atomics on raw words ---- */
static inline uintptr_t csan_load_acquire_uptr(const uintptr_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void csan_store_release_uptr(uintptr_t *p, uintptr_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uintptr_t csan_load_seqcst_uptr(const uintptr_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void csan_store_seqcst_uptr(uintptr_t *p, uintptr_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t csan_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void csan_store_release_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t csan_fetch_add_i64(int64_t *p, int64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int64_t csan_load_i64(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void csan_fence_seqcst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* ---- Futex on a 32-bit word (the low half of WSAOVERLAPPED.Internal on little-endian) ----
 * Returns 0 when woken or the value differed, ETIMEDOUT on timeout, EINTR on a signal. */
static inline int csan_futex_wait_u32(uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
    return r == 0 ? 0 : (errno == EAGAIN ? 0 : errno);
}
static inline void csan_futex_wake_u32(uint32_t *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- eventfd (not in Swift's Glibc module) ---- */
static inline int csan_eventfd_nonblocking(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/* ---- Clocks ---- */
static inline uint64_t csan_rdtsc(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}
static inline uint64_t csan_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline void csan_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif
/* CRC-32C with the SSE4.2 instruction (the trace store's segment checksums). Included from here,
 * not only found through the umbrella directory: an existing build's module cache does not
 * notice a new header in the directory, but does notice this one changing. */
#include "csan_crc32c.h"

#endif /* CSAN_SUPPORT_H */
