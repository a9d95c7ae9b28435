/*
 * csan_trace.h — the C half of libsantrace.so as the Swift half (SanInterpose) sees it.
 *
 * The hot path (wrappers of the 30 proc-table slots, the 7 extensions and the 16 upcalls, see
 * generated/) writes raw records into per-thread single-producer/single-consumer byte rings.
 * Swift only configures it, starts it (csan_trace_startup), and drains the rings from one thread
 * (the drain thread) through the functions below. No Swift value crosses this ABI: everything is
 * integers, C structs and raw pointers.
 *
 * Raw record layout (all fields 8-byte aligned, little-endian, native x86-64):
 *   csan_rec_hdr (24 bytes), then the fields of the function's schema entry in schema order
 *   (tools/gen/spi_schema.py), each encoded by type:
 *     scalar types (i32 … completionVia): one u64 (signed types sign-extended);
 *     bufferList:   u64 count, u64 stored, stored × {u64 len, u64 addr};
 *     bufferListEx: u64 count, u64 stored, stored × {u64 len, u64 addr, u64 handle};
 *     sockaddr, bytes, rdmaDescriptor, descriptorBytes: u64 length, u64 stored, bytes padded to 8;
 *     payload:      u64 mode (0 none, 1 hash, 2 full), u64 count, then per buffer
 *                   hash: {u64 len, u64 xxh64}; full: {u64 len, u64 stored, bytes padded to 8}.
 *   COMPLETION records: u64 ov, u64 status, u64 bytes, u64 flags, u64 via, payload.
 *   LOOKUP records:     16 bytes GUID, u64 extension (33..39 or 0), u64 status.
 *   Kind 0 is padding at the end of the ring (skip `size` bytes).
 */
#ifndef CSAN_TRACE_H
#define CSAN_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <CSanABI.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Record kinds (spi_schema.EVENT_KINDS) ---- */
#define CSAN_KIND_PAD 0
#define CSAN_KIND_ENTER 1
#define CSAN_KIND_LEAVE 2
#define CSAN_KIND_COMPLETION 3
#define CSAN_KIND_UPCALL 4
#define CSAN_KIND_LOOKUP 5

/* Record flags. */
#define CSAN_REC_TRUNCATED 0x1 /* a buffer list, blob or payload was cut to fit */

typedef struct csan_rec_hdr {
    uint32_t size; /* bytes including this header, a multiple of 8 */
    uint8_t kind;
    uint8_t function; /* schema function id (0..79); 0 for LOOKUP / COMPLETION */
    uint16_t flags;
    uint64_t seq; /* per-thread sequence number, from 0, no gaps (a gap = records dropped in lossy mode) */
    uint64_t tsc; /* rdtsc when the record was written */
} csan_rec_hdr;

/* ---- Payload policy ---- */
#define CSAN_PAYLOAD_NONE 0
#define CSAN_PAYLOAD_HASH 1
#define CSAN_PAYLOAD_FULL 2

/* Completion via (spi_schema completionVia). */
#define CSAN_VIA_UPCALL 1
#define CSAN_VIA_POLL 2
#define CSAN_VIA_INLINE 3

/* ---- Configuration (call before the first csan_trace_startup; not thread-safe) ---- */
void csan_trace_configure(int payload_mode, int lossy, uint64_t ring_bytes);
/* The one enable flag the hot path reads. 0: every wrapper calls straight through. */
void csan_trace_set_enabled(int enabled);
int csan_trace_enabled(void);

/* ---- Startup: wrap the real provider ----
 * Records WSPStartupEx (enter/leave), passes the provider a wrapped copy of the caller's upcall
 * table, and replaces every non-NULL slot of the returned proc table by its wrapper. */
int csan_trace_startup(LPWSPSTARTUPEX real, WORD version, LPWSPDATA data, LPWSAPROTOCOL_INFOW info,
                       LPWSPUPCALLTABLEEX upcalls, LPWSPPROC_TABLE procs);
/* Successful WSPStartupEx calls minus successful WSPCleanup calls; the last WSPCleanup (this
 * back at 0) bumps csan_trace_cleanup_epoch(), which the drain watches to flush. */
int64_t csan_trace_open_starts(void);
uint64_t csan_trace_cleanup_epoch(void);
/* An address inside libsantrace.so (for dladdr: where am I loaded from). */
void csan_trace_self_anchor(void);

/* ---- Rings (drain side) ---- */
#define CSAN_RING_FREE 0
#define CSAN_RING_LIVE 1
#define CSAN_RING_DEAD 2

/* A thread's ring (layout private to CSanTrace; see trace_internal.h). */
typedef struct csan_ring csan_ring;

