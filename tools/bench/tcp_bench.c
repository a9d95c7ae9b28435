/*
 * tcp_bench.c — the tcp provider against raw TCP on loopback, same run, two processes.
 *
 *   8-byte ping-pong: WSPSend + WSPRecv + WSPGetOverlappedResult(fWait TRUE) round trips
 *                     vs write(8) + read(8) on a TCP_NODELAY socket pair.
 *   RDMA write bandwidth: WSPRdmaWrite of 1 MiB blocks (a window of 8 outstanding) into a
 *                     registered 1 MiB region, ended by a "done" send that the target answers
 *                     (so every byte is in target memory) vs write(1 MiB) / read into 1 MiB.
 *   Idle target:      the target application waits for an 8-byte "go" message
 *                     (WSPGetOverlappedResult, fWait TRUE), then calls nothing for 3 ms; the
 *                     initiator sends "go" and at once RDMA-reads (or writes) 8 bytes and waits
 *                     for the completion. Served without the target application: the time is
 *                     what the provider's progress thread adds once the waiter let go.
 *
 * Each measurement runs --repeats times, alternating provider and raw TCP; the medians are
 * printed. Uses only the CSanABI headers and the harness upcall table (Tests/CHarness/include/san_c_host.h).
 *
 *   tools/bench/tcp-bench            (builds in release and runs this)
 */
#define _GNU_SOURCE
#include <CSanABI.h>
#include <san_c_host.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, "tcp_bench: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)
#define BLOCK (1u << 20)
#define WINDOW 8

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void wait_event(WSAEVENT ev) {
    if (san_host_wait_event(ev, 10000) != 0) DIE("timed out waiting for a network event");
}

/* ---- The provider as the switch holds it ---- */
typedef struct {
    WSPPROC_TABLE t;
    LPFN_WSPREGISTERMEMORY reg;
    LPFN_WSPREGISTERRDMAMEMORY reg_rdma;
    LPFN_WSPRDMAWRITE rdma_write;
    LPFN_WSPRDMAREAD rdma_read;
    WSAPROTOCOL_INFOW info;
} prov_t;

static void *extension(prov_t *p, GUID guid) {
    int err = 0;
    void *fn = san_host_extension(&p->t, guid, &err);
    if (!fn) DIE("extension lookup failed: %d", err);
    return fn;
}

static void load(prov_t *p, const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) DIE("dlopen: %s", dlerror());
    LPWSPSTARTUPEX startup = (LPWSPSTARTUPEX)dlsym(lib, WSPSTARTUPEX_SYMBOL);
    if (!startup) DIE("no WSPStartupEx");
    static WSPUPCALLTABLEEX up;
    san_host_upcalls(&up);
    WSPDATA data;
    memset(&p->t, 0, sizeof p->t);
    memset(&p->info, 0, sizeof p->info);
    int rc = startup(WSPSTARTUPEX_VERSION, &data, &p->info, &up, &p->t);
    if (rc != 0) DIE("WSPStartupEx: %d", rc);
    p->reg = extension(p, (GUID)WSAID_REGISTERMEMORY);
    p->reg_rdma = extension(p, (GUID)WSAID_REGISTERRDMAMEMORY);
    p->rdma_write = extension(p, (GUID)WSAID_RDMAWRITE);
    p->rdma_read = extension(p, (GUID)WSAID_RDMAREAD);
}

static void ov_init(WSAOVERLAPPED *ov) { memset(ov, 0, sizeof *ov); ov->hEvent = (HANDLE)(uintptr_t)1; }

static DWORD ov_wait(prov_t *p, SOCKET s, WSAOVERLAPPED *ov) {
    DWORD bytes = 0, flags = 0;
    int err = 0;
    if (!p->t.lpWSPGetOverlappedResult(s, ov, &bytes, TRUE, &flags, &err)) DIE("operation failed: %d", err);
    return bytes;
}

static void post_recv(prov_t *p, SOCKET s, char *buf, DWORD len, WSAOVERLAPPED *ov) {
    WSABUF b = {len, buf};
    DWORD n = 0, flags = 0;
    int err = 0;
    ov_init(ov);
    if (p->t.lpWSPRecv(s, &b, 1, &n, &flags, ov, NULL, NULL, &err) != 0 && err != WSA_IO_PENDING) DIE("WSPRecv: %d", err);
}

