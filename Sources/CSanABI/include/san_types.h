/*
 * san_types.h — Windows base types, WSA structures, constants and error numbers for the SAN SPI
 * on Linux.
 *
 * Read ../../../Docs/ABI.md before changing anything here: these layouts are a binary contract with
 * every provider .so and every trace ever recorded. Sizes are asserted in ../abi_asserts.c and in
 * Tests/SanABITests.
 *
 * Type mapping (spec/san-spi-reference.md §5.1): Windows is LLP64, so DWORD, u_long, ULONG and
 * LONG are 32-bit here (never `long`). glibc already defines `u_long` as unsigned long (64-bit), so
 * the structures that Windows declares with `u_long` use ULONG (uint32_t) instead. SOCKET and the
 * *_PTR types are pointer-sized; WCHAR is a
 * 16-bit code unit (never wchar_t, which is 32-bit on Linux); WSPAPI is the native SysV ABI.
 * Socket addresses are Linux `struct sockaddr` (AF_INET6 is 10 here, not Windows' 23).
 */
#ifndef CSAN_SAN_TYPES_H
#define CSAN_SAN_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSPAPI
#define WSAAPI
#define CALLBACK

typedef uint32_t DWORD, *LPDWORD, *PDWORD;
typedef uint16_t WORD;
typedef uint8_t BYTE;
typedef int32_t INT, *LPINT;
typedef int32_t BOOL;
typedef uint32_t UINT;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef uintptr_t DWORD_PTR, *PDWORD_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t UINT_PTR;
typedef size_t SIZE_T;
typedef void *HANDLE;
typedef void *PVOID;
typedef void *LPVOID;
typedef void *HWND;
typedef uintptr_t WPARAM;
typedef intptr_t LPARAM;
typedef uint16_t WCHAR;
typedef WCHAR *LPWSTR;
typedef uint32_t GROUP;

/* SOCKET = UINT_PTR; INVALID_SOCKET = (SOCKET)~0; SOCKET_ERROR = -1 [MW-SOCK]. */
typedef uintptr_t SOCKET;
#define INVALID_SOCKET ((SOCKET)~(uintptr_t)0)
#define SOCKET_ERROR (-1)
#define TRUE 1
#define FALSE 0

/* WSAEVENT = HANDLE [MW-WS2]. On Linux it points at an event object owned by the switch (eventfd
 * backed); a provider sets and resets it only through the WPUSetEvent/WPUResetEvent upcalls. */
typedef HANDLE WSAEVENT;
#define WSA_INVALID_EVENT ((WSAEVENT)NULL)

typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID, *LPGUID;

/* WSABUF [MW-WS2]: 16 bytes on x86-64 (u_long is 32-bit, then padding). */
typedef struct _WSABUF {
    ULONG len; /* u_long in Windows: 32-bit */
    char *buf;
} WSABUF, *LPWSABUF;

/* OVERLAPPED [MW-MWB] = WSAOVERLAPPED: 32 bytes; Offset@16, OffsetHigh@20, hEvent@24.
 * The low bit of hEvent selects completion reporting (reference §3.4): set → the caller polls
 * WSPGetOverlappedResult; clear → the provider calls WPUCompleteOverlappedRequest. */
typedef struct _WSAOVERLAPPED {
    ULONG_PTR Internal;
    ULONG_PTR InternalHigh;
    union {
        struct {
            DWORD Offset;
            DWORD OffsetHigh;
        };
        PVOID Pointer;
    };
    HANDLE hEvent;
} WSAOVERLAPPED, *LPWSAOVERLAPPED, OVERLAPPED;

