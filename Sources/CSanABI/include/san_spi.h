/*
 * san_spi.h — the subset of ws2spi.h a SAN provider and the switch share: the 30-slot
 * WSPPROC_TABLE, the 16-slot WSPUPCALLTABLEEX and WSPDATA.
 *
 * Read ../../../Docs/ABI.md before changing anything here. Slot order is the binary contract
 * (reference §2; [MW-SPI]); the switch zeroes exactly sizeof(WSPPROC_TABLE) = 240 bytes and calls
 * WSPIoctl through slot 16.
 */
#ifndef CSAN_SAN_SPI_H
#define CSAN_SAN_SPI_H

#include "san_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* WSPDATA [MW-SPI]: 516 bytes. */
#define WSPDESCRIPTION_LEN 255
typedef struct WSPData {
    WORD wVersion;
    WORD wHighVersion;
    WCHAR szDescription[WSPDESCRIPTION_LEN + 1];
} WSPDATA, *LPWSPDATA;

/* ---- The 30 provider entry points, in table order ([MW-SPI]; reference §2, §3.1). ---- */
typedef SOCKET(WSPAPI *LPWSPACCEPT)(SOCKET s, struct sockaddr *addr, LPINT addrlen, LPCONDITIONPROC lpfnCondition,
                                    DWORD_PTR dwCallbackData, LPINT lpErrno);
typedef INT(WSPAPI *LPWSPADDRESSTOSTRING)(struct sockaddr *lpsaAddress, DWORD dwAddressLength,
                                          LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSTR lpszAddressString,
                                          LPDWORD lpdwAddressStringLength, LPINT lpErrno);
typedef int(WSPAPI *LPWSPASYNCSELECT)(SOCKET s, HWND hWnd, UINT wMsg, LONG lEvent, LPINT lpErrno);
typedef int(WSPAPI *LPWSPBIND)(SOCKET s, const struct sockaddr *name, int namelen, LPINT lpErrno);
typedef int(WSPAPI *LPWSPCANCELBLOCKINGCALL)(LPINT lpErrno);
typedef int(WSPAPI *LPWSPCLEANUP)(LPINT lpErrno);
typedef int(WSPAPI *LPWSPCLOSESOCKET)(SOCKET s, LPINT lpErrno);
typedef int(WSPAPI *LPWSPCONNECT)(SOCKET s, const struct sockaddr *name, int namelen, LPWSABUF lpCallerData,
                                  LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, LPINT lpErrno);
typedef int(WSPAPI *LPWSPDUPLICATESOCKET)(SOCKET s, DWORD dwProcessId, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                                          LPINT lpErrno);
typedef int(WSPAPI *LPWSPENUMNETWORKEVENTS)(SOCKET s, WSAEVENT hEventObject, LPWSANETWORKEVENTS lpNetworkEvents,
                                            LPINT lpErrno);
typedef int(WSPAPI *LPWSPEVENTSELECT)(SOCKET s, WSAEVENT hEventObject, LONG lNetworkEvents, LPINT lpErrno);
typedef BOOL(WSPAPI *LPWSPGETOVERLAPPEDRESULT)(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
                                               BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno);
typedef int(WSPAPI *LPWSPGETPEERNAME)(SOCKET s, struct sockaddr *name, LPINT namelen, LPINT lpErrno);
typedef int(WSPAPI *LPWSPGETSOCKNAME)(SOCKET s, struct sockaddr *name, LPINT namelen, LPINT lpErrno);
typedef int(WSPAPI *LPWSPGETSOCKOPT)(SOCKET s, int level, int optname, char *optval, LPINT optlen, LPINT lpErrno);
typedef BOOL(WSPAPI *LPWSPGETQOSBYNAME)(SOCKET s, LPWSABUF lpQOSName, LPQOS lpQOS, LPINT lpErrno);
typedef int(WSPAPI *LPWSPIOCTL)(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
                                LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
                                LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                                LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef SOCKET(WSPAPI *LPWSPJOINLEAF)(SOCKET s, const struct sockaddr *name, int namelen, LPWSABUF lpCallerData,
                                      LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, DWORD dwFlags,
                                      LPINT lpErrno);
typedef int(WSPAPI *LPWSPLISTEN)(SOCKET s, int backlog, LPINT lpErrno);
typedef int(WSPAPI *LPWSPRECV)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
                               LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
                               LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
                               LPINT lpErrno);