static void post_send(prov_t *p, SOCKET s, char *buf, DWORD len, WSAOVERLAPPED *ov) {
    WSABUF b = {len, buf};
    DWORD n = 0;
    int err = 0;
    ov_init(ov);
    if (p->t.lpWSPSend(s, &b, 1, &n, 0, ov, NULL, NULL, &err) != 0 && err != WSA_IO_PENDING) DIE("WSPSend: %d", err);
}

/* ---- Connection setup ---- */
static SOCKET san_listen(prov_t *p, uint16_t *port, WSAEVENT ev) {
    int err = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    SOCKET ls = p->t.lpWSPSocket(AF_INET, SOCK_STREAM, 0, &p->info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (ls == INVALID_SOCKET || p->t.lpWSPBind(ls, (struct sockaddr *)&a, sizeof a, &err) != 0 ||
        p->t.lpWSPListen(ls, 4, &err) != 0) DIE("listen: %d", err);
    int len = sizeof a;
    if (p->t.lpWSPGetSockName(ls, (struct sockaddr *)&a, &len, &err) != 0) DIE("getsockname: %d", err);
    if (p->t.lpWSPEventSelect(ls, ev, FD_ACCEPT, &err) != 0) DIE("eventselect: %d", err);
    *port = ntohs(a.sin_port);
    return ls;
}

static SOCKET san_connect(prov_t *p, uint16_t port) {
    int err = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    SOCKET s = p->t.lpWSPSocket(AF_INET, SOCK_STREAM, 0, &p->info, 0, WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) DIE("socket: %d", err);
    if (p->t.lpWSPConnect(s, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &err) != 0) DIE("connect: %d", err);
    return s;
}

static int raw_listen(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) || getsockname(fd, (struct sockaddr *)&a, &len))
        DIE("raw listen");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *port = ntohs(a.sin_port);
    return fd;
}

static void nodelay(int fd) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }

static void full_write(int fd, const char *b, size_t n) {
    while (n) { ssize_t k = write(fd, b, n); if (k <= 0) DIE("write"); b += k; n -= (size_t)k; }
}
static void full_read(int fd, char *b, size_t n) {
    while (n) { ssize_t k = read(fd, b, n); if (k <= 0) DIE("read"); b += k; n -= (size_t)k; }
}

/* ---- The measurements (client side times them; the server mirrors) ---- */
static double raw_pingpong(int fd, int client, int iters) {
    char b[8] = {0};
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        if (client) { full_write(fd, b, 8); full_read(fd, b, 8); }
        else { full_read(fd, b, 8); full_write(fd, b, 8); }
    }
    return (now_s() - t0) / iters * 1e6;
}

static double san_pingpong(prov_t *p, SOCKET s, char *out, char *in, int client, int iters) {
    WSAOVERLAPPED rov, sov;
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        post_recv(p, s, in, 8, &rov);
        if (client) {
            post_send(p, s, out, 8, &sov);
            if (ov_wait(p, s, &rov) != 8) DIE("short ping");
            ov_wait(p, s, &sov);
        } else {
            if (ov_wait(p, s, &rov) != 8) DIE("short ping");
            post_send(p, s, out, 8, &sov);
            ov_wait(p, s, &sov);
        }
    }
    return (now_s() - t0) / iters * 1e6;
}

static double raw_bandwidth(int fd, char *buf, int client, int blocks) {
    double t0 = now_s();
    for (int i = 0; i < blocks; i++) {
        if (client) full_write(fd, buf, BLOCK); else full_read(fd, buf, BLOCK);
    }
    char ack = 1;
    if (client) full_read(fd, &ack, 1); else full_write(fd, &ack, 1);
    return (double)blocks * BLOCK / (now_s() - t0) / 1e9;
}

/* Client: writes `blocks` MiB into the server's region, then "done"; the server answers. */
static double san_bandwidth(prov_t *p, SOCKET s, char *src, HANDLE h, const unsigned char *desc, DWORD dlen,
                            char *ctl_out, char *ctl_in, int client, int blocks) {
    WSAOVERLAPPED ovs[WINDOW], rov, sov;
    double t0 = now_s();
    if (client) {
        for (int i = 0; i < blocks; i++) {
            WSAOVERLAPPED *ov = &ovs[i % WINDOW];
            if (i >= WINDOW) ov_wait(p, s, ov);
            ov_init(ov);
            WSABUFEX b = {BLOCK, src, h};
            DWORD n = 0;
            int err = 0;
            if (p->rdma_write(s, &b, 1, (void *)desc, dlen, 0, &n, 0, ov, NULL, NULL, &err) != 0 && err != WSA_IO_PENDING)
                DIE("WSPRdmaWrite: %d", err);
        }
        for (int i = blocks > WINDOW ? blocks - WINDOW : 0; i < blocks; i++) ov_wait(p, s, &ovs[i % WINDOW]);
        post_recv(p, s, ctl_in, 8, &rov);
        post_send(p, s, ctl_out, 8, &sov);
        ov_wait(p, s, &rov);
        ov_wait(p, s, &sov);
    } else {
        post_recv(p, s, ctl_in, 8, &rov);
        ov_wait(p, s, &rov);
        post_send(p, s, ctl_out, 8, &sov);
        ov_wait(p, s, &sov);
    }
    return (double)blocks * BLOCK / (now_s() - t0) / 1e9;
}

