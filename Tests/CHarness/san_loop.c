/*
 * san_loop.c — a C program linked directly against a provider (libsan_null.so), driving
 * data-path calls from N threads. It is the preload harness (run it with and without
 * LD_PRELOAD=libsantrace.so: its own call to WSPStartupEx then lands in the interposer), the
 * layered harness (--provider libsantrace.so, with SANTRACE_PROVIDER set) and the benchmark loop.
 *
 *   san_loop [--provider LIB.so] [--threads N] [--ops N] [--mode sync|upcall|poll|mixed]
 *            [--size BYTES] [--errors] [--bench REPEATS] [--linger MS] [--fork] [--pin CPU] [--delay-us US]
 *
 * Output (stdout) is deterministic for a given command line — the same with and without the
 * interposer — except in --bench mode, which prints timings. Exit 0 when every call behaved as
 * the provider documents; otherwise a line saying what did not.
 *
 * build-harness: -L{bin} -lsan_null -Wl,-rpath,{bin}
 */
#define _GNU_SOURCE
#include <CSanABI.h>
#include <san_c_host.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL(...) do { fprintf(stderr, "san_loop: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

extern int WSPStartupEx(WORD, LPWSPDATA, LPWSAPROTOCOL_INFOW, LPWSPUPCALLTABLEEX, LPWSPPROC_TABLE);

static WSPPROC_TABLE T;
static LPFN_WSPREGISTERMEMORY reg;
static LPFN_WSPDEREGISTERMEMORY dereg;
static LPFN_WSPRDMAWRITE rdma_write;
static int n_threads = 1, size = 64, bench = 0, pin_cpu = -1, delay_us = 0;
static long n_ops = 1000;
static const char *mode = "upcall";

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int index;
    long ok, pending_errors;
    uint64_t bytes;
    double ns_per_op;
    double p50_ns, p99_ns; /* per call, from rdtsc around each call (both runs pay the same two reads) */
    double batch_p50_ns;   /* per call, median over batches of 16 calls (rdtsc here ticks in ~10 ns steps) */
} worker_t;

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* One data-path operation: WSPSend (or WSPRecv on odd iterations in mixed mode). Returns the
 * bytes it moved, or -1 with a message. */
static long one_op(SOCKET s, WSABUF *b, WSAOVERLAPPED *ov, int op_mode, int recv) {
    DWORD bytes = 0, flags = 0;
    int err = 0, rc;
    memset(ov, 0, sizeof *ov);
    ov->hEvent = (HANDLE)(uintptr_t)(op_mode == 2 ? 1 : 0);
    WSAOVERLAPPED *pov = op_mode == 0 ? NULL : ov;
    rc = recv ? T.lpWSPRecv(s, b, 1, &bytes, &flags, pov, NULL, NULL, &err)
              : T.lpWSPSend(s, b, 1, &bytes, 0, pov, NULL, NULL, &err);
    if (op_mode == 0) {
        if (rc != 0) return -1;
        return bytes;
    }
    if (rc != SOCKET_ERROR || err != WSA_IO_PENDING) return -1;
    if (op_mode == 2) {
        if (!T.lpWSPGetOverlappedResult(s, ov, &bytes, FALSE, &flags, &err)) return -1;
        return bytes;
    }
    if (__atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE) != 0) return -1; /* null completes inline */
    return (long)ov->InternalHigh;
}