csan_ring *csan_ring_first(void);
csan_ring *csan_ring_next(const csan_ring *r);
uint64_t csan_ring_head(const csan_ring *r); /* acquire: records before it are complete */
uint64_t csan_ring_tail(const csan_ring *r);
uint32_t csan_ring_state(const csan_ring *r);
uint32_t csan_ring_thread(const csan_ring *r);
/* The OS thread id (gettid) of the ring's current owner. */
uint64_t csan_ring_os_tid(const csan_ring *r);
/* The owner's thread name (PR_GET_NAME when it took the ring; up to 15 bytes, NUL-terminated). */
const char *csan_ring_name(const csan_ring *r);
/* Bytes of the ring (a power of two). */
uint64_t csan_ring_capacity(const csan_ring *r);
/* The record at byte position `pos` (tail ≤ pos < head). Records never straddle the end. */
const csan_rec_hdr *csan_ring_record(const csan_ring *r, uint64_t pos);
/* Hands bytes up to `tail` back to the producer. */
void csan_ring_release(csan_ring *r, uint64_t tail);
/* A DEAD ring (its thread exited) that the drain emptied becomes FREE for the next new thread.
 * Returns 1 when it did. */
int csan_ring_try_reclaim(csan_ring *r);

/* The path of the shared object holding `addr` (dladdr), or NULL. */
const char *csan_object_path(const void *addr);
/* The path of the object holding CSanTrace (libsantrace.so when loaded as the interposer). */
const char *csan_trace_self_path(void);

/* Sums over all rings. */
typedef struct csan_trace_stats {
    uint64_t records, stalls, drops, rings, threads, reentry_drops, sidetable_misses;
} csan_trace_stats;
void csan_trace_get_stats(csan_trace_stats *out);

/* The drain thread calls this once: its own SAN calls (there should be none) pass through
 * unrecorded, and producers see it alive while it keeps bumping the heartbeat. */
void csan_trace_mark_internal_thread(void);
void csan_trace_heartbeat(void);
/* gettid(2) of the calling thread. */
uint64_t csan_trace_gettid(void);
/* rdtsc, the clock of every record. */
uint64_t csan_trace_now_ticks(void);

/* In a forked child, before anything else: forget the parent's rings (their threads do not exist
 * here), keep the calling thread's ring but empty it and restart its numbering. */
void csan_trace_after_fork_child(void);

/* ---- SIGINT/SIGTERM (signals.c): the handler asks the drain for a flush and waits up to 2 s
 * for csan_signal_flush_ack(≥ its request number), then chains to the previous disposition. ---- */
void csan_signals_install(void);
void csan_signals_block_in_this_thread(void);
uint64_t csan_signal_flush_requests(void);
void csan_signal_flush_ack(uint64_t upto);

/* ---- The schema as compiled in (generated/csan_schema.c) ---- */
#define CSAN_GROUP_PROC 0
#define CSAN_GROUP_STARTUP 1
#define CSAN_GROUP_EXT 2
#define CSAN_GROUP_UPCALL 3
/* Field type ids (spi_schema.FIELD_TYPES). */
#define CSAN_T_I32 1
#define CSAN_T_U32 2
#define CSAN_T_U64 3
#define CSAN_T_BOOL 4
#define CSAN_T_WSAERROR 5
#define CSAN_T_FLAGS 6
#define CSAN_T_SOCKET 7
#define CSAN_T_SWITCHSOCKET 8
#define CSAN_T_MEMHANDLE 9
#define CSAN_T_RDMADESCRIPTOR 10
#define CSAN_T_OVERLAPPED 11
#define CSAN_T_EVENT 12
#define CSAN_T_ADDRESS 13
#define CSAN_T_BUFFERLIST 14
#define CSAN_T_BUFFERLISTEX 15
#define CSAN_T_SOCKADDR 16
#define CSAN_T_BYTES 17
#define CSAN_T_GUID 18
#define CSAN_T_PAYLOAD 19
#define CSAN_T_COMPLETIONMODE 20
#define CSAN_T_DESCRIPTORBYTES 21
#define CSAN_T_COMPLETIONVIA 22
#define CSAN_T_CALLREF 23

/* 1 when `function` is in the schema. */
int csan_schema_has(unsigned function);
const char *csan_schema_name(unsigned function);
int csan_schema_group(unsigned function);
int csan_schema_starts_op(unsigned function);
/* kind: CSAN_KIND_ENTER, CSAN_KIND_LEAVE or CSAN_KIND_UPCALL (the upcall's `fields`). */
int csan_schema_field_count(unsigned function, int kind);
int csan_schema_field_type(unsigned function, int kind, int index);
const char *csan_schema_field_name(unsigned function, int kind, int index);

/* xxh64 of a buffer (the `hash` payload policy), exposed for tests and readers. */
uint64_t csan_xxh64(const void *data, size_t length, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* CSAN_TRACE_H */