/* One 8-byte RDMA read or write of the target's region, waited for; its time in µs. */
static double san_rdma8(prov_t *p, SOCKET s, char *local, HANDLE h, const unsigned char *desc, DWORD dlen, int write) {
    WSAOVERLAPPED ov;
    WSABUFEX b = {8, local, h};
    DWORD n = 0;
    int err = 0;
    ov_init(&ov);
    double t0 = now_s();
    int rc = write ? p->rdma_write(s, &b, 1, (void *)desc, dlen, 64, &n, 0, &ov, NULL, NULL, &err)
                   : p->rdma_read(s, &b, 1, (void *)desc, dlen, 64, &n, 0, &ov, NULL, NULL, &err);
    if (rc != 0 && err != WSA_IO_PENDING) DIE("%s: %d", write ? "WSPRdmaWrite" : "WSPRdmaRead", err);
    ov_wait(p, s, &ov);
    return (now_s() - t0) * 1e6;
}

static int cmp_double(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static double median(double *v, int n) { qsort(v, (size_t)n, sizeof *v, cmp_double); return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2; }

#define IDLE_US 3000
/* The idle-target measurement (see the top): the client's medians of the first RDMA read and
 * the first RDMA write after "go" (alternating which goes first), in µs. */
static void san_idle(prov_t *p, SOCKET s, char *local, HANDLE h, const unsigned char *desc, DWORD dlen, char *out,
                     char *in, int client, int iters, double *read_us, double *write_us) {
    WSAOVERLAPPED rov, sov;
    double *reads = calloc((size_t)iters, sizeof *reads), *writes = calloc((size_t)iters, sizeof *writes);
    int nr = 0, nw = 0;
    for (int i = 0; i < iters; i++) {
        if (client) {
            post_send(p, s, out, 8, &sov);
            int write_first = i & 1;
            double first = san_rdma8(p, s, local, h, desc, dlen, write_first);
            (void)san_rdma8(p, s, local, h, desc, dlen, !write_first);
            if (write_first) writes[nw++] = first; else reads[nr++] = first;
            ov_wait(p, s, &sov);
            post_recv(p, s, in, 8, &rov); /* "next": the target is about to wait again */
            ov_wait(p, s, &rov);
        } else {
            post_recv(p, s, in, 8, &rov);
            ov_wait(p, s, &rov);
            usleep(IDLE_US);
            post_send(p, s, out, 8, &sov);
            ov_wait(p, s, &sov);
        }
    }
    *read_us = nr ? median(reads, nr) : 0;
    *write_us = nw ? median(writes, nw) : 0;
    free(reads);
    free(writes);
}

int main(int argc, char **argv) {
    if (argc < 2) DIE("usage: tcp_bench PROVIDER.so [iterations] [repeats] [mib]");
    const char *path = argv[1];
    int iters = argc > 2 ? atoi(argv[2]) : 20000;
    int repeats = argc > 3 ? atoi(argv[3]) : 7;
    int mib = argc > 4 ? atoi(argv[4]) : 1024;
    /* Optional fifth argument: run only "san-ping", "raw-ping", "san-bw", "raw-bw" or "san-idle"
     * (profiling). */
    const char *only = argc > 5 ? argv[5] : "";
    if (iters <= 0 || repeats <= 0 || repeats > 100 || mib <= 0) DIE("bad arguments");

    int ports[2];
    if (pipe(ports)) DIE("pipe");
    prov_t p;
    pid_t child = fork();
    int client = child == 0;
    load(&p, path);  /* each process loads its own provider */
    char *buf = aligned_alloc(4096, BLOCK), *out = aligned_alloc(4096, 4096), *in = aligned_alloc(4096, 4096);
    memset(buf, 7, BLOCK);
    memset(out, 1, 4096);
    SOCKET s;
    int raw;
    if (!client) {
        WSAEVENT ev = san_host_create_event(&(int){0});
        uint16_t sp, rp;
        SOCKET ls = san_listen(&p, &sp, ev);
        int rl = raw_listen(&rp);
        uint16_t both[2] = {sp, rp};
        full_write(ports[1], (char *)both, sizeof both);
        wait_event(ev);
        WSANETWORKEVENTS ne;
        int err = 0;
        p.t.lpWSPEnumNetworkEvents(ls, ev, &ne, &err);
        s = p.t.lpWSPAccept(ls, NULL, NULL, san_host_accept_all, 0, &err);
        if (s == INVALID_SOCKET) DIE("accept: %d", err);
        raw = accept(rl, NULL, NULL);
        nodelay(raw);
    } else {
        uint16_t both[2];
        full_read(ports[0], (char *)both, sizeof both);
        s = san_connect(&p, both[0]);
        raw = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(both[1]), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(raw, (struct sockaddr *)&a, sizeof a)) DIE("raw connect");
        nodelay(raw);
    }
    int err = 0;
    HANDLE hbuf = p.reg(s, buf, BLOCK, MEM_READWRITE, &err);
    HANDLE hout = p.reg(s, out, 4096, MEM_READ, &err);
    HANDLE hin = p.reg(s, in, 4096, MEM_WRITE, &err);
    if (!hbuf || !hout || !hin) DIE("register: %d", err);
    (void)hout;
    (void)hin;
    /* The server exposes its 1 MiB buffer and sends the descriptor. */
    unsigned char desc[256];
    DWORD dlen = sizeof desc;
    WSAOVERLAPPED ov, ov2;
    if (!client) {
        if (p.reg_rdma(s, buf, BLOCK, MEM_READWRITE, desc, &dlen, &err) != 0) DIE("register rdma: %d", err);
        memcpy(out, &dlen, 4);
        memcpy(out + 4, desc, dlen);
        post_send(&p, s, out, 4 + dlen, &ov);
        ov_wait(&p, s, &ov);
    } else {
        post_recv(&p, s, in, 4096, &ov2);
        ov_wait(&p, s, &ov2);
        memcpy(&dlen, in, 4);
        memcpy(desc, in + 4, dlen);
    }

    /* Warm-up, then alternate provider and raw TCP. */
#define RUN(name) (!*only || strcmp(only, name) == 0)
    if (RUN("san-ping")) san_pingpong(&p, s, out, in, client, 1000);
    if (RUN("raw-ping")) raw_pingpong(raw, client, 1000);
    double lat_san[100] = {0}, lat_raw[100] = {0}, bw_san[100] = {0}, bw_raw[100] = {0};
    double idle_read[100] = {0}, idle_write[100] = {0};
    for (int r = 0; r < repeats; r++) {
        if (RUN("san-ping")) lat_san[r] = san_pingpong(&p, s, out, in, client, iters);
        if (RUN("raw-ping")) lat_raw[r] = raw_pingpong(raw, client, iters);
        if (RUN("san-bw")) bw_san[r] = san_bandwidth(&p, s, buf, hbuf, desc, dlen, out, in, client, mib);
        if (RUN("raw-bw")) bw_raw[r] = raw_bandwidth(raw, buf, client, mib);
        if (RUN("san-idle")) san_idle(&p, s, buf, hbuf, desc, dlen, out, in, client, 40, &idle_read[r], &idle_write[r]);
    }
    if (client) {
        double ls = median(lat_san, repeats), lr = median(lat_raw, repeats);
        double bs = median(bw_san, repeats), br = median(bw_raw, repeats);
        printf("tcp_bench: %s, %d repeats (medians)\n", path, repeats);
        printf("  8-byte ping-pong round trip: provider %.2f us, raw TCP %.2f us, ratio %.2f (target <= 1.5)\n", ls, lr, ls / lr);
        printf("  1 MiB RDMA write bandwidth:  provider %.2f GB/s, raw TCP %.2f GB/s, ratio %.2f (target >= 0.8)\n", bs, br, bs / br);
        printf("  idle target (%d ms without calls after its wait): first 8-byte RDMA read %.1f us, first 8-byte "
               "RDMA write %.1f us\n", IDLE_US / 1000, median(idle_read, repeats), median(idle_write, repeats));
        fflush(stdout);
        return 0;
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
