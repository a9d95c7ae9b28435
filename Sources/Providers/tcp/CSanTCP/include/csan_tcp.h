/*
 * csan_tcp.h — the Linux calls the tcp provider needs that Swift's Glibc module does not import
 * (epoll, eventfd, getrandom, getifaddrs, TCP_NODELAY) or imports awkwardly (x86-64's packed
 * `struct epoll_event`, variadic fcntl), as small static inline functions.
 *
 * Why C: `struct epoll_event` is `__attribute__((packed))` on x86-64, and Swift's Glibc module map
 * leaves out <sys/epoll.h>, <sys/eventfd.h> and <sys/random.h>. Every function returns the raw
 * result and leaves errno for the caller (Sources/Providers/tcp/Provider/Syscalls.swift), which is
 * the only Swift file that calls them.
 */
#ifndef CSAN_TCP_H
#define CSAN_TCP_H


#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* errno of the calling thread (Swift reads it right after the call, with nothing in between). */
static inline int csan_tcp_errno(void) { return errno; }

/* ---- epoll: the progress thread's readiness source. Tokens are 64-bit ids, never pointers. ---- */
static inline int csan_tcp_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int csan_tcp_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev);
}
/* Waits up to `timeout_ns` (< 0: forever) and unpacks up to `max` events into two plain arrays.
 * Uses epoll_pwait2 (Linux 5.11) for its nanosecond timeout; where the kernel lacks it the
 * timeout is rounded up to milliseconds. In shim.c (the raw system call number). */
int csan_tcp_epoll_wait_ns(int epfd, uint32_t *events, uint64_t *tokens, int max, int64_t timeout_ns);
static const int CSAN_TCP_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int CSAN_TCP_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int CSAN_TCP_EPOLL_CTL_DEL = EPOLL_CTL_DEL;
static const uint32_t CSAN_TCP_EPOLLIN = EPOLLIN;
static const uint32_t CSAN_TCP_EPOLLOUT = EPOLLOUT;
static const uint32_t CSAN_TCP_EPOLLERR = EPOLLERR;
static const uint32_t CSAN_TCP_EPOLLHUP = EPOLLHUP;
static const uint32_t CSAN_TCP_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t CSAN_TCP_EPOLLONESHOT = EPOLLONESHOT;

/* ---- eventfd: wakes the progress thread. ---- */
static inline int csan_tcp_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/* ---- getrandom(2): key material. Returns the bytes written or -1. ---- */
static inline ssize_t csan_tcp_getrandom(void *buf, size_t len) { return getrandom(buf, len, 0); }

/* ---- Socket helpers ---- */
static inline int csan_tcp_socket(int af) { return socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }
/* accept4 and pthread_setname_np need _GNU_SOURCE, which this header must not define (it would
 * change glibc's fd_set from the one Swift's Glibc module sees): they live in shim.c. */
int csan_tcp_accept(int fd, struct sockaddr *addr, socklen_t *len);
void csan_tcp_set_thread_name(const char *name);
static inline int csan_tcp_set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}
static inline int csan_tcp_set_nodelay(int fd) { return csan_tcp_set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1); }
/* Abortive close: the next close(2) sends RST instead of FIN (SO_LINGER 0). */
static inline int csan_tcp_set_linger_zero(int fd) {
    struct linger l = {1, 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}
static inline int csan_tcp_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}
static const int CSAN_TCP_MSG_NOSIGNAL = MSG_NOSIGNAL;
static const int CSAN_TCP_MSG_DONTWAIT = MSG_DONTWAIT;

/* sendmsg with MSG_NOSIGNAL (writev would raise SIGPIPE on a reset connection). */
static inline ssize_t csan_tcp_writev(int fd, const struct iovec *iov, int count) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = (size_t)count;
    return sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}
/* recvmsg into an iovec list: MSG_DONTWAIT unless `blocking` (connection sockets are in blocking
 * mode with SO_RCVTIMEO, so only a thread that asks for it sleeps in the kernel). */
static inline ssize_t csan_tcp_recvv(int fd, const struct iovec *iov, int count, int blocking) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = (size_t)count;
    return recvmsg(fd, &m, blocking ? 0 : MSG_DONTWAIT);
}

/* 1 when the peer shut down its side (FIN seen), the connection was reset or failed; 0 while it
 * may still send. Does not wait. */
int csan_tcp_peer_ended(int fd);

/* Blocking mode with a receive timeout: what a connection socket uses once established. */
int csan_tcp_set_blocking(int fd, int receive_timeout_ms);

/* poll(2) on one descriptor; returns revents, 0 on timeout, -1 on error. */
static inline int csan_tcp_poll_one(int fd, short events, int timeout_ms) {
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, timeout_ms);
    return n <= 0 ? n : p.revents;
}

/* ---- Interface addresses (SIO_ADDRESS_LIST_QUERY) ---- */
static const unsigned CSAN_TCP_IFF_UP = IFF_UP;

#ifdef __cplusplus
}
#endif
#endif /* CSAN_TCP_H */
