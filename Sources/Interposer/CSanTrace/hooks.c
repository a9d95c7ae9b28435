/*
 * hooks.c — the parts of a few wrappers that are not "record the schema's fields": see hooks.h.
 */
#include "hooks.h"
#include "generated/csan_generated.h"

static const GUID known_extensions[7] = {WSAID_REGISTERMEMORY,      WSAID_DEREGISTERMEMORY,
                                         WSAID_REGISTERRDMAMEMORY,  WSAID_DEREGISTERRDMAMEMORY,
                                         WSAID_RDMAWRITE,           WSAID_RDMAREAD,
                                         WSAID_MEMORYREGISTRATIONCACHECALLBACK};

void csan_hook_recv_pre(const WSAOVERLAPPED *ov, const WSABUF *b, uint32_t count) {
    if (csan_payload_mode != CSAN_PAYLOAD_NONE && ov) csan_side_put_wsabuf(ov, b, count);
}

void csan_hook_rdma_read_pre(const WSAOVERLAPPED *ov, const WSABUFEX *b, uint32_t count) {
    if (csan_payload_mode != CSAN_PAYLOAD_NONE && ov) csan_side_put_wsabufex(ov, b, count);
}

/* An operation that failed to start never completes: forget its buffers. */
void csan_hook_op_post(int ret, const WSAOVERLAPPED *ov, const int *lpErrno) {
    if (csan_payload_mode == CSAN_PAYLOAD_NONE || !ov || ret != SOCKET_ERROR) return;
    if (lpErrno && *lpErrno == WSA_IO_PENDING) return;
    csan_side_entry gone;
    (void)csan_side_take(ov, &gone);
}

#define SIDE_LEN(i) (_e.seg[(i)].len)
#define SIDE_ADDR(i) (_e.seg[(i)].addr)

/* COMPLETION: ov, status, bytes, flags, via, then the payload of a receive / RDMA read taken from
 * the side table (an empty payload for sends and writes, whose bytes were recorded at enter). */
void csan_rec_completion(csan_tls *t, uint64_t tsc, const WSAOVERLAPPED *ov, uint32_t status, uint32_t bytes,
                         uint32_t flags, uint32_t via) {
    int pm = csan_payload_mode;
    csan_side_entry _e;
    _e.count = 0;
    if (pm != CSAN_PAYLOAD_NONE && !csan_side_take(ov, &_e)) _e.count = 0;
    uint32_t n = _e.count;
    uint64_t limit = status == 0 ? bytes : 0;
    uint32_t size = CSAN_HDR + 40 + CSAN_PAYLOAD_SIZE(pm, n, limit, SIDE_LEN);
    csan_wr w;
    if (!csan_rec_begin(t, &w, CSAN_KIND_COMPLETION, 0, size, tsc ? tsc : csan_rdtsc())) return;
    csan_put_u64(&w, (uint64_t)(uintptr_t)ov);
    csan_put_u64(&w, status);
    csan_put_u64(&w, bytes);
    csan_put_u64(&w, flags);
    csan_put_u64(&w, via);
    CSAN_PAYLOAD_PUT(pm, &w, n, limit, SIDE_ADDR, SIDE_LEN);
    if (n && _e.truncated) w.flags |= CSAN_REC_TRUNCATED;
    csan_rec_commit(t, &w);
}

/* Recorded before the switch's WPUCompleteOverlappedRequest runs: after it, the application may
 * already reuse the buffers. The provider stored Offset (flags) before the upcall (ABI rule 5). */
void csan_hook_complete_pre(csan_tls *t, const WSAOVERLAPPED *ov, DWORD error, DWORD bytes) {
    csan_rec_completion(t, 0, ov, error, bytes, ov ? ov->Offset : 0, CSAN_VIA_UPCALL);
}

void csan_rec_lookup(csan_tls *t, uint64_t tsc, const GUID *guid, uint32_t extension, uint32_t status) {
    csan_wr w;
    if (!csan_rec_begin(t, &w, CSAN_KIND_LOOKUP, 0, CSAN_HDR + 32, tsc ? tsc : csan_rdtsc())) return;
    GUID g;
    if (guid) memcpy(&g, guid, sizeof g);
    else memset(&g, 0, sizeof g);
    memcpy(w.p, &g, 16);
    w.p += 16;
    csan_put_u64(&w, extension);
    csan_put_u64(&w, status);
    csan_rec_commit(t, &w);
}

/* SIO_GET_EXTENSION_FUNCTION_POINTER: keep the provider's pointer, hand out our wrapper, and
 * record the look-up (WSAEOPNOTSUPP answers included). */
void csan_hook_ioctl_post(csan_tls *t, uint64_t tsc, int ret, DWORD code, const void *in, DWORD inlen, void *out, DWORD outlen,
                          const int *lpErrno) {
    if (code != SIO_GET_EXTENSION_FUNCTION_POINTER) return;
    const GUID *guid = in && inlen >= sizeof(GUID) ? in : NULL;
    int ext = -1;
    GUID g;
    if (guid) {
        memcpy(&g, guid, sizeof g);
        for (int i = 0; i < 7; i++)
            if (memcmp(&g, &known_extensions[i], sizeof g) == 0) ext = i;
    }
    if (ret == 0 && ext >= 0 && out && outlen >= sizeof(void *)) {
        void *real;
        memcpy(&real, out, sizeof real);
        if (real) {
            __atomic_store_n(&csan_real_ext[ext], real, __ATOMIC_RELEASE);
            void *wrapper = csan_extension_wrapper(ext);
            memcpy(out, &wrapper, sizeof wrapper);
        }
    }
    uint32_t status = ret == 0 ? 0 : (uint32_t)(lpErrno ? *lpErrno : 0);
    csan_rec_lookup(t, tsc, guid ? &g : NULL, ext >= 0 ? (uint32_t)(33 + ext) : 0, status);
}

/* A poll that finds the operation finished is a COMPLETION (via poll). A poll that fails for
 * another reason (bad socket, still pending) is only the call itself. */
void csan_hook_gor_post(csan_tls *t, uint64_t tsc, BOOL ret, const WSAOVERLAPPED *ov, const DWORD *bytes, const DWORD *flags,
                        const int *lpErrno) {
    if (!ov) return;
    uint32_t err = ret ? 0 : (uint32_t)(lpErrno ? *lpErrno : 0);
    if (!ret && err == WSA_IO_INCOMPLETE) return;
    if (!ret && __atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE) == WSS_OPERATION_IN_PROGRESS) return;
    csan_rec_completion(t, tsc, ov, err, bytes ? *bytes : 0, flags ? *flags : 0, CSAN_VIA_POLL);
}
