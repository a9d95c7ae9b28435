/*
 * libsan_faulty.so — a deliberately faulty layered provider for the replayer's tests: it wraps a
 * real provider (SAN_FAULTY_WRAP, a path; default libsan_tcp.so next to this library) and
 * injects one fault chosen by SAN_FAULTY:
 *
 *   corrupt-write:N   the N-th WSPRdmaWrite (from 1) flips every bit of the first byte of its
 *                     first buffer before the real provider sends it (the target receives wrong
 *                     data; the call itself succeeds)
 *   fail-register:N   the N-th WSPRegisterMemory fails with WSAENOBUFS
 *   hang-send:N       the N-th WSPSend never returns (the replayer's watchdog must notice)
 *   slow-write:USEC   every WSPRdmaWrite sleeps USEC microseconds before the real provider
 *                     runs it (a slower backend: the diff's injected regression)
 *
 * Everything else passes through unchanged, so a replay on this backend diverges exactly there.
 */
#define _GNU_SOURCE
#include <CSanABI.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static WSPPROC_TABLE real_procs;
static LPFN_WSPREGISTERMEMORY real_register;
static LPFN_WSPRDMAWRITE real_write;
static long fault_at = -1;
static int fault_kind; /* 1 corrupt-write, 2 fail-register, 3 hang-send, 4 slow-write */
static long writes, registers, sends;

static void parse_fault(void) {
    const char *f = getenv("SAN_FAULTY");
    if (!f) return;
    if (strncmp(f, "corrupt-write:", 14) == 0) {
        fault_kind = 1;
        fault_at = strtol(f + 14, NULL, 10);
    } else if (strncmp(f, "fail-register:", 14) == 0) {
        fault_kind = 2;
        fault_at = strtol(f + 14, NULL, 10);
    } else if (strncmp(f, "hang-send:", 10) == 0) {
        fault_kind = 3;
        fault_at = strtol(f + 10, NULL, 10);
    } else if (strncmp(f, "slow-write:", 11) == 0) {
        fault_kind = 4;
        fault_at = strtol(f + 11, NULL, 10);
    } else {
        fprintf(stderr, "san_faulty: unknown SAN_FAULTY '%s' (corrupt-write:N, fail-register:N, hang-send:N or slow-write:USEC)\n", f);
    }
}

static HANDLE WSPAPI faulty_register(SOCKET s, PVOID buffer, DWORD length, DWORD flags, LPINT err) {
    long n = __atomic_add_fetch(&registers, 1, __ATOMIC_SEQ_CST);
    if (fault_kind == 2 && n == fault_at) {
        fprintf(stderr, "san_faulty: failing WSPRegisterMemory #%ld with WSAENOBUFS\n", n);
        if (err) *err = WSAENOBUFS;
        return NULL;
    }
    return real_register(s, buffer, length, flags, err);
}

static int WSPAPI faulty_write(SOCKET s, LPWSABUFEX bufs, DWORD count, LPVOID desc, DWORD dlen, DWORD offset,
                               LPDWORD written, DWORD flags, LPWSAOVERLAPPED ov,
                               LPWSAOVERLAPPED_COMPLETION_ROUTINE routine, LPWSATHREADID tid, LPINT err) {
    long n = __atomic_add_fetch(&writes, 1, __ATOMIC_SEQ_CST);
    if (fault_kind == 1 && n == fault_at && bufs && count > 0 && bufs[0].buf && bufs[0].len > 0) {
        fprintf(stderr, "san_faulty: corrupting WSPRdmaWrite #%ld (first byte of its first buffer)\n", n);
        bufs[0].buf[0] = (char)~bufs[0].buf[0];
    }
    if (fault_kind == 4 && fault_at > 0) usleep((useconds_t)fault_at);
    return real_write(s, bufs, count, desc, dlen, offset, written, flags, ov, routine, tid, err);
}

static int WSPAPI faulty_send(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD sent, DWORD flags, LPWSAOVERLAPPED ov,
                              LPWSAOVERLAPPED_COMPLETION_ROUTINE routine, LPWSATHREADID tid, LPINT err) {
    long n = __atomic_add_fetch(&sends, 1, __ATOMIC_SEQ_CST);
    if (fault_kind == 3 && n == fault_at) {
        fprintf(stderr, "san_faulty: WSPSend #%ld will never return\n", n);
        for (;;) sleep(60);
    }
    return real_procs.lpWSPSend(s, bufs, count, sent, flags, ov, routine, tid, err);
}

static int WSPAPI faulty_ioctl(SOCKET s, DWORD code, LPVOID in, DWORD inlen, LPVOID out, DWORD outlen, LPDWORD ret,
                               LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine, LPWSATHREADID tid,
                               LPINT err) {
    int rc = real_procs.lpWSPIoctl(s, code, in, inlen, out, outlen, ret, ov, routine, tid, err);
    if (rc != 0 || code != SIO_GET_EXTENSION_FUNCTION_POINTER || !in || inlen < sizeof(GUID) || !out ||
        outlen < sizeof(void *))
        return rc;
    static const GUID reg = WSAID_REGISTERMEMORY, wr = WSAID_RDMAWRITE;
    void *fn;
    memcpy(&fn, out, sizeof fn);
    if (memcmp(in, &reg, sizeof(GUID)) == 0) {
        real_register = (LPFN_WSPREGISTERMEMORY)fn;
        fn = (void *)faulty_register;
    } else if (memcmp(in, &wr, sizeof(GUID)) == 0) {
        real_write = (LPFN_WSPRDMAWRITE)fn;
        fn = (void *)faulty_write;
    }
    memcpy(out, &fn, sizeof fn);
    return rc;
}

int WSPAPI WSPStartupEx(WORD version, LPWSPDATA data, LPWSAPROTOCOL_INFOW info, LPWSPUPCALLTABLEEX upcalls,
                        LPWSPPROC_TABLE procs) {
    char path[4096];
    const char *wrap = getenv("SAN_FAULTY_WRAP");
    if (!wrap) {
        Dl_info self;
        if (!dladdr((void *)WSPStartupEx, &self) || !self.dli_fname) return WSASYSNOTREADY;
        snprintf(path, sizeof path, "%s", self.dli_fname);
        char *slash = strrchr(path, '/');
        if (!slash) return WSASYSNOTREADY;
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "libsan_tcp.so");
        wrap = path;
    }
    void *lib = dlopen(wrap, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "san_faulty: cannot load %s: %s\n", wrap, dlerror());
        return WSASYSNOTREADY;
    }
    LPWSPSTARTUPEX real = (LPWSPSTARTUPEX)dlsym(lib, "WSPStartupEx");
    if (!real) return WSASYSNOTREADY;
    int rc = real(version, data, info, upcalls, procs);
    if (rc != 0) return rc;
    parse_fault();
    real_procs = *procs;
    procs->lpWSPIoctl = faulty_ioctl;
    procs->lpWSPSend = faulty_send;
    return 0;
}
