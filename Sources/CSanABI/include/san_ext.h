/*
 * san_ext.h — the Linux port of ws2san.h: WSABUFEX, the registration flags, the SAN socket
 * options, the eight extension function types and the GUIDs of the seven fetched through
 * WSPIoctl(INVALID_SOCKET, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, 16, &fn, sizeof fn, …).
 *
 * Read ../../../Docs/ABI.md before changing anything here (reference §1, §2).
 */
#ifndef CSAN_SAN_EXT_H
#define CSAN_SAN_EXT_H

#include "san_spi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* WSABUFEX [MW-SAN; REF ff565947]: len@0, buf@8, handle@16; 24 bytes. `handle` is the result of
 * WSPRegisterMemory for the range holding [buf, buf+len). */
typedef struct _WSABUFEX {
    ULONG len; /* u_long in Windows: 32-bit */
    char *buf;
    HANDLE handle;
} WSABUFEX, *LPWSABUFEX;

/* Registration access (reference §1.2, §1.4). For WSPRegisterMemory they are local rights; for
 * WSPRegisterRdmaMemory they are the peer's rights (MEM_READ: peer may RDMA-read; MEM_WRITE: peer
 * may RDMA-write). */
#define MEM_READ 1
#define MEM_WRITE 2
#define MEM_READWRITE 3

/* SPI version the switch requests from WSPStartupEx: 2.2 (low byte major, high byte minor). */
#define WSPSTARTUPEX_VERSION 0x0202

/* The exported entry point (reference §1.1). Returns 0 or the WSA error itself. */
typedef int(WSPAPI *LPWSPSTARTUPEX)(WORD wVersionRequested, LPWSPDATA lpWSPData,
                                    LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSPUPCALLTABLEEX lpUpcallTable,
                                    LPWSPPROC_TABLE lpProcTable);
#define WSPSTARTUPEX_SYMBOL "WSPStartupEx"

typedef HANDLE(WSPAPI *LPFN_WSPREGISTERMEMORY)(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                                              LPINT lpErrno);
typedef int(WSPAPI *LPFN_WSPDEREGISTERMEMORY)(SOCKET s, HANDLE Handle, LPINT lpErrno);
/* Returns BOOL in Microsoft's header and int in MinGW's: the same 32-bit ABI (reference §1.4). */
typedef int(WSPAPI *LPFN_WSPREGISTERRDMAMEMORY)(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                                                LPVOID lpRdmaBufferDescriptor, LPDWORD lpdwDescriptorLength,
                                                LPINT lpErrno);
typedef int(WSPAPI *LPFN_WSPDEREGISTERRDMAMEMORY)(SOCKET s, LPVOID lpRdmaBufferDescriptor,
                                                  DWORD dwDescriptorLength, LPINT lpErrno);
typedef int(WSPAPI *LPFN_WSPRDMAWRITE)(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
                                       LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
                                       DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesWritten, DWORD dwFlags,
                                       LPWSAOVERLAPPED lpOverlapped,
                                       LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                                       LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int(WSPAPI *LPFN_WSPRDMAREAD)(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
                                      LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
                                      DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesRead, DWORD dwFlags,
                                      LPWSAOVERLAPPED lpOverlapped,
                                      LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                                      LPWSATHREADID lpThreadId, LPINT lpErrno);
/* No socket parameter (reference §1.8). */
typedef int(WSPAPI *LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK)(PVOID lpvAddress, SIZE_T Size, LPINT lpErrno);

/* Extension GUIDs (reference §1.0): {C0B422F5..FA-F58C-11D1-AD6C-00C04FA34A2D} and
 * {E5DA4AF8-D824-48CD-A799-6337A98ED2AF}. */
#define WSAID_REGISTERMEMORY {0xC0B422F5, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_DEREGISTERMEMORY {0xC0B422F6, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_REGISTERRDMAMEMORY {0xC0B422F7, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_DEREGISTERRDMAMEMORY {0xC0B422F8, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_RDMAWRITE {0xC0B422F9, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_RDMAREAD {0xC0B422FA, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_MEMORYREGISTRATIONCACHECALLBACK {0xE5DA4AF8, 0xD824, 0x48CD, {0xA7, 0x99, 0x63, 0x37, 0xA9, 0x8E, 0xD2, 0xAF}}

/* The same values as objects, for Swift (which cannot import brace initialisers). */
static const GUID CSAN_WSAID_REGISTERMEMORY = WSAID_REGISTERMEMORY;
static const GUID CSAN_WSAID_DEREGISTERMEMORY = WSAID_DEREGISTERMEMORY;
static const GUID CSAN_WSAID_REGISTERRDMAMEMORY = WSAID_REGISTERRDMAMEMORY;
static const GUID CSAN_WSAID_DEREGISTERRDMAMEMORY = WSAID_DEREGISTERRDMAMEMORY;
static const GUID CSAN_WSAID_RDMAWRITE = WSAID_RDMAWRITE;
static const GUID CSAN_WSAID_RDMAREAD = WSAID_RDMAREAD;
static const GUID CSAN_WSAID_MEMORYREGISTRATIONCACHECALLBACK = WSAID_MEMORYREGISTRATIONCACHECALLBACK;

/* sizeof(WSPPROC_TABLE) as compiled into this header set (defined in abi_asserts.c). */
size_t csan_abi_proc_table_size(void);

#ifdef __cplusplus
}
#endif
#endif /* CSAN_SAN_EXT_H */