typedef int(WSPAPI *LPWSPRECVDISCONNECT)(SOCKET s, LPWSABUF lpInboundDisconnectData, LPINT lpErrno);
typedef int(WSPAPI *LPWSPRECVFROM)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
                                   LPDWORD lpFlags, struct sockaddr *lpFrom, LPINT lpFromlen,
                                   LPWSAOVERLAPPED lpOverlapped,
                                   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
                                   LPINT lpErrno);
typedef int(WSPAPI *LPWSPSELECT)(int nfds, WSAFDSET *readfds, WSAFDSET *writefds, WSAFDSET *exceptfds,
                                 const WSATIMEVAL *timeout, LPINT lpErrno);
typedef int(WSPAPI *LPWSPSEND)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
                               DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
                               LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
                               LPINT lpErrno);
typedef int(WSPAPI *LPWSPSENDDISCONNECT)(SOCKET s, LPWSABUF lpOutboundDisconnectData, LPINT lpErrno);
typedef int(WSPAPI *LPWSPSENDTO)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
                                 DWORD dwFlags, const struct sockaddr *lpTo, int iTolen, LPWSAOVERLAPPED lpOverlapped,
                                 LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
                                 LPINT lpErrno);
typedef int(WSPAPI *LPWSPSETSOCKOPT)(SOCKET s, int level, int optname, const char *optval, int optlen,
                                     LPINT lpErrno);
typedef int(WSPAPI *LPWSPSHUTDOWN)(SOCKET s, int how, LPINT lpErrno);
typedef SOCKET(WSPAPI *LPWSPSOCKET)(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP g,
                                    DWORD dwFlags, LPINT lpErrno);
typedef INT(WSPAPI *LPWSPSTRINGTOADDRESS)(LPWSTR AddressString, INT AddressFamily,
                                          LPWSAPROTOCOL_INFOW lpProtocolInfo, struct sockaddr *lpAddress,
                                          LPINT lpAddressLength, LPINT lpErrno);

/* WSPPROC_TABLE [MW-SPI]: 30 pointers, 240 bytes. */
typedef struct _WSPPROC_TABLE {
    LPWSPACCEPT lpWSPAccept;
    LPWSPADDRESSTOSTRING lpWSPAddressToString;
    LPWSPASYNCSELECT lpWSPAsyncSelect;
    LPWSPBIND lpWSPBind;
    LPWSPCANCELBLOCKINGCALL lpWSPCancelBlockingCall;
    LPWSPCLEANUP lpWSPCleanup;
    LPWSPCLOSESOCKET lpWSPCloseSocket;
    LPWSPCONNECT lpWSPConnect;
    LPWSPDUPLICATESOCKET lpWSPDuplicateSocket;
    LPWSPENUMNETWORKEVENTS lpWSPEnumNetworkEvents;
    LPWSPEVENTSELECT lpWSPEventSelect;
    LPWSPGETOVERLAPPEDRESULT lpWSPGetOverlappedResult;
    LPWSPGETPEERNAME lpWSPGetPeerName;
    LPWSPGETSOCKNAME lpWSPGetSockName;
    LPWSPGETSOCKOPT lpWSPGetSockOpt;
    LPWSPGETQOSBYNAME lpWSPGetQOSByName;
    LPWSPIOCTL lpWSPIoctl;
    LPWSPJOINLEAF lpWSPJoinLeaf;
    LPWSPLISTEN lpWSPListen;
    LPWSPRECV lpWSPRecv;
    LPWSPRECVDISCONNECT lpWSPRecvDisconnect;
    LPWSPRECVFROM lpWSPRecvFrom;
    LPWSPSELECT lpWSPSelect;
    LPWSPSEND lpWSPSend;
    LPWSPSENDDISCONNECT lpWSPSendDisconnect;
    LPWSPSENDTO lpWSPSendTo;
    LPWSPSETSOCKOPT lpWSPSetSockOpt;
    LPWSPSHUTDOWN lpWSPShutdown;
    LPWSPSOCKET lpWSPSocket;
    LPWSPSTRINGTOADDRESS lpWSPStringToAddress;
} WSPPROC_TABLE, *LPWSPPROC_TABLE;

