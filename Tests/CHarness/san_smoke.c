/*
 * san_smoke.c — a plain C switch using only the CSanABI headers (and the harness's upcall table,
 * include/san_c_host.h, plain C over the same headers): it loads a provider
 * .so with dlopen, calls WSPStartupEx(0x0202) with its own upcall table, fetches the seven
 * extensions through WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER), checks the 17 required slots,
 * then connects a socket pair over the provider (listen + nonblocking connect + accept with a
 * condition function), registers memory, RDMA-writes into the peer's region and, when the
 * provider moves data, checks that the bytes arrived.
 *
 *   cc -I Sources/CSanABI/include -I Tests/CHarness/include Tests/CHarness/san_smoke.c -o san_smoke -ldl -lpthread
 *   ./san_smoke .build/debug/libsan_tcp.so [--expect-data]
 *
 * Exit 0 on success; otherwise a line saying which step failed.
 */
#define _GNU_SOURCE
#include <CSanABI.h>
#include <san_c_host.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAIL(...) do { fprintf(stderr, "san_smoke: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static void wait_event(WSAEVENT ev) {
    if (san_host_wait_event(ev, 10000) != 0) FAIL("timed out waiting for a network event");
}

static void *extension(WSPPROC_TABLE *t, GUID guid, const char *name, int required) {
    int err = 0;
    void *fn = san_host_extension(t, guid, &err);
    if (!fn && (required || err != WSAEOPNOTSUPP)) FAIL("WSPIoctl(%s) failed with %d", name, err);
    return fn;
}

