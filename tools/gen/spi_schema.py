"""
spi_schema.py — the single source of truth for what a trace records about each SAN SPI call.

Read Docs/TraceFormat.md before changing anything here: function ids and field type ids are
written into every trace, so they are never renumbered or reused. A retired entry stays with
`retired: True`; new entries take new numbers.

Generators read this module:
  - tools/gen/gen_swift_schema.py -> Sources/Trace/SanTraceFormat/Generated/Schema.swift
  - tools/gen/gen_c_wrappers.py   -> Sources/Interposer/CSanTrace/generated/*.{c,h}
and CI checks that regenerating changes nothing (Tests/Integration).

Vocabulary
  event kinds : ENTER (before the real call), LEAVE (after it), COMPLETION (an overlapped
                operation finished: reported by WPUCompleteOverlappedRequest or observed by a
                WSPGetOverlappedResult poll), UPCALL (the provider called the switch),
                LOOKUP (WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) answered for one GUID).
  field types : see FIELD_TYPES. Object fields (socket, handle, descriptor, overlapped, event,
                address) hold capture ids in a stored trace, never raw pointers.
"""

# ---- Event kinds (one byte on disk) ----
EVENT_KINDS = [
    (1, "enter"),
    (2, "leave"),
    (3, "completion"),
    (4, "upcall"),
    (5, "lookup"),
]

# ---- Field types (id, name, what the stored value is) ----
FIELD_TYPES = [
    (1, "i32", "signed 32-bit integer"),
    (2, "u32", "unsigned 32-bit integer"),
    (3, "u64", "unsigned 64-bit integer"),
    (4, "bool", "0 or 1"),
    (5, "wsaError", "WSA error number (0 = none)"),
    (6, "flags", "unsigned 32-bit flags; `names` in the field definition says which flag table"),
    (7, "socket", "capture id of a provider SOCKET (0 = INVALID_SOCKET)"),
    (8, "switchSocket", "capture id of a switch socket handle (WPUCreateSocketHandle)"),
    (9, "memHandle", "capture id of a WSPRegisterMemory handle = the registration id"),
    (10, "rdmaDescriptor", "capture id of an RDMA descriptor; its bytes are stored once, in the descriptors table"),
    (11, "overlapped", "capture id of a WSAOVERLAPPED (by address)"),
    (12, "event", "capture id of a WSAEVENT"),
    (13, "address", "memory address as (registration id, offset); registration 0 = unregistered, offset = raw address"),
    (14, "bufferList", "WSABUF array: count, then per entry (length, address)"),
    (15, "bufferListEx", "WSABUFEX array: count, then per entry (length, address, memHandle)"),
    (16, "sockaddr", "socket address bytes (Linux struct sockaddr_in / sockaddr_in6)"),
    (17, "bytes", "opaque bytes (option values, ioctl buffers), at most 256 kept"),
    (18, "guid", "16 bytes, GUID memory order"),
    (19, "payload", "payload per the trace's policy: none = absent; hash = one 64-bit hash per buffer; full = the bytes"),
    (20, "completionMode", "0 = no overlapped (synchronous), 1 = upcall (hEvent low bit clear), 2 = poll (hEvent low bit set)"),
    (21, "descriptorBytes", "RDMA descriptor bytes as the provider returned or received them"),
    (22, "completionVia", "1 = WPUCompleteOverlappedRequest upcall, 2 = WSPGetOverlappedResult poll, 3 = inline (the call itself returned success)"),
    (23, "callRef", "(thread, sequence) of the ENTER event that started an operation"),
]

# Flag tables for `flags` fields (name -> {bit value: name}).
FLAG_TABLES = {
    "access": {1: "MEM_READ", 2: "MEM_WRITE"},
    "netEvents": {0x01: "FD_READ", 0x02: "FD_WRITE", 0x04: "FD_OOB", 0x08: "FD_ACCEPT", 0x10: "FD_CONNECT",
                  0x20: "FD_CLOSE", 0x40: "FD_QOS", 0x80: "FD_GROUP_QOS", 0x100: "FD_ROUTING_INTERFACE_CHANGE",
                  0x200: "FD_ADDRESS_LIST_CHANGE"},
    "msgFlags": {0x1: "MSG_OOB", 0x2: "MSG_PEEK", 0x4: "MSG_DONTROUTE", 0x8000: "MSG_PARTIAL"},
    "socketFlags": {0x01: "WSA_FLAG_OVERLAPPED"},
    "ioctl": {},  # printed as hex, with names for known codes (see IOCTL_NAMES)
}
IOCTL_NAMES = {0xC8000006: "SIO_GET_EXTENSION_FUNCTION_POINTER", 0x48000016: "SIO_ADDRESS_LIST_QUERY",
               0xC8000007: "SIO_GET_QOS", 0xC8000008: "SIO_GET_GROUP_QOS", 0x8800000B: "SIO_SET_QOS",
               0x8800000C: "SIO_SET_GROUP_QOS"}