/* ---- The 16 upcalls the switch provides, in table order ([MW-SPI]; [MW-SAN]; reference §3.3). ----
 * On Linux a provider signals a WSAEVENT only through lpWPUSetEvent / lpWPUResetEvent. */
typedef BOOL(CALLBACK *LPBLOCKINGCALLBACK)(DWORD_PTR dwContext);
typedef void(CALLBACK *LPWSAUSERAPC)(DWORD_PTR dwContext);

typedef BOOL(WSPAPI *LPWPUCLOSEEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef int(WSPAPI *LPWPUCLOSESOCKETHANDLE)(SOCKET s, LPINT lpErrno);
typedef WSAEVENT(WSPAPI *LPWPUCREATEEVENT)(LPINT lpErrno);
typedef SOCKET(WSPAPI *LPWPUCREATESOCKETHANDLE)(DWORD dwCatalogEntryId, DWORD_PTR dwContext, LPINT lpErrno);
typedef int(WSPAPI *LPWPUFDISSET)(SOCKET s, WSAFDSET *fdset);
typedef int(WSPAPI *LPWPUGETPROVIDERPATH)(LPGUID lpProviderId, WCHAR *lpszProviderDllPath, LPINT lpProviderDllPathLen,
                                          LPINT lpErrno);
typedef SOCKET(WSPAPI *LPWPUMODIFYIFSHANDLE)(DWORD dwCatalogEntryId, SOCKET ProposedHandle, LPINT lpErrno);
typedef BOOL(WSPAPI *LPWPUPOSTMESSAGE)(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam);
typedef int(WSPAPI *LPWPUQUERYBLOCKINGCALLBACK)(DWORD dwCatalogEntryId, LPBLOCKINGCALLBACK *lplpfnCallback,
                                                PDWORD_PTR lpdwContext, LPINT lpErrno);
typedef int(WSPAPI *LPWPUQUERYSOCKETHANDLECONTEXT)(SOCKET s, PDWORD_PTR lpContext, LPINT lpErrno);
typedef int(WSPAPI *LPWPUQUEUEAPC)(LPWSATHREADID lpThreadId, LPWSAUSERAPC lpfnUserApc, DWORD_PTR dwContext,
                                   LPINT lpErrno);
typedef BOOL(WSPAPI *LPWPURESETEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef BOOL(WSPAPI *LPWPUSETEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef int(WSPAPI *LPWPUOPENCURRENTTHREAD)(LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int(WSPAPI *LPWPUCLOSETHREAD)(LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int(WSPAPI *LPWPUCOMPLETEOVERLAPPEDREQUEST)(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                                                    DWORD cbTransferred, LPINT lpErrno);

/* WSPUPCALLTABLEEX [MW-SAN]: 16 pointers, 128 bytes; lpWPUCompleteOverlappedRequest@120. */
typedef struct _WSPUPCALLTABLEEX {
    LPWPUCLOSEEVENT lpWPUCloseEvent;
    LPWPUCLOSESOCKETHANDLE lpWPUCloseSocketHandle;
    LPWPUCREATEEVENT lpWPUCreateEvent;
    LPWPUCREATESOCKETHANDLE lpWPUCreateSocketHandle;
    LPWPUFDISSET lpWPUFDIsSet;
    LPWPUGETPROVIDERPATH lpWPUGetProviderPath;
    LPWPUMODIFYIFSHANDLE lpWPUModifyIFSHandle;
    LPWPUPOSTMESSAGE lpWPUPostMessage;
    LPWPUQUERYBLOCKINGCALLBACK lpWPUQueryBlockingCallback;
    LPWPUQUERYSOCKETHANDLECONTEXT lpWPUQuerySocketHandleContext;
    LPWPUQUEUEAPC lpWPUQueueApc;
    LPWPURESETEVENT lpWPUResetEvent;
    LPWPUSETEVENT lpWPUSetEvent;
    LPWPUOPENCURRENTTHREAD lpWPUOpenCurrentThread;
    LPWPUCLOSETHREAD lpWPUCloseThread;
    LPWPUCOMPLETEOVERLAPPEDREQUEST lpWPUCompleteOverlappedRequest;
} WSPUPCALLTABLEEX, *LPWSPUPCALLTABLEEX;

#ifdef __cplusplus
}
#endif
#endif /* CSAN_SAN_SPI_H */
