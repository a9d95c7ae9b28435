/* The two calls of csan_tcp.h that need _GNU_SOURCE (see the header). */
#define _GNU_SOURCE
#include <pthread.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
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
