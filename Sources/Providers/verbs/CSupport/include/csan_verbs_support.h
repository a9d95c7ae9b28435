/*
 * csan_verbs_support.h — the Linux interfaces the verbs provider needs that Swift's Glibc module
 * does not export: epoll (the progress thread waits on the completion channel and on each
 * connection's side-channel socket) and eventfd (cancelling a blocking connect or accept).
 * Headers only; nothing here has a symbol of its own.
 */
#ifndef CSAN_VERBS_SUPPORT_H
#define CSAN_VERBS_SUPPORT_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdint.h>

/* epoll_event is packed on x86-64; these keep Swift away from its layout. */
static inline int csan_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
static inline int csan_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0); }

/* Waits for at most `max` events and stores their tags; returns the count or -1 (errno). */
static inline int csan_epoll_wait_tags(int epfd, uint64_t *tags, int max) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, evs, max, -1);
    for (int i = 0; i < n; i++) tags[i] = evs[i].data.u64;
    return n;
}

#endif /* CSAN_VERBS_SUPPORT_H */
