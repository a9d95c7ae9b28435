/*
 * csan_replay.h — the replayer's hot-path helpers that Swift cannot express on memory it does not
 * own, or not as cheaply: a compare-and-swap on a raw 32-bit word (who observes a completion
 * first), relaxed counters shared with the watchdog, and the deterministic payload stream (fill
 * and verify at memory speed).
 *
 * The payload stream: byte p of the stream with seed S is byte (p mod 8) of csan_replay_word(S,
 * p / 8), a counter-based mix, so any window of the stream is computed without the bytes before
 * it (a receiver checks a message, an RDMA read checks part of a region, at any offset).
 * Everything is `static inline`: no symbols.
 */
#ifndef CSAN_REPLAY_H
#define CSAN_REPLAY_H

#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int csan_replay_cas_u32(uint32_t *p, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline uint32_t csan_replay_load_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void csan_replay_store_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint64_t csan_replay_load_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void csan_replay_store_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t csan_replay_add_u64(uint64_t *p, uint64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_RELAXED); }

/* The calling thread's timer slack (prctl is variadic, which Swift does not import). */
static inline int csan_replay_timer_slack(unsigned long ns) { return prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0); }

/* SplitMix64's finaliser over seed + index × golden ratio: statistically strong, one multiply
 * chain per 8 bytes. */
static inline uint64_t csan_replay_word(uint64_t seed, uint64_t index) {
    uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint8_t csan_replay_byte(uint64_t seed, uint64_t position) {
    return (uint8_t)(csan_replay_word(seed, position >> 3) >> ((position & 7) * 8));
}

/* Writes stream bytes [position, position + length) of `seed` to dst. */
static inline void csan_replay_fill(uint8_t *dst, uint64_t length, uint64_t seed, uint64_t position) {
    uint64_t i = 0;
    while (i < length && ((position + i) & 7) != 0) {
        dst[i] = csan_replay_byte(seed, position + i);
        i++;
    }
    uint64_t w = (position + i) >> 3;
    for (; i + 8 <= length; i += 8, w++) {
        uint64_t v = csan_replay_word(seed, w);
        memcpy(dst + i, &v, 8);
    }
    for (; i < length; i++) dst[i] = csan_replay_byte(seed, position + i);
}

/* Compares src with stream bytes [position, position + length) of `seed`. Returns the offset of
 * the first byte that differs, or -1 when all match. */
static inline int64_t csan_replay_verify(const uint8_t *src, uint64_t length, uint64_t seed, uint64_t position) {
    uint64_t i = 0;
    while (i < length && ((position + i) & 7) != 0) {
        if (src[i] != csan_replay_byte(seed, position + i)) return (int64_t)i;
        i++;
    }
    uint64_t w = (position + i) >> 3;
    for (; i + 8 <= length; i += 8, w++) {
        uint64_t v = csan_replay_word(seed, w), got;
        memcpy(&got, src + i, 8);
        if (got != v) {
            for (uint64_t j = 0; j < 8; j++)
                if (src[i + j] != (uint8_t)(v >> (j * 8))) return (int64_t)(i + j);
        }
    }
    for (; i < length; i++)
        if (src[i] != csan_replay_byte(seed, position + i)) return (int64_t)i;
    return -1;
}

#ifdef __cplusplus
}
#endif
#endif /* CSAN_REPLAY_H */
