/*
 * libsan_broken.so — a deliberately incomplete provider for the switch's refusal tests.
 * SAN_BROKEN_MISSING names what it lacks: a proc-table function ("WSPSend"), an extension
 * ("WSPRdmaWrite", "WSPRdmaRead"), or "startup" (WSPStartupEx fails with WSASYSNOTREADY).
 * Everything it has answers WSAEOPNOTSUPP: it only exists to be loaded and refused.
 */
#include <CSanABI.h>
#include <stdlib.h>
#include <string.h>

static const char *missing(void) {
    const char *m = getenv("SAN_BROKEN_MISSING");
    return m ? m : "";
}
static int fail(LPINT e) { if (e) *e = WSAEOPNOTSUPP; return SOCKET_ERROR; }
static SOCKET fail_socket(LPINT e) { if (e) *e = WSAEOPNOTSUPP; return INVALID_SOCKET; }

static SOCKET p_accept(SOCKET s, struct sockaddr *a, LPINT l, LPCONDITIONPROC c, DWORD_PTR d, LPINT e) { (void)s; (void)a; (void)l; (void)c; (void)d; return fail_socket(e); }
static int p_bind(SOCKET s, const struct sockaddr *n, int l, LPINT e) { (void)s; (void)n; (void)l; return fail(e); }
static int p_cleanup(LPINT e) { if (e) *e = 0; return 0; }
static int p_close(SOCKET s, LPINT e) { (void)s; return fail(e); }
static int p_connect(SOCKET s, const struct sockaddr *n, int l, LPWSABUF a, LPWSABUF b, LPQOS q, LPQOS g, LPINT e) { (void)s; (void)n; (void)l; (void)a; (void)b; (void)q; (void)g; return fail(e); }
static int p_dup(SOCKET s, DWORD p, LPWSAPROTOCOL_INFOW i, LPINT e) { (void)s; (void)p; (void)i; return fail(e); }
static int p_enum(SOCKET s, WSAEVENT v, LPWSANETWORKEVENTS n, LPINT e) { (void)s; (void)v; (void)n; return fail(e); }
static int p_select(SOCKET s, WSAEVENT v, LONG n, LPINT e) { (void)s; (void)v; (void)n; return fail(e); }
static BOOL p_gor(SOCKET s, LPWSAOVERLAPPED o, LPDWORD c, BOOL w, LPDWORD f, LPINT e) { (void)s; (void)o; (void)c; (void)w; (void)f; fail(e); return FALSE; }
static int p_getopt(SOCKET s, int l, int n, char *v, LPINT len, LPINT e) { (void)s; (void)l; (void)n; (void)v; (void)len; return fail(e); }
static int p_setopt(SOCKET s, int l, int n, const char *v, int len, LPINT e) { (void)s; (void)l; (void)n; (void)v; (void)len; return fail(e); }
static int p_listen(SOCKET s, int b, LPINT e) { (void)s; (void)b; return fail(e); }
static int p_recv(SOCKET s, LPWSABUF b, DWORD n, LPDWORD r, LPDWORD f, LPWSAOVERLAPPED o, LPWSAOVERLAPPED_COMPLETION_ROUTINE c, LPWSATHREADID t, LPINT e) { (void)s; (void)b; (void)n; (void)r; (void)f; (void)o; (void)c; (void)t; return fail(e); }
static int p_send(SOCKET s, LPWSABUF b, DWORD n, LPDWORD r, DWORD f, LPWSAOVERLAPPED o, LPWSAOVERLAPPED_COMPLETION_ROUTINE c, LPWSATHREADID t, LPINT e) { (void)s; (void)b; (void)n; (void)r; (void)f; (void)o; (void)c; (void)t; return fail(e); }
static SOCKET p_socket(int a, int t, int p, LPWSAPROTOCOL_INFOW i, GROUP g, DWORD f, LPINT e) { (void)a; (void)t; (void)p; (void)i; (void)g; (void)f; return fail_socket(e); }
static HANDLE x_reg(SOCKET s, PVOID b, DWORD l, DWORD f, LPINT e) { (void)s; (void)b; (void)l; (void)f; fail(e); return NULL; }
static int x_dereg(SOCKET s, HANDLE h, LPINT e) { (void)s; (void)h; return fail(e); }
static int x_regr(SOCKET s, PVOID b, DWORD l, DWORD f, LPVOID d, LPDWORD dl, LPINT e) { (void)s; (void)b; (void)l; (void)f; (void)d; (void)dl; return fail(e); }
static int x_deregr(SOCKET s, LPVOID d, DWORD dl, LPINT e) { (void)s; (void)d; (void)dl; return fail(e); }
static int x_rdma(SOCKET s, LPWSABUFEX b, DWORD n, LPVOID d, DWORD dl, DWORD o, LPDWORD r, DWORD f, LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE c, LPWSATHREADID t, LPINT e) { (void)s; (void)b; (void)n; (void)d; (void)dl; (void)o; (void)r; (void)f; (void)ov; (void)c; (void)t; return fail(e); }

