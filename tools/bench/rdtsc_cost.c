/*
 * rdtsc_cost.c — what one rdtsc costs here (tools/bench/santrace): back to back, and as the
 * marginal cost next to a record's worth of stores (the interposer reads it twice per call).
 * Also how far apart two back-to-back reads are (the clock's effective resolution).
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static uint64_t now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
static uint64_t ring[1 << 16];
__attribute__((noinline)) static void record(uint64_t *p, uint64_t v) {
    for (int k = 0; k < 12; k++) p[k] = v + (uint64_t)k;  /* ~ one ENTER record */
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
#include <stdlib.h>
int main(void) {
    enum { N = 5000000, R = 5 };
    double solo[R], marginal[R];
    for (int r = 0; r < R; r++) {
        volatile uint64_t sink = 0;
        uint64_t t0 = now();
        for (int i = 0; i < N; i++) sink += rdtsc();
        uint64_t t1 = now();
        for (int i = 0; i < N; i++) record(&ring[(i * 16) & 0xffff], (uint64_t)i);
        uint64_t t2 = now();
        for (int i = 0; i < N; i++) record(&ring[(i * 16) & 0xffff], rdtsc());
        uint64_t t3 = now();
        solo[r] = (double)(t1 - t0) / N;
        marginal[r] = ((double)(t3 - t2) - (double)(t2 - t1)) / N;
    }
    qsort(solo, R, sizeof solo[0], cmp);
    qsort(marginal, R, sizeof marginal[0], cmp);
    /* How far apart two back-to-back reads are, in ticks: the clock's effective resolution. */
    double gaps[1001];
    for (int i = 0; i < 1001; i++) {
        uint64_t a = rdtsc(), b = rdtsc();
        gaps[i] = (double)(b - a);
    }
    qsort(gaps, 1001, sizeof gaps[0], cmp);
    double step = gaps[500];
    uint64_t n0 = now(), c0 = rdtsc();
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    double ghz = (double)(rdtsc() - c0) / (double)(now() - n0);
    printf("rdtsc: %.2f ns back to back, %.2f ns next to a record's stores (medians of %d x %d); TSC %.3f GHz; "
           "two back-to-back reads differ by %.0f ticks = %.1f ns (median)\n",
           solo[R / 2], marginal[R / 2], R, N, ghz, step, step / ghz);
    return 0;
}
