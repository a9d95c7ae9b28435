/* The two calls of csan_tcp.h that need _GNU_SOURCE (see the header). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/socket.h>
#include "csan_tcp.h"

int csan_tcp_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void csan_tcp_set_thread_name(const char *name) { (void)pthread_setname_np(pthread_self(), name); }
