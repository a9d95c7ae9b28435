/* The calls of csan_tcp.h that need _GNU_SOURCE (see the header). */
#define _GNU_SOURCE
#include <pthread.h>
#include <poll.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include "csan_tcp.h"

int csan_tcp_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void csan_tcp_set_thread_name(const char *name) { (void)pthread_setname_np(pthread_self(), name); }

int csan_tcp_set_blocking(int fd, int receive_timeout_ms) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) return -1;
    struct timeval tv = {receive_timeout_ms / 1000, (receive_timeout_ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int csan_tcp_peer_ended(int fd) {
    struct pollfd p = {fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

int csan_tcp_epoll_wait_ns(int epfd, uint32_t *events, uint64_t *tokens, int max, int64_t timeout_ns) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = -1;
#ifdef SYS_epoll_pwait2
    static atomic_int missing; /* set once the kernel said ENOSYS */
    if (timeout_ns >= 0 && !atomic_load_explicit(&missing, memory_order_relaxed)) {
        struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
        n = (int)syscall(SYS_epoll_pwait2, epfd, evs, max, &ts, NULL, (size_t)0);
        if (n < 0 && errno == ENOSYS) atomic_store_explicit(&missing, 1, memory_order_relaxed);
        else goto unpack;
    }
#endif
    n = epoll_wait(epfd, evs, max, timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000));
#ifdef SYS_epoll_pwait2
unpack:
#endif
    for (int i = 0; i < n; i++) {
        events[i] = evs[i].events;
        tokens[i] = evs[i].data.u64;
    }
    return n;
}
