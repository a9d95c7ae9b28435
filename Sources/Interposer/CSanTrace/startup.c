#define _GNU_SOURCE
/*
 * startup.c — WSPStartupEx through the interposer: the provider gets a wrapped copy of the
 * caller's upcall table (so its completions and upcalls are recorded), and the caller gets the
 * provider's proc table with every non-NULL slot wrapped (NULL stays NULL).
 */
#include "hooks.h"
#include "generated/csan_generated.h"

WSPPROC_TABLE csan_real_procs;
WSPUPCALLTABLEEX csan_real_upcalls;
void *csan_real_ext[7];

/* Static, not on the stack: providers should copy the table, but its lifetime is undocumented
 * (reference §1.1), so keep it valid forever. */
static WSPUPCALLTABLEEX wrapped_upcalls;
static int64_t open_starts;
static uint64_t cleanup_epoch;

int csan_trace_startup(LPWSPSTARTUPEX real, WORD version, LPWSPDATA data, LPWSAPROTOCOL_INFOW info,
                       LPWSPUPCALLTABLEEX upcalls, LPWSPPROC_TABLE procs) {
    csan_tls *t = csan_tls_get();
    int recording = csan_recording(t);
    if (recording) {
        t->depth++;
        csan_rec_WSPStartupEx_enter(t, version, data, info, upcalls, procs);
    }
    LPWSPUPCALLTABLEEX pass = NULL;
    if (upcalls) {
        csan_wrap_upcall_table(upcalls, &wrapped_upcalls);
        pass = &wrapped_upcalls;
    }
    int ret = real(version, data, info, pass, procs);
    if (ret == 0 && procs) {
        csan_wrap_proc_table(procs);
        __atomic_fetch_add(&open_starts, 1, __ATOMIC_SEQ_CST);
    }
    if (recording) {
        csan_rec_WSPStartupEx_leave(t, csan_rdtsc(), ret, version, data, info, upcalls, procs);
        t->depth--;
    }
    return ret;
}

void csan_hook_cleanup_post(int ret) {
    if (ret != 0) return;
    if (__atomic_sub_fetch(&open_starts, 1, __ATOMIC_SEQ_CST) <= 0) __atomic_fetch_add(&cleanup_epoch, 1, __ATOMIC_SEQ_CST);
}

int64_t csan_trace_open_starts(void) { return __atomic_load_n(&open_starts, __ATOMIC_SEQ_CST); }
uint64_t csan_trace_cleanup_epoch(void) { return __atomic_load_n(&cleanup_epoch, __ATOMIC_SEQ_CST); }
void csan_trace_self_anchor(void) {}

#include <dlfcn.h>
const char *csan_object_path(const void *addr) {
    Dl_info info;
    if (!dladdr(addr, &info)) return NULL;
    return info.dli_fname;
}
const char *csan_trace_self_path(void) { return csan_object_path((const void *)csan_trace_self_anchor); }