static void *worker(void *arg) {
    worker_t *w = arg;
    int err = 0;
    if (pin_cpu >= 0) { /* --pin: the measured loop stays on one CPU (the drain gets the other) */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(pin_cpu + w->index, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) FAIL("cannot pin to CPU %d", pin_cpu + w->index);
    }
    WSAPROTOCOL_INFOW info = {0};
    SOCKET s = T.lpWSPSocket(AF_INET, SOCK_STREAM, 0, &info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) FAIL("WSPSocket: %d", err);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001)};
    if (T.lpWSPConnect(s, (struct sockaddr *)&addr, sizeof addr, NULL, NULL, NULL, NULL, &err) != 0)
        FAIL("WSPConnect: %d", err);
    char *buf = aligned_alloc(64, (size_t)(size + 63) / 64 * 64);
    for (int i = 0; i < size; i++) buf[i] = (char)(i * 31 + w->index);
    HANDLE h = reg(s, buf, (DWORD)size, MEM_READWRITE, &err);
    if (!h) FAIL("WSPRegisterMemory: %d", err);
    WSABUF b = {(ULONG)size, buf};
    WSAOVERLAPPED ov;
    int op_mode = strcmp(mode, "sync") == 0 ? 0 : strcmp(mode, "poll") == 0 ? 2 : 1;
    int mixed = strcmp(mode, "mixed") == 0;
    long repeats = bench > 0 ? bench : 1;
    uint64_t *samples = bench ? calloc((size_t)repeats, sizeof *samples) : NULL;
    uint32_t *calls = bench ? calloc((size_t)n_ops, sizeof *calls) : NULL;
    uint32_t *batches = bench ? calloc((size_t)n_ops / 16 + 1, sizeof *batches) : NULL;
    uint64_t tsc0 = rdtsc(), ns0 = now_ns();
    for (long r = 0; r < repeats; r++) {
        uint64_t t0 = now_ns();
        int timed = bench && r == repeats - 1; /* the last repeat times every call */
        int batched = bench && r == repeats - 2; /* the one before times batches of 16 calls */
        uint64_t b0 = batched ? rdtsc() : 0;
        for (long i = 0; i < n_ops; i++) {
            int m = mixed ? (int)(i % 3) : op_mode;
            uint64_t c0 = timed ? rdtsc() : 0;
            long got = one_op(s, &b, &ov, m, mixed && (i & 1));
            if (timed) calls[i] = (uint32_t)(rdtsc() - c0);
            if (delay_us) usleep((useconds_t)delay_us); /* --delay-us: a trickle of calls */
            if (batched && (i & 15) == 15) {
                uint64_t b1 = rdtsc();
                batches[i / 16] = (uint32_t)(b1 - b0);
                b0 = b1;
            }
            if (got < 0) {
                w->pending_errors++;
                continue;
            }
            w->ok++;
            w->bytes += (uint64_t)got;
        }
        if (samples) samples[r] = now_ns() - t0;
    }
    if (samples) {
        double ns_per_tick = (double)(now_ns() - ns0) / (double)(rdtsc() - tsc0);
        qsort(samples, (size_t)repeats, sizeof *samples, cmp_u64);
        w->ns_per_op = (double)samples[repeats / 2] / (double)n_ops;
        uint64_t *c = malloc((size_t)n_ops * sizeof *c);
        for (long i = 0; i < n_ops; i++) c[i] = calls[i];
        qsort(c, (size_t)n_ops, sizeof *c, cmp_u64);
        w->p50_ns = (double)c[n_ops / 2] * ns_per_tick;
        w->p99_ns = (double)c[n_ops * 99 / 100] * ns_per_tick;
        long nb = repeats >= 2 ? n_ops / 16 : 0;
        for (long i = 0; i < nb; i++) c[i] = batches[i];
        qsort(c, (size_t)nb, sizeof *c, cmp_u64);
        w->batch_p50_ns = nb ? (double)c[nb / 2] * ns_per_tick / 16 : 0;
        free(c);
        free(batches);
        free(calls);
        free(samples);
    }
    if (dereg(s, h, &err) != 0) FAIL("WSPDeregisterMemory: %d", err);
    if (T.lpWSPCloseSocket(s, &err) != 0) FAIL("WSPCloseSocket: %d", err);
    free(buf);
    return NULL;
}

/* Calls that must fail, with the error the provider documents; printed so a traced run can be
 * compared with an untraced one. */
static void error_paths(void) {
    int err = 0;
    char small[16];
    WSABUF b = {sizeof small, small};
    DWORD bytes = 0;
    int rc = T.lpWSPSend((SOCKET)12345, &b, 1, &bytes, 0, NULL, NULL, NULL, &err);
    printf("send on a bad socket: rc=%d err=%d\n", rc, err);
    WSAPROTOCOL_INFOW info = {0};
    SOCKET s = T.lpWSPSocket(AF_INET, SOCK_STREAM, 0, &info, 0, WSA_FLAG_OVERLAPPED, &err);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001)};
    T.lpWSPConnect(s, (struct sockaddr *)&addr, sizeof addr, NULL, NULL, NULL, NULL, &err);
    rc = T.lpWSPSend(s, &b, 1, &bytes, 0, NULL, NULL, NULL, &err);
    printf("send from unregistered memory: rc=%d err=%d\n", rc, err);
    HANDLE h = reg(s, small, sizeof small, 7, &err);
    printf("register with bad flags: handle=%s err=%d\n", h ? "set" : "NULL", err);
    GUID unknown = {0x12345678, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
    void *fn = NULL;
    DWORD got = 0;
    rc = T.lpWSPIoctl(INVALID_SOCKET, SIO_GET_EXTENSION_FUNCTION_POINTER, &unknown, sizeof unknown, &fn, sizeof fn,
                      &got, NULL, NULL, NULL, &err);
    printf("unknown extension: rc=%d err=%d\n", rc, err);
    rc = T.lpWSPCloseSocket(s, &err);
    printf("close: rc=%d\n", rc);
    rc = T.lpWSPCloseSocket(s, &err);
    printf("close again: rc=%d err=%d\n", rc, err);
}