int main(int argc, char **argv) {
    if (argc < 2) FAIL("usage: san_smoke PROVIDER.so [--expect-data]");
    int expect_data = argc > 2 && strcmp(argv[2], "--expect-data") == 0;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) FAIL("dlopen: %s", dlerror());
    LPWSPSTARTUPEX startup = (LPWSPSTARTUPEX)dlsym(lib, WSPSTARTUPEX_SYMBOL);
    if (!startup) FAIL("%s exports no WSPStartupEx", argv[1]);

    WSPUPCALLTABLEEX up;
    san_host_upcalls(&up);
    WSPDATA data;
    WSAPROTOCOL_INFOW info = {0};
    WSPPROC_TABLE t;
    memset(&t, 0, sizeof t);
    int rc = startup(WSPSTARTUPEX_VERSION, &data, &info, &up, &t);
    if (rc != 0) FAIL("WSPStartupEx returned %d", rc);
    void **slots = (void **)&t;
    const int required[] = {0, 3, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 18, 19, 23, 26, 28};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!slots[required[i]]) FAIL("required proc-table slot %d is NULL", required[i]);

    LPFN_WSPREGISTERMEMORY reg = extension(&t, (GUID)WSAID_REGISTERMEMORY, "RegisterMemory", 1);
    LPFN_WSPDEREGISTERMEMORY dereg = extension(&t, (GUID)WSAID_DEREGISTERMEMORY, "DeregisterMemory", 1);
    LPFN_WSPREGISTERRDMAMEMORY reg_rdma = extension(&t, (GUID)WSAID_REGISTERRDMAMEMORY, "RegisterRdmaMemory", 1);
    LPFN_WSPDEREGISTERRDMAMEMORY dereg_rdma = extension(&t, (GUID)WSAID_DEREGISTERRDMAMEMORY, "DeregisterRdmaMemory", 1);
    LPFN_WSPRDMAWRITE rdma_write = extension(&t, (GUID)WSAID_RDMAWRITE, "RdmaWrite", 1);
    (void)extension(&t, (GUID)WSAID_RDMAREAD, "RdmaRead", 0);
    (void)extension(&t, (GUID)WSAID_MEMORYREGISTRATIONCACHECALLBACK, "CacheCallback", 0);

    /* Listener on an ephemeral loopback port, then a nonblocking connect (FD_CONNECT selected). */
    int err = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    SOCKET ls = t.lpWSPSocket(AF_INET, SOCK_STREAM, 0, &info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (ls == INVALID_SOCKET) FAIL("WSPSocket: %d", err);
    if (t.lpWSPBind(ls, (struct sockaddr *)&addr, sizeof addr, &err) != 0) FAIL("WSPBind: %d", err);
    if (t.lpWSPListen(ls, 4, &err) != 0) FAIL("WSPListen: %d", err);
    if (t.lpWSPGetSockName) {
        int len = sizeof addr;
        if (t.lpWSPGetSockName(ls, (struct sockaddr *)&addr, &len, &err) != 0) FAIL("WSPGetSockName: %d", err);
    }
    WSAEVENT accept_ev = san_host_create_event(&err), connect_ev = san_host_create_event(&err);
    if (t.lpWSPEventSelect(ls, accept_ev, FD_ACCEPT, &err) != 0) FAIL("WSPEventSelect(FD_ACCEPT): %d", err);
    SOCKET cs = t.lpWSPSocket(AF_INET, SOCK_STREAM, 0, &info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (t.lpWSPEventSelect(cs, connect_ev, FD_CONNECT, &err) != 0) FAIL("WSPEventSelect(FD_CONNECT): %d", err);
    rc = t.lpWSPConnect(cs, (struct sockaddr *)&addr, sizeof addr, NULL, NULL, NULL, NULL, &err);
    if (rc != 0 && err != WSAEWOULDBLOCK) FAIL("WSPConnect: %d", err);
    wait_event(accept_ev);
    WSANETWORKEVENTS ne;
    if (t.lpWSPEnumNetworkEvents(ls, accept_ev, &ne, &err) != 0 || !(ne.lNetworkEvents & FD_ACCEPT)) FAIL("no FD_ACCEPT");
    SOCKET as = t.lpWSPAccept(ls, NULL, NULL, san_host_accept_all, 0, &err);
    if (as == INVALID_SOCKET) FAIL("WSPAccept: %d", err);
    if (rc != 0) {
        wait_event(connect_ev);
        if (t.lpWSPEnumNetworkEvents(cs, connect_ev, &ne, &err) != 0 || !(ne.lNetworkEvents & FD_CONNECT))
            FAIL("no FD_CONNECT");
        if (ne.iErrorCode[FD_CONNECT_BIT] != 0) FAIL("connect failed: %d", ne.iErrorCode[FD_CONNECT_BIT]);
    }

    /* The accepting side exposes 4 KiB for RDMA write; the connecting side writes 1 KiB at offset 100. */
    static char target[4096], source[1024];
    memset(target, 0, sizeof target);
    for (size_t i = 0; i < sizeof source; i++) source[i] = (char)(i * 7 + 3);
    DWORD dlen = 0;
    if (reg_rdma(as, target, sizeof target, MEM_WRITE, NULL, &dlen, &err) == 0 || err != WSAEFAULT || dlen == 0)
        FAIL("descriptor size probe: expected WSAEFAULT and a size, got err %d size %u", err, dlen);
    unsigned char desc[256];
    if (dlen > sizeof desc) FAIL("descriptor of %u bytes", dlen);
    if (reg_rdma(as, target, sizeof target, MEM_WRITE, desc, &dlen, &err) != 0) FAIL("WSPRegisterRdmaMemory: %d", err);
    HANDLE h = reg(cs, source, sizeof source, MEM_READ, &err);
    if (!h) FAIL("WSPRegisterMemory: %d", err);
    WSABUFEX b = {sizeof source, source, h};
    WSAOVERLAPPED ov = {0};
    ov.hEvent = (HANDLE)(uintptr_t)1; /* poll WSPGetOverlappedResult */
    DWORD bytes = 0, flags = 0;
    rc = rdma_write(cs, &b, 1, desc, dlen, 100, &bytes, 0, &ov, NULL, NULL, &err);
    if (rc != 0 && err != WSA_IO_PENDING) FAIL("WSPRdmaWrite: %d", err);
    if (!t.lpWSPGetOverlappedResult(cs, &ov, &bytes, TRUE, &flags, &err)) FAIL("RDMA write completed with %d", err);
    if (bytes != sizeof source) FAIL("RDMA write reported %u bytes", bytes);
    if (expect_data) {
        /* Completion of a write means the bytes left; give the target's progress thread a moment. */
        for (int i = 0; i < 1000 && memcmp(target + 100, source, sizeof source) != 0; i++) usleep(1000);
        if (memcmp(target + 100, source, sizeof source) != 0) FAIL("target region does not hold the written bytes");
    }
    if (dereg(cs, h, &err) != 0) FAIL("WSPDeregisterMemory: %d", err);
    if (dereg_rdma(as, desc, dlen, &err) != 0) FAIL("WSPDeregisterRdmaMemory: %d", err);
    t.lpWSPCloseSocket(cs, &err);
    t.lpWSPCloseSocket(as, &err);
    t.lpWSPCloseSocket(ls, &err);
    if (t.lpWSPCleanup(&err) != 0) FAIL("WSPCleanup: %d", err);
    printf("san_smoke: %s: startup, 7 extensions, connect/accept, registration, RDMA write of %u bytes%s: ok\n",
           argv[1], bytes, expect_data ? " (data verified)" : "");
    return 0;
}