SOCKOPT_NAMES = {0x2003: "SO_MAX_MSG_SIZE", 0x700D: "SO_MAX_RDMA_SIZE", 0x700E: "SO_RDMA_THRESHOLD_SIZE",
                 0x2001: "SO_GROUP_ID", 0x2002: "SO_GROUP_PRIORITY", 0x0001: "SO_DEBUG", 0x2005: "SO_PROTOCOL_INFOW"}


def F(name, type_, names=None):
    d = {"name": name, "type": type_}
    if names:
        d["names"] = names
    return d


# Common leave fields.
RET_I32 = [F("ret", "i32"), F("err", "wsaError")]
RET_BOOL = [F("ret", "bool"), F("err", "wsaError")]

# ---- Functions. id: stable on-disk number. group: proc (slot = id), startup, ext, upcall. ----
# `enter` and `leave` list what the interposer records before and after the real call.
# `starts_op`: the call may start an overlapped operation that a COMPLETION event later finishes.
FUNCTIONS = [
    # -- WSPPROC_TABLE, ids 0..29 = slot index (reference §2) --
    dict(id=0, name="WSPAccept", group="proc", enter=[F("s", "socket"), F("hasCondition", "bool")],
         leave=[F("ret", "socket"), F("err", "wsaError"), F("peer", "sockaddr")]),
    dict(id=1, name="WSPAddressToString", group="proc", enter=[F("addr", "sockaddr")], leave=RET_I32),
    dict(id=2, name="WSPAsyncSelect", group="proc", enter=[F("s", "socket"), F("events", "flags", "netEvents")],
         leave=RET_I32),
    dict(id=3, name="WSPBind", group="proc", enter=[F("s", "socket"), F("addr", "sockaddr")], leave=RET_I32),
    dict(id=4, name="WSPCancelBlockingCall", group="proc", enter=[], leave=RET_I32),
    dict(id=5, name="WSPCleanup", group="proc", enter=[], leave=RET_I32),
    dict(id=6, name="WSPCloseSocket", group="proc", enter=[F("s", "socket")], leave=RET_I32),
    dict(id=7, name="WSPConnect", group="proc", enter=[F("s", "socket"), F("addr", "sockaddr")], leave=RET_I32),
    dict(id=8, name="WSPDuplicateSocket", group="proc", enter=[F("s", "socket"), F("pid", "u32")], leave=RET_I32),
    dict(id=9, name="WSPEnumNetworkEvents", group="proc", enter=[F("s", "socket"), F("event", "event")],
         leave=RET_I32 + [F("events", "flags", "netEvents"), F("connectError", "wsaError"),
                          F("acceptError", "wsaError")]),
    dict(id=10, name="WSPEventSelect", group="proc",
         enter=[F("s", "socket"), F("event", "event"), F("events", "flags", "netEvents")], leave=RET_I32),
    dict(id=11, name="WSPGetOverlappedResult", group="proc",
         enter=[F("s", "socket"), F("ov", "overlapped"), F("wait", "bool")],
         leave=RET_BOOL + [F("bytes", "u32"), F("flags", "flags", "msgFlags")]),
    dict(id=12, name="WSPGetPeerName", group="proc", enter=[F("s", "socket")], leave=RET_I32 + [F("addr", "sockaddr")]),
    dict(id=13, name="WSPGetSockName", group="proc", enter=[F("s", "socket")], leave=RET_I32 + [F("addr", "sockaddr")]),
    dict(id=14, name="WSPGetSockOpt", group="proc",
         enter=[F("s", "socket"), F("level", "i32"), F("opt", "i32"), F("optlen", "i32")],
         leave=RET_I32 + [F("value", "bytes")]),
    dict(id=15, name="WSPGetQOSByName", group="proc", enter=[F("s", "socket")], leave=RET_BOOL),
    dict(id=16, name="WSPIoctl", group="proc",
         enter=[F("s", "socket"), F("code", "flags", "ioctl"), F("input", "bytes"), F("outlen", "u32"),
                F("ov", "overlapped"), F("mode", "completionMode")],
         leave=RET_I32 + [F("returned", "u32"), F("output", "bytes")]),
    dict(id=17, name="WSPJoinLeaf", group="proc", enter=[F("s", "socket"), F("addr", "sockaddr")],
         leave=[F("ret", "socket"), F("err", "wsaError")]),
    dict(id=18, name="WSPListen", group="proc", enter=[F("s", "socket"), F("backlog", "i32")], leave=RET_I32),
    dict(id=19, name="WSPRecv", group="proc", starts_op=True,
         enter=[F("s", "socket"), F("buffers", "bufferList"), F("flags", "flags", "msgFlags"), F("ov", "overlapped"),
                F("mode", "completionMode")],
         leave=RET_I32 + [F("bytes", "u32"), F("flags", "flags", "msgFlags"), F("payload", "payload")]),
    dict(id=20, name="WSPRecvDisconnect", group="proc", enter=[F("s", "socket")], leave=RET_I32),
    dict(id=21, name="WSPRecvFrom", group="proc", starts_op=True,
         enter=[F("s", "socket"), F("buffers", "bufferList"), F("ov", "overlapped"), F("mode", "completionMode")],
         leave=RET_I32 + [F("bytes", "u32")]),
    dict(id=22, name="WSPSelect", group="proc", enter=[F("nfds", "i32")], leave=RET_I32),
    dict(id=23, name="WSPSend", group="proc", starts_op=True,
         enter=[F("s", "socket"), F("buffers", "bufferList"), F("flags", "flags", "msgFlags"), F("ov", "overlapped"),
                F("mode", "completionMode"), F("payload", "payload")],
         leave=RET_I32 + [F("bytes", "u32")]),
    dict(id=24, name="WSPSendDisconnect", group="proc", enter=[F("s", "socket")], leave=RET_I32),
    dict(id=25, name="WSPSendTo", group="proc", starts_op=True,
         enter=[F("s", "socket"), F("buffers", "bufferList"), F("to", "sockaddr"), F("ov", "overlapped"),
                F("mode", "completionMode")],
         leave=RET_I32 + [F("bytes", "u32")]),
    dict(id=26, name="WSPSetSockOpt", group="proc",
         enter=[F("s", "socket"), F("level", "i32"), F("opt", "i32"), F("value", "bytes")], leave=RET_I32),
    dict(id=27, name="WSPShutdown", group="proc", enter=[F("s", "socket"), F("how", "i32")], leave=RET_I32),
    dict(id=28, name="WSPSocket", group="proc",
         enter=[F("af", "i32"), F("type", "i32"), F("protocol", "i32"), F("flags", "flags", "socketFlags")],
         leave=[F("ret", "socket"), F("err", "wsaError")]),
    dict(id=29, name="WSPStringToAddress", group="proc", enter=[F("af", "i32")], leave=RET_I32),

    # -- The exported entry point --
    dict(id=32, name="WSPStartupEx", group="startup", enter=[F("version", "u32")],
         leave=[F("ret", "wsaError"), F("highVersion", "u32"), F("description", "bytes")]),

    # -- Extensions, ids 33..39 = 33 + SanExtension raw value (reference §1) --
    dict(id=33, name="WSPRegisterMemory", group="ext",
         enter=[F("s", "socket"), F("buffer", "address"), F("length", "u32"), F("flags", "flags", "access")],
         leave=[F("ret", "memHandle"), F("err", "wsaError")]),
    dict(id=34, name="WSPDeregisterMemory", group="ext", enter=[F("s", "socket"), F("handle", "memHandle")],
         leave=RET_I32),
    dict(id=35, name="WSPRegisterRdmaMemory", group="ext",
         enter=[F("s", "socket"), F("buffer", "address"), F("length", "u32"), F("flags", "flags", "access"),
                F("descriptorLength", "u32")],
         leave=RET_I32 + [F("descriptorLength", "u32"), F("descriptor", "rdmaDescriptor"),
                          F("descriptorBytes", "descriptorBytes")]),
    dict(id=36, name="WSPDeregisterRdmaMemory", group="ext",
         enter=[F("s", "socket"), F("descriptor", "rdmaDescriptor"), F("descriptorLength", "u32")], leave=RET_I32),
    dict(id=37, name="WSPRdmaWrite", group="ext", starts_op=True,
         enter=[F("s", "socket"), F("buffers", "bufferListEx"), F("target", "rdmaDescriptor"),
                F("targetLength", "u32"), F("offset", "u32"), F("flags", "u32"), F("ov", "overlapped"),
                F("mode", "completionMode"), F("payload", "payload")],
         leave=RET_I32 + [F("bytes", "u32")]),
    dict(id=38, name="WSPRdmaRead", group="ext", starts_op=True,
         enter=[F("s", "socket"), F("buffers", "bufferListEx"), F("target", "rdmaDescriptor"),
                F("targetLength", "u32"), F("offset", "u32"), F("flags", "u32"), F("ov", "overlapped"),
                F("mode", "completionMode")],
         leave=RET_I32 + [F("bytes", "u32")]),
    dict(id=39, name="WSPMemoryRegistrationCacheCallback", group="ext",
         enter=[F("address", "address"), F("size", "u64")], leave=RET_I32),

    # -- Upcalls, ids 64..79 = 64 + WSPUPCALLTABLEEX slot (reference §3.3). One UPCALL event each,
    #    recorded after the switch's function returned. --
    dict(id=64, name="WPUCloseEvent", group="upcall", fields=[F("event", "event"), F("ret", "bool")]),
    dict(id=65, name="WPUCloseSocketHandle", group="upcall", fields=[F("s", "switchSocket"), F("ret", "i32")]),
    dict(id=66, name="WPUCreateEvent", group="upcall", fields=[F("ret", "event")]),
    dict(id=67, name="WPUCreateSocketHandle", group="upcall",
         fields=[F("catalog", "u32"), F("context", "socket"), F("ret", "switchSocket"), F("err", "wsaError")]),
    dict(id=68, name="WPUFDIsSet", group="upcall", fields=[F("s", "switchSocket"), F("ret", "i32")]),
    dict(id=69, name="WPUGetProviderPath", group="upcall", fields=[F("ret", "i32")]),
    dict(id=70, name="WPUModifyIFSHandle", group="upcall", fields=[F("ret", "switchSocket")]),
    dict(id=71, name="WPUPostMessage", group="upcall", fields=[F("ret", "bool")]),
    dict(id=72, name="WPUQueryBlockingCallback", group="upcall", fields=[F("ret", "i32")]),
    dict(id=73, name="WPUQuerySocketHandleContext", group="upcall",
         fields=[F("s", "switchSocket"), F("context", "socket"), F("ret", "i32")]),
    dict(id=74, name="WPUQueueApc", group="upcall", fields=[F("ret", "i32")]),
    dict(id=75, name="WPUResetEvent", group="upcall", fields=[F("event", "event"), F("ret", "bool")]),
    dict(id=76, name="WPUSetEvent", group="upcall", fields=[F("event", "event"), F("ret", "bool")]),
    dict(id=77, name="WPUOpenCurrentThread", group="upcall", fields=[F("ret", "i32")]),
    dict(id=78, name="WPUCloseThread", group="upcall", fields=[F("ret", "i32")]),
    dict(id=79, name="WPUCompleteOverlappedRequest", group="upcall",
         fields=[F("s", "switchSocket"), F("ov", "overlapped"), F("error", "wsaError"), F("bytes", "u32"),
                 F("ret", "i32")]),
]

# ---- Non-call events ----
# COMPLETION: an overlapped operation finished. `start` links it to the ENTER event of the call
# that started it (found by overlapped identity; 0/0 when the start was not seen).
COMPLETION_FIELDS = [F("ov", "overlapped"), F("start", "callRef"), F("function", "u32"), F("s", "socket"),
                     F("status", "wsaError"), F("bytes", "u32"), F("flags", "flags", "msgFlags"),
                     F("via", "completionVia"), F("payload", "payload")]
# LOOKUP: one extension look-up through WSPIoctl; `extension` is 33..39 (the function id) or 0
# for a GUID the SPI does not define; `status` 0 = supported, else the WSA error (WSAEOPNOTSUPP).
LOOKUP_FIELDS = [F("guid", "guid"), F("extension", "u32"), F("status", "wsaError")]

UPCALL_SLOTS = [f["name"] for f in FUNCTIONS if f["group"] == "upcall"]
PROC_SLOTS = [f["name"] for f in FUNCTIONS if f["group"] == "proc"]
assert len(PROC_SLOTS) == 30 and len(UPCALL_SLOTS) == 16
assert len({f["id"] for f in FUNCTIONS}) == len(FUNCTIONS)
