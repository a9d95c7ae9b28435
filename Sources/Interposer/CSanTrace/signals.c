/*
 * signals.c — flush on SIGINT/SIGTERM without running Swift in a signal handler. The handler
 * (async-signal-safe: atomics, nanosleep, sigaction, raise) asks the drain thread for a flush,
 * waits up to 2 s for its acknowledgement, then does what the program would have done: calls the
 * previous handler, ignores the signal, or restores the default action and re-raises it so the
 * process dies as it would have. The drain thread blocks these signals so it is never the one
 * interrupted.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <time.h>
#include "trace_internal.h"

static struct sigaction previous[2];
static const int handled[2] = {SIGINT, SIGTERM};
static uint64_t flush_requests, flush_acks;

static void on_signal(int sig, siginfo_t *info, void *uctx) {
    int i = sig == SIGINT ? 0 : 1;
    uint64_t want = __atomic_add_fetch(&flush_requests, 1, __ATOMIC_SEQ_CST);
    for (int n = 0; n < 2000 && __atomic_load_n(&flush_acks, __ATOMIC_ACQUIRE) < want; n++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct sigaction *old = &previous[i];
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) old->sa_sigaction(sig, info, uctx);
        return;
    }
    if (old->sa_handler == SIG_IGN) return;
    if (old->sa_handler == SIG_DFL) {
        sigaction(sig, old, NULL);
        raise(sig); /* delivered when this handler returns (the signal is blocked until then) */
        return;
    }
    old->sa_handler(sig);
}

void csan_signals_install(void) {
    for (int i = 0; i < 2; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        struct sigaction old;
        if (sigaction(handled[i], NULL, &old) != 0) continue;
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) continue; /* ignored stays ignored */
        previous[i] = old;
        sigaction(handled[i], &sa, NULL);
    }
}

void csan_signals_block_in_this_thread(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

uint64_t csan_signal_flush_requests(void) { return __atomic_load_n(&flush_requests, __ATOMIC_ACQUIRE); }
void csan_signal_flush_ack(uint64_t upto) { __atomic_store_n(&flush_acks, upto, __ATOMIC_RELEASE); }
