/*
 * csan_crc32c.h — CRC-32C (Castagnoli) with the SSE4.2 `crc32` instruction, for the trace
 * store's segment checksums (Docs/TraceFormat.md §5). Swift has no access to the instruction;
 * the store calls these when the CPU has it and its own slicing-by-8 table code otherwise.
 * Header-only (static inline), like csan_support.h.
 */
#ifndef CSAN_CRC32C_H
#define CSAN_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when csan_crc32c_update may be called (x86-64 with SSE4.2), else 0. */
static inline int csan_crc32c_available(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
#else
    return 0;
#endif
}

/* The CRC-32C register after `n` bytes at `data`, from register `crc` (no initial or final
 * inversion: the caller does those). Only call it when csan_crc32c_available() says 1. */
#if defined(__x86_64__)
__attribute__((target("sse4.2")))
#endif
static inline uint32_t csan_crc32c_update(uint32_t crc, const void *data, size_t n) {
#if defined(__x86_64__)
    const unsigned char *p = (const unsigned char *)data;
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p++;
        n--;
    }
    return c32;
#else
    (void)data;
    (void)n;
    return crc;
#endif
}

#ifdef __cplusplus
}
#endif

#endif