typedef void(CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
                                                           LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

/* WSATHREADID [REF ff565964]: 16 bytes. */
typedef struct _WSATHREADID {
    HANDLE ThreadHandle;
    DWORD_PTR Reserved;
} WSATHREADID, *LPWSATHREADID;

/* FLOWSPEC / QOS [MW-WS2]: 32 and 80 bytes. */
typedef uint32_t SERVICETYPE;
typedef struct _flowspec {
    ULONG TokenRate;
    ULONG TokenBucketSize;
    ULONG PeakBandwidth;
    ULONG Latency;
    ULONG DelayVariation;
    SERVICETYPE ServiceType;
    ULONG MaxSduSize;
    ULONG MinimumPolicedSize;
} FLOWSPEC, *LPFLOWSPEC;

typedef struct _QualityOfService {
    FLOWSPEC SendingFlowspec;
    FLOWSPEC ReceivingFlowspec;
    WSABUF ProviderSpecific;
} QOS, *LPQOS;

/* WSANETWORKEVENTS [MW-WS2]: 44 bytes. */
#define FD_READ_BIT 0
#define FD_WRITE_BIT 1
#define FD_OOB_BIT 2
#define FD_ACCEPT_BIT 3
#define FD_CONNECT_BIT 4
#define FD_CLOSE_BIT 5
#define FD_QOS_BIT 6
#define FD_GROUP_QOS_BIT 7
#define FD_ROUTING_INTERFACE_CHANGE_BIT 8
#define FD_ADDRESS_LIST_CHANGE_BIT 9
#define FD_MAX_EVENTS 10
#define FD_READ (1 << FD_READ_BIT)
#define FD_WRITE (1 << FD_WRITE_BIT)
#define FD_OOB (1 << FD_OOB_BIT)
#define FD_ACCEPT (1 << FD_ACCEPT_BIT)
#define FD_CONNECT (1 << FD_CONNECT_BIT)
#define FD_CLOSE (1 << FD_CLOSE_BIT)

typedef struct _WSANETWORKEVENTS {
    LONG lNetworkEvents;
    INT iErrorCode[FD_MAX_EVENTS];
} WSANETWORKEVENTS, *LPWSANETWORKEVENTS;

/* WSAPROTOCOL_INFOW [MW-WS2]: 628 bytes, dwProviderReserved@112. */
#define MAX_PROTOCOL_CHAIN 7
#define WSAPROTOCOL_LEN 255
typedef struct _WSAPROTOCOLCHAIN {
    INT ChainLen;
    DWORD ChainEntries[MAX_PROTOCOL_CHAIN];
} WSAPROTOCOLCHAIN, *LPWSAPROTOCOLCHAIN;

typedef struct _WSAPROTOCOL_INFOW {
    DWORD dwServiceFlags1;
    DWORD dwServiceFlags2;
    DWORD dwServiceFlags3;
    DWORD dwServiceFlags4;
    DWORD dwProviderFlags;
    GUID ProviderId;
    DWORD dwCatalogEntryId;
    WSAPROTOCOLCHAIN ProtocolChain;
    INT iVersion;
    INT iAddressFamily;
    INT iMaxSockAddr;
    INT iMinSockAddr;
    INT iSocketType;
    INT iProtocol;
    INT iProtocolMaxOffset;
    INT iNetworkByteOrder;
    INT iSecurityScheme;
    DWORD dwMessageSize;
    DWORD dwProviderReserved;
    WCHAR szProtocol[WSAPROTOCOL_LEN + 1];
} WSAPROTOCOL_INFOW, *LPWSAPROTOCOL_INFOW;

/* SOCKET_ADDRESS / SOCKET_ADDRESS_LIST (answer to SIO_ADDRESS_LIST_QUERY) [MW-WS2]. */
typedef struct _SOCKET_ADDRESS {
    struct sockaddr *lpSockaddr;
    INT iSockaddrLength;
} SOCKET_ADDRESS, *LPSOCKET_ADDRESS;

typedef struct _SOCKET_ADDRESS_LIST {
    INT iAddressCount;
    SOCKET_ADDRESS Address[1];
} SOCKET_ADDRESS_LIST, *LPSOCKET_ADDRESS_LIST;

/* Windows' fd_set and timeval (u_int count + SOCKET array; two 32-bit longs). Named with a WSA
 * prefix here because glibc owns `fd_set` and `struct timeval`. Only WSPSelect and WPUFDIsSet use
 * them, and a SAN provider need not implement WSPSelect (reference §3.2). */
#define WSA_FD_SETSIZE 64
typedef struct WSAFDSET {
    UINT fd_count;
    SOCKET fd_array[WSA_FD_SETSIZE];
} WSAFDSET;
typedef struct WSATIMEVAL {
    LONG tv_sec;
    LONG tv_usec;
} WSATIMEVAL;

/* Condition function for WSPAccept [MW-WS2]: runs on the thread that called WSPAccept. */
#define CF_ACCEPT 0x0000
#define CF_REJECT 0x0001
#define CF_DEFER 0x0002
typedef int(CALLBACK *LPCONDITIONPROC)(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS, LPQOS lpGQOS,
                                       LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP *g,
                                       DWORD_PTR dwCallbackData);

/* Socket options and levels [MW-WS2; MW-SAN]. */
#define SOL_SOCKET_WSA 0xffff /* Windows' SOL_SOCKET; glibc's SOL_SOCKET is 1. */
#define SO_DEBUG_WSA 0x0001
#define SO_GROUP_ID 0x2001
#define SO_GROUP_PRIORITY 0x2002
#define SO_MAX_MSG_SIZE 0x2003
#define SO_PROTOCOL_INFOW 0x2005
#define SO_MAX_RDMA_SIZE 0x700D
#define SO_RDMA_THRESHOLD_SIZE 0x700E

/* WSAIoctl codes [MW-WS2]. */
#define IOC_UNIX 0x00000000
#define IOC_VOID 0x20000000
#define IOC_WS2 0x08000000
#define IOC_PROTOCOL 0x10000000
#define IOC_VENDOR 0x18000000
#define IOC_OUT 0x40000000
#define IOC_IN 0x80000000
#define IOC_INOUT (IOC_IN | IOC_OUT)
#define _WSAIO(x, y) (IOC_VOID | (x) | (y))
#define _WSAIOR(x, y) (IOC_OUT | (x) | (y))
#define _WSAIOW(x, y) (IOC_IN | (x) | (y))
#define _WSAIORW(x, y) (IOC_INOUT | (x) | (y))
#define SIO_GET_EXTENSION_FUNCTION_POINTER 0xC8000006u /* _WSAIORW(IOC_WS2, 6) */
#define SIO_GET_QOS 0xC8000007u
#define SIO_GET_GROUP_QOS 0xC8000008u
#define SIO_SET_QOS 0x8800000Bu
#define SIO_SET_GROUP_QOS 0x8800000Cu
#define SIO_ADDRESS_LIST_QUERY 0x48000016u /* _WSAIOR(IOC_WS2, 22) */

/* Protocol-info flags [MW-WS2]. */
#define PFL_HIDDEN 0x00000004
#define XP1_QOS_SUPPORTED 0x00002000

/* WSPSocket dwFlags [MW-WS2]. */
#define WSA_FLAG_OVERLAPPED 0x01

/* Errors. WSA_* values are Win32 codes [MW-WS2; MW-WERR]; WSAE* are WSABASEERR (10000) + n
 * [MW-ERR]. They are not errno values: translate only at the boundary. */
#define WSA_INVALID_HANDLE 6
#define WSA_NOT_ENOUGH_MEMORY 8
#define WSA_INVALID_PARAMETER 87
#define WSA_OPERATION_ABORTED 995
#define WSA_IO_INCOMPLETE 996
#define WSA_IO_PENDING 997
#define WSABASEERR 10000
#define WSAEINTR 10004
#define WSAEBADF 10009
#define WSAEACCES 10013
#define WSAEFAULT 10014
#define WSAEINVAL 10022
#define WSAEMFILE 10024
#define WSAEWOULDBLOCK 10035
#define WSAEINPROGRESS 10036
#define WSAEALREADY 10037
#define WSAENOTSOCK 10038
#define WSAEDESTADDRREQ 10039
#define WSAEMSGSIZE 10040
#define WSAEPROTOTYPE 10041
#define WSAENOPROTOOPT 10042
#define WSAEPROTONOSUPPORT 10043
#define WSAESOCKTNOSUPPORT 10044
#define WSAEOPNOTSUPP 10045
#define WSAEPFNOSUPPORT 10046
#define WSAEAFNOSUPPORT 10047
#define WSAEADDRINUSE 10048
#define WSAEADDRNOTAVAIL 10049
#define WSAENETDOWN 10050
#define WSAENETUNREACH 10051
#define WSAENETRESET 10052
#define WSAECONNABORTED 10053
#define WSAECONNRESET 10054
#define WSAENOBUFS 10055
#define WSAEISCONN 10056
#define WSAENOTCONN 10057
#define WSAESHUTDOWN 10058
#define WSAETIMEDOUT 10060
#define WSAECONNREFUSED 10061
#define WSAEHOSTDOWN 10064
#define WSAEHOSTUNREACH 10065
#define WSAEPROCLIM 10067
#define WSASYSNOTREADY 10091
#define WSAVERNOTSUPPORTED 10092
#define WSANOTINITIALISED 10093
#define WSAEDISCON 10101

/* WSS_OPERATION_IN_PROGRESS [MW-SPI]: the value of WSAOVERLAPPED.Internal while pending. */
#define WSS_OPERATION_IN_PROGRESS 0x00000103L

#ifdef __cplusplus
}
#endif
#endif /* CSAN_SAN_TYPES_H */
