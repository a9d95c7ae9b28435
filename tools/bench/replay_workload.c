/*
 * replay_workload.c — the workload the replay benchmark records (tools/bench/replay): a minimal
 * C switch that loads a provider by path (libsantrace.so in layered mode, with
 * SANTRACE_PROVIDER naming the real one), opens a listener and a connection to it on one
 * thread, registers a buffer, then makes N rounds of WSPSend (poll mode) + WSPGetOverlappedResult,
 * optionally spacing every call by GAP microseconds (a spin on the monotonic clock), and closes.
 *
 *   replay_workload PROVIDER.so [--ops N] [--gap-us G] [--size BYTES] [--port P]
 *
 * Built by tools/bench/replay with cc; uses only Sources/CSanABI/include.
 */
#define _GNU_SOURCE
#include <CSanABI.h>
#include <san_c_host.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL(...) do { fprintf(stderr, "replay_workload: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static WSPPROC_TABLE T;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_at;
static uint64_t gap_ns;
static void pace(void) {
    if (!gap_ns) return;
    next_at += gap_ns;
    while (now_ns() < next_at) {}
}

int main(int argc, char **argv) {
    if (argc < 2) FAIL("usage: replay_workload PROVIDER.so [--ops N] [--gap-us G] [--size BYTES] [--port P]");
    long ops = 100000;
    int size = 64, port = 47001;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--ops") && i + 1 < argc) ops = atol(argv[++i]);
        else if (!strcmp(argv[i], "--gap-us") && i + 1 < argc) gap_ns = (uint64_t)atol(argv[++i]) * 1000;
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else FAIL("unknown argument %s", argv[i]);
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) FAIL("dlopen %s: %s", argv[1], dlerror());
    LPWSPSTARTUPEX startup = (LPWSPSTARTUPEX)dlsym(lib, "WSPStartupEx");
    if (!startup) FAIL("no WSPStartupEx in %s", argv[1]);
    WSPUPCALLTABLEEX up;
    san_host_upcalls(&up);
    WSPDATA data;
    WSAPROTOCOL_INFOW info = {0};
    info.iAddressFamily = AF_INET;
    int rc = startup(0x0202, &data, &info, &up, &T);
    if (rc != 0) FAIL("WSPStartupEx: %d", rc);
    GUID gr = WSAID_REGISTERMEMORY, gd = WSAID_DEREGISTERMEMORY;
    LPFN_WSPREGISTERMEMORY reg = NULL;
    LPFN_WSPDEREGISTERMEMORY dereg = NULL;
    int err = 0;
    reg = (LPFN_WSPREGISTERMEMORY)san_host_extension(&T, gr, &err);
    dereg = (LPFN_WSPDEREGISTERMEMORY)san_host_extension(&T, gd, &err);
    if (!reg || !dereg) FAIL("registration extensions missing");

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    SOCKET l = T.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, &info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (l == INVALID_SOCKET || T.lpWSPBind(l, (struct sockaddr *)&addr, sizeof addr, &err) != 0 ||
        T.lpWSPListen(l, 4, &err) != 0)
        FAIL("listener: %d", err);
    SOCKET s = T.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, &info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) FAIL("WSPSocket: %d", err);
    if (T.lpWSPConnect(s, (struct sockaddr *)&addr, sizeof addr, NULL, NULL, NULL, NULL, &err) != 0 && err != WSAEWOULDBLOCK)
        FAIL("WSPConnect: %d", err);
    struct sockaddr_in peer;
    int plen = sizeof peer;
    SOCKET a = T.lpWSPAccept(l, (struct sockaddr *)&peer, &plen, NULL, 0, &err);
    if (a == INVALID_SOCKET) FAIL("WSPAccept: %d", err);
    char *buf = aligned_alloc(4096, (size_t)(size + 4095) / 4096 * 4096);
    memset(buf, 0x5a, (size_t)size);
    HANDLE h = reg(s, buf, (DWORD)size, MEM_READWRITE, &err);
    if (!h) FAIL("WSPRegisterMemory: %d", err);
    WSABUF b = {(ULONG)size, buf};
    WSAOVERLAPPED ov;
    next_at = now_ns();
    uint64_t t0 = now_ns();
    for (long i = 0; i < ops; i++) {
        DWORD bytes = 0, flags = 0;
        memset(&ov, 0, sizeof ov);
        ov.hEvent = (HANDLE)(uintptr_t)1;
        pace();
        rc = T.lpWSPSend(s, &b, 1, &bytes, 0, &ov, NULL, NULL, &err);
        if (rc != SOCKET_ERROR || err != WSA_IO_PENDING) FAIL("WSPSend: %d %d", rc, err);
        pace();
        while (!T.lpWSPGetOverlappedResult(s, &ov, &bytes, FALSE, &flags, &err)) {
            if (err != WSA_IO_INCOMPLETE) FAIL("WSPGetOverlappedResult: %d", err);
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    dereg(s, h, &err);
    T.lpWSPCloseSocket(s, &err);
    T.lpWSPCloseSocket(a, &err);
    T.lpWSPCloseSocket(l, &err);
    T.lpWSPCleanup(&err);
    printf("%ld rounds (%ld calls) in %.3f s: %.0f calls/s\n", ops, 2 * ops, secs, 2.0 * (double)ops / secs);
    return 0;
}
