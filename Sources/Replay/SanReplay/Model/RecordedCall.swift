import SanTraceFormat

/// A range of entries in one of an endpoint's side tables.
struct IndexRange: Equatable {
    var start: Int32
    var count: Int32
    static let empty = IndexRange(start: 0, count: 0)
    var range: Range<Int> { Int(self.start)..<Int(self.start + self.count) }
}

/// One recorded call: its ENTER and LEAVE records reduced to what replay needs, in a fixed-size
/// value. Variable parts (buffer lists, address and option bytes, payloads) live in the
/// endpoint's side tables and are named by index, so a trace of millions of calls loads into a
/// few flat arrays.
///
/// Which scalar slot holds which field is fixed per function by ``TraceLoader`` (its `enter` and
/// `leave` functions are the one place that knows); the planner reads them through the same
/// names (`p0` … `p3` for ENTER scalars, `q0` … `q2` for LEAVE scalars).
struct RecordedCall {
    var function: FunctionID
    var thread: UInt32
    var threadSeq: UInt64
    var enterSeq: UInt64
    var enterTSC: UInt64
    var leaveSeq: UInt64 = .max
    var leaveTSC: UInt64 = 0
    var hasLeave = false

    // ENTER
    /// The first `socket` field (capture id; 0 = INVALID_SOCKET or none).
    var socket: UInt64 = 0
    var ov: UInt64 = 0
    /// completionMode: 0 synchronous, 1 upcall, 2 poll.
    var mode: UInt8 = 0
    /// The ENTER's object field: event, memHandle or rdmaDescriptor capture id.
    var object: UInt64 = 0
    var p0: Int64 = 0
    var p1: Int64 = 0
    var p2: Int64 = 0
    var p3: Int64 = 0
    /// Buffer list (or the single `address` of a registration call) in ``EndpointTrace/buffers``.
    var buffers = IndexRange.empty
    /// ENTER bytes (sockaddr, option value, ioctl input) in ``EndpointTrace/blobs``; -1 none.
    var blob: Int32 = -1
    /// ENTER payload (sends, RDMA writes) in ``EndpointTrace/payloads``; -1 none.
    var payload: Int32 = -1

    // LEAVE
    var ret: Int64 = 0
    var err: Int32 = 0
    var bytes: UInt32 = 0
    var q0: Int64 = 0
    var q1: Int64 = 0
    var q2: Int64 = 0
    /// The object the call returned (socket, memHandle, descriptor capture id).
    var retObject: UInt64 = 0
    /// LEAVE bytes (peer / local address, option value, descriptor bytes); -1 none.
    var leaveBlob: Int32 = -1
    var leavePayload: Int32 = -1

    /// The operation's COMPLETION in ``EndpointTrace/completions``; -1 none recorded.
    var completion: Int32 = -1
    /// WSPGetOverlappedResult: the call (index) whose completion this poll returned; -1 none.
    var pollReturned: Int32 = -1

    init(function: FunctionID, thread: UInt32, threadSeq: UInt64, enterSeq: UInt64, enterTSC: UInt64) {
        self.function = function
        self.thread = thread
        self.threadSeq = threadSeq
        self.enterSeq = enterSeq
        self.enterTSC = enterTSC
    }

    /// The call returned SOCKET_ERROR / FALSE / NULL (by the function's return convention).
    var failed: Bool {
        switch self.function {
        case .WSPSocket, .WSPAccept, .WSPJoinLeaf: return self.retObject == 0
        case .WSPRegisterMemory: return self.retObject == 0
        case .WSPGetOverlappedResult, .WSPGetQOSByName: return self.ret == 0
        case .WSPStartupEx: return self.ret != 0
        default: return self.ret != 0
        }
    }

    /// An overlapped operation was started: the call returned 0, or SOCKET_ERROR with
    /// WSA_IO_PENDING.
    var startedOperation: Bool { self.hasLeave && (self.ret == 0 || self.err == wsaIOPending) }
}

/// One recorded COMPLETION.
struct RecordedCompletion {
    var seq: UInt64
    var tsc: UInt64
    var thread: UInt32
    var status: Int32
    var bytes: UInt32
    var flags: UInt32
    /// 1 upcall, 2 poll, 3 inline, 0 unknown.
    var via: UInt8
    var payload: Int32
}

let wsaIOPending: Int32 = 997
let wsaIOIncomplete: Int32 = 996
let wsaWouldBlock: Int32 = 10035
let wsaFault: Int32 = 10014
