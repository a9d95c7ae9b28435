/*
 * hooks.h — the hand-written parts of a few wrappers (hooks.c), called by generated/csan_wrappers.c
 * around the real call: extension look-ups (wrap the pointer, LOOKUP record), completions
 * (COMPLETION records from WPUCompleteOverlappedRequest and from WSPGetOverlappedResult polls),
 * the receive side table (payload hashed at completion) and the last WSPCleanup.
 */
#ifndef CSAN_HOOKS_H
#define CSAN_HOOKS_H
#include "trace_internal.h"

/* Post hooks get `tsc`, the LEAVE's timestamp: the records they add describe the call's outcome. */
void csan_hook_recv_pre(const WSAOVERLAPPED *ov, const WSABUF *b, uint32_t count);
void csan_hook_rdma_read_pre(const WSAOVERLAPPED *ov, const WSABUFEX *b, uint32_t count);
void csan_hook_op_post(int ret, const WSAOVERLAPPED *ov, const int *lpErrno);
void csan_hook_complete_pre(csan_tls *t, const WSAOVERLAPPED *ov, DWORD error, DWORD bytes);
void csan_hook_ioctl_post(csan_tls *t, uint64_t tsc, int ret, DWORD code, const void *in, DWORD inlen, void *out, DWORD outlen,
                          const int *lpErrno);
void csan_hook_gor_post(csan_tls *t, uint64_t tsc, BOOL ret, const WSAOVERLAPPED *ov, const DWORD *bytes, const DWORD *flags,
                        const int *lpErrno);
void csan_hook_cleanup_post(int ret);

/* Bytes of a WSPDATA description up to its NUL (for the WSPStartupEx leave record). */
static inline int64_t csan_wide_bytes(const WSPDATA *d) {
    if (!d) return 0;
    int64_t n = 0;
    while (n <= WSPDESCRIPTION_LEN && d->szDescription[n]) n++;
    return n * 2;
}
#endif