static void *extension(GUID guid) {
    int err = 0;
    void *fn = san_host_extension(&T, guid, &err);
    if (!fn) FAIL("extension look-up failed: %d", err);
    return fn;
}

int main(int argc, char **argv) {
    const char *provider = NULL;
    int errors = 0, linger_ms = 0, do_fork = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--provider") && v) provider = argv[++i];
        else if (!strcmp(a, "--threads") && v) n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--ops") && v) n_ops = atol(argv[++i]);
        else if (!strcmp(a, "--mode") && v) mode = argv[++i];
        else if (!strcmp(a, "--size") && v) size = atoi(argv[++i]);
        else if (!strcmp(a, "--bench") && v) bench = atoi(argv[++i]);
        else if (!strcmp(a, "--linger") && v) linger_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--errors")) errors = 1;
        else if (!strcmp(a, "--fork")) do_fork = 1;
        else if (!strcmp(a, "--pin") && v) pin_cpu = atoi(argv[++i]);
        else if (!strcmp(a, "--delay-us") && v) delay_us = atoi(argv[++i]);
        else FAIL("usage: san_loop [--provider LIB.so] [--threads N] [--ops N] [--mode sync|upcall|poll|mixed] "
                  "[--size BYTES] [--errors] [--bench REPEATS] [--linger MS] [--fork] [--pin CPU] [--delay-us US]");
    }
    if (n_threads < 1 || n_threads > 256 || n_ops < 0 || size < 1) FAIL("bad --threads, --ops or --size");
    LPWSPSTARTUPEX startup = WSPStartupEx;
    if (provider) {
        void *lib = dlopen(provider, RTLD_NOW | RTLD_LOCAL);
        if (!lib) FAIL("dlopen: %s", dlerror());
        startup = (LPWSPSTARTUPEX)dlsym(lib, WSPSTARTUPEX_SYMBOL);
        if (!startup) FAIL("%s exports no WSPStartupEx", provider);
    }
    WSPUPCALLTABLEEX up;
    san_host_upcalls(&up);
    WSPDATA data;
    WSAPROTOCOL_INFOW info = {0};
    memset(&T, 0, sizeof T);
    int rc = startup(WSPSTARTUPEX_VERSION, &data, &info, &up, &T);
    if (rc != 0) FAIL("WSPStartupEx returned %d", rc);
    reg = extension((GUID)WSAID_REGISTERMEMORY);
    dereg = extension((GUID)WSAID_DEREGISTERMEMORY);
    rdma_write = extension((GUID)WSAID_RDMAWRITE);
    if (errors) error_paths();
    /* --fork: a child runs the same loop after startup (its own trace), the parent waits for it. */
    pid_t child = do_fork ? fork() : 0;
    if (child < 0) FAIL("fork failed");

    pthread_t tid[256];
    worker_t w[256];
    memset(w, 0, sizeof w);
    for (int i = 0; i < n_threads; i++) {
        w[i].index = i;
        pthread_create(&tid[i], NULL, worker, &w[i]);
    }
    long ok = 0, bad = 0;
    uint64_t bytes = 0;
    double ns[256];
    for (int i = 0; i < n_threads; i++) {
        pthread_join(tid[i], NULL);
        ok += w[i].ok;
        bad += w[i].pending_errors;
        bytes += w[i].bytes;
        ns[i] = w[i].ns_per_op;
    }
    if (linger_ms) usleep((useconds_t)linger_ms * 1000);
    if (child > 0) {
        int status = 0;
        waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) FAIL("forked child failed");
    }
    int err = 0;
    if (T.lpWSPCleanup(&err) != 0) FAIL("WSPCleanup: %d", err);
    printf("san_loop: mode %s, %d threads x %ld ops of %d bytes: %ld ok, %ld failed, %llu bytes, %llu upcall "
           "completions\n", mode, n_threads, n_ops * (bench > 0 ? bench : 1), size, ok, bad,
           (unsigned long long)bytes, (unsigned long long)san_host_completions);
    if (bench) {
        double sum = 0, p50 = 0, p99 = 0, b50 = 0;
        for (int i = 0; i < n_threads; i++) {
            sum += ns[i];
            p50 += w[i].p50_ns;
            p99 += w[i].p99_ns;
            b50 += w[i].batch_p50_ns;
        }
        printf("bench: ns_per_op %.2f call_p50 %.1f call_p99 %.1f batch16_p50 %.2f\n", sum / n_threads,
               p50 / n_threads, p99 / n_threads, b50 / n_threads);
    }
    return bad == 0 ? 0 : 1;
}
