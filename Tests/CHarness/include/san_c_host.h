/* A minimal switch for the C programs that drive a provider directly (Tests/CHarness, tools/bench):
 * the upcall table a caller owes WSPStartupEx, and the extension look-up. Plain C over the ABI
 * headers only; header-only (static inline functions) so each program stays one `cc` command.
 *
 *   WSAEVENTs    eventfd-backed, as the switch's; set/reset tolerate NULL (no event)
 *   sockets      WPUCreateSocketHandle hands back the provider's context with a tag, so
 *                WPUQuerySocketHandleContext needs no table
 *   completion   WPUCompleteOverlappedRequest publishes bytes and error, then clears Internal
 *                (release), what a caller polling the WSAOVERLAPPED waits for; counted in
 *                san_host_completions
 */
#ifndef SAN_C_HOST_H
#define SAN_C_HOST_H

#include <CSanABI.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct { int fd; } san_host_event;

/* Completion upcalls seen (relaxed: a statistic). */
static uint64_t san_host_completions;

static inline WSAEVENT san_host_create_event(LPINT err) {
    san_host_event *e = calloc(1, sizeof *e);
    if (!e) { *err = WSAENOBUFS; return NULL; }
    e->fd = eventfd(0, EFD_NONBLOCK);
    *err = 0;
    return e;
}
static inline BOOL san_host_close_event(WSAEVENT ev, LPINT err) {
    if (ev) { close(((san_host_event *)ev)->fd); free(ev); }
    *err = 0;
    return TRUE;
}
static inline BOOL san_host_set_event(WSAEVENT ev, LPINT err) {
    uint64_t one = 1;
    if (ev) (void)!write(((san_host_event *)ev)->fd, &one, 8);
    *err = 0;
    return TRUE;
}
static inline BOOL san_host_reset_event(WSAEVENT ev, LPINT err) {
    uint64_t v;
    if (ev) (void)!read(((san_host_event *)ev)->fd, &v, 8);
    *err = 0;
    return TRUE;
}
static inline SOCKET san_host_create_socket_handle(DWORD catalog, DWORD_PTR context, LPINT err) {
    (void)catalog;
    *err = 0;
    return (SOCKET)context ^ 0x5000000000ull;
}
static inline int san_host_close_socket_handle(SOCKET s, LPINT err) { (void)s; *err = 0; return 0; }
static inline int san_host_query_context(SOCKET s, PDWORD_PTR context, LPINT err) {
    *context = (DWORD_PTR)(s ^ 0x5000000000ull);
    *err = 0;
    return 0;
}
static inline int san_host_complete(SOCKET s, LPWSAOVERLAPPED ov, DWORD error, DWORD bytes, LPINT err) {
    (void)s;
    ov->InternalHigh = bytes;
    ov->OffsetHigh = error;
    __atomic_store_n(&ov->Internal, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&san_host_completions, 1, __ATOMIC_RELAXED);
    *err = 0;
    return 0;
}

/* Fills the eight upcalls a SAN provider may call. */
static inline void san_host_upcalls(WSPUPCALLTABLEEX *up) {
    *up = (WSPUPCALLTABLEEX){0};
    up->lpWPUCreateEvent = san_host_create_event;
    up->lpWPUCloseEvent = san_host_close_event;
    up->lpWPUSetEvent = san_host_set_event;
    up->lpWPUResetEvent = san_host_reset_event;
    up->lpWPUCreateSocketHandle = san_host_create_socket_handle;
    up->lpWPUCloseSocketHandle = san_host_close_socket_handle;
    up->lpWPUQuerySocketHandleContext = san_host_query_context;
    up->lpWPUCompleteOverlappedRequest = san_host_complete;
}

/* Waits up to timeout_ms for the event to be set; 0 when it was, -1 on timeout. */
static inline int san_host_wait_event(WSAEVENT ev, int timeout_ms) {
    struct pollfd p = {((san_host_event *)ev)->fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
}

/* A WSPAccept condition function that accepts every connection. */
static inline int san_host_accept_all(LPWSABUF a, LPWSABUF b, LPQOS c, LPQOS d, LPWSABUF e, LPWSABUF f, GROUP *g,
                               DWORD_PTR h) {
    (void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h;
    return CF_ACCEPT;
}

/* The extension's function pointer through WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER), or NULL
 * with the WSA error in *err (WSAEOPNOTSUPP for an optional extension the provider lacks). */
static inline void *san_host_extension(const WSPPROC_TABLE *t, GUID guid, int *err) {
    void *fn = NULL;
    DWORD got = 0;
    *err = 0;
    if (t->lpWSPIoctl(INVALID_SOCKET, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, &fn, sizeof fn, &got,
                      NULL, NULL, NULL, err) != 0)
        return NULL;
    return fn;
}

#endif