static int p_ioctl(SOCKET s, DWORD code, LPVOID in, DWORD inl, LPVOID out, DWORD outl, LPDWORD ret, LPWSAOVERLAPPED o, LPWSAOVERLAPPED_COMPLETION_ROUTINE c, LPWSATHREADID t, LPINT e) {
    (void)s; (void)o; (void)c; (void)t;
    if (code != SIO_GET_EXTENSION_FUNCTION_POINTER || inl < sizeof(GUID) || outl < sizeof(void *)) return fail(e);
    static const struct { GUID g; const char *name; void *fn; } exts[] = {
        {WSAID_REGISTERMEMORY, "WSPRegisterMemory", (void *)x_reg},
        {WSAID_DEREGISTERMEMORY, "WSPDeregisterMemory", (void *)x_dereg},
        {WSAID_REGISTERRDMAMEMORY, "WSPRegisterRdmaMemory", (void *)x_regr},
        {WSAID_DEREGISTERRDMAMEMORY, "WSPDeregisterRdmaMemory", (void *)x_deregr},
        {WSAID_RDMAWRITE, "WSPRdmaWrite", (void *)x_rdma},
        {WSAID_RDMAREAD, "WSPRdmaRead", (void *)x_rdma},
    };
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        if (memcmp(in, &exts[i].g, sizeof(GUID)) != 0) continue;
        if (strcmp(missing(), exts[i].name) == 0) return fail(e);
        memcpy(out, &exts[i].fn, sizeof(void *));
        if (ret) *ret = sizeof(void *);
        if (e) *e = 0;
        return 0;
    }
    return fail(e); /* includes the cache callback: optional, unsupported */
}

int WSPStartupEx(WORD v, LPWSPDATA d, LPWSAPROTOCOL_INFOW i, LPWSPUPCALLTABLEEX u, LPWSPPROC_TABLE t) {
    (void)v; (void)i; (void)u;
    if (strcmp(missing(), "startup") == 0) return WSASYSNOTREADY;
    memset(d, 0, sizeof *d);
    d->wVersion = d->wHighVersion = 0x0202;
    memset(t, 0, sizeof *t);
    t->lpWSPAccept = p_accept; t->lpWSPBind = p_bind; t->lpWSPCleanup = p_cleanup;
    t->lpWSPCloseSocket = p_close; t->lpWSPConnect = p_connect; t->lpWSPDuplicateSocket = p_dup;
    t->lpWSPEnumNetworkEvents = p_enum; t->lpWSPEventSelect = p_select; t->lpWSPGetOverlappedResult = p_gor;
    t->lpWSPGetSockOpt = p_getopt; t->lpWSPIoctl = p_ioctl; t->lpWSPListen = p_listen; t->lpWSPRecv = p_recv;
    t->lpWSPSend = p_send; t->lpWSPSetSockOpt = p_setopt; t->lpWSPSocket = p_socket;
    if (strcmp(missing(), "WSPSend") == 0) t->lpWSPSend = NULL;
    if (strcmp(missing(), "WSPAccept") == 0) t->lpWSPAccept = NULL;
    return 0;
}
