/* Compile-time proof that the Linux port keeps the reference's x86-64 layouts (reference §2, §5.1).
 * Tests/SanABITests checks the same numbers from Swift. */
#include "CSanABI.h"

#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(WSABUF) == 16, "WSABUF");
_Static_assert(sizeof(WSABUFEX) == 24, "WSABUFEX");
_Static_assert(offsetof(WSABUFEX, buf) == 8 && offsetof(WSABUFEX, handle) == 16, "WSABUFEX offsets");
_Static_assert(sizeof(WSAOVERLAPPED) == 32, "WSAOVERLAPPED");
_Static_assert(offsetof(WSAOVERLAPPED, Offset) == 16, "Offset");
_Static_assert(offsetof(WSAOVERLAPPED, OffsetHigh) == 20, "OffsetHigh");
_Static_assert(offsetof(WSAOVERLAPPED, hEvent) == 24, "hEvent");
_Static_assert(sizeof(WSATHREADID) == 16, "WSATHREADID");
_Static_assert(sizeof(WSPPROC_TABLE) == 240, "WSPPROC_TABLE");
_Static_assert(offsetof(WSPPROC_TABLE, lpWSPIoctl) == 16 * 8, "WSPIoctl is slot 16");
_Static_assert(offsetof(WSPPROC_TABLE, lpWSPStringToAddress) == 29 * 8, "last slot");
_Static_assert(sizeof(WSPUPCALLTABLEEX) == 128, "WSPUPCALLTABLEEX");
_Static_assert(offsetof(WSPUPCALLTABLEEX, lpWPUCompleteOverlappedRequest) == 120, "completion upcall");
_Static_assert(sizeof(WSPDATA) == 516, "WSPDATA");
_Static_assert(sizeof(WSAPROTOCOL_INFOW) == 628, "WSAPROTOCOL_INFOW");
_Static_assert(offsetof(WSAPROTOCOL_INFOW, dwProviderReserved) == 112, "dwProviderReserved");
_Static_assert(sizeof(GUID) == 16, "GUID");
_Static_assert(sizeof(QOS) == 80, "QOS");
_Static_assert(sizeof(WSANETWORKEVENTS) == 44, "WSANETWORKEVENTS");
_Static_assert(sizeof(SOCKET_ADDRESS) == 16, "SOCKET_ADDRESS");
_Static_assert(sizeof(SOCKET) == sizeof(void *), "SOCKET is pointer-sized");
_Static_assert(SIO_GET_EXTENSION_FUNCTION_POINTER == (IOC_INOUT | IOC_WS2 | 6), "SIO code");
#endif

/* Returns sizeof(WSPPROC_TABLE) so the symbol table is never empty and a C caller can check the
 * header it was built with against the one a provider was built with. */
size_t csan_abi_proc_table_size(void) { return sizeof(WSPPROC_TABLE); }
