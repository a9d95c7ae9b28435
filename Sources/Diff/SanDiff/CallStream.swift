import SanTraceFormat
import SanTraceStore

/// One call of one thread as the semantic diff compares it: ENTER and LEAVE merged, object ids
/// normalized (``IdNormalizer``), the operation's completion linked. 72 bytes: a 10 M-event
/// trace holds about 5 M of them.
struct CallItem {
    /// Global sequence of the ENTER (of the LOOKUP).
    var seq: UInt64
    /// What alignment matches on: `function << 32 | normalized socket`.
    var key: UInt64
    /// Hash of the ENTER's other fields (normalized ids, flags, lengths, offsets in registrations).
    var args: UInt64 = 0
    /// Hash of the LEAVE's fields other than ret, err, bytes and payload.
    var result: UInt64 = 0
    /// The return value (normalized when it is an object id).
    var ret: Int64 = 0
    /// Bytes the call asks for (its buffer lengths summed, or its `length` field).
    var bytes: UInt64 = 0
    /// Hash of the payload hashes or bytes the ENTER carries (what a send or write sends; kind in
    /// `flags`), and of those the LEAVE carries (what a receive that completed at once received;
    /// kind in `resultPayloadKind`).
    var payload: UInt64 = 0
    var resultPayload: UInt64 = 0
    var err: Int32 = 0
    /// The LEAVE's `bytes` field.
    var resultBytes: UInt32 = 0
    /// Index of its completion in ``EndpointStream/completions``, -1 when none.
    var completion: Int32 = -1
    var flags: UInt8 = 0
    var resultPayloadKind: UInt8 = 0

    static let left: UInt8 = 1
    static let pending: UInt8 = 2
    static let payloadHash: UInt8 = 4
    static let payloadFull: UInt8 = 8
    static let completedEarly: UInt8 = 16
    /// The function starts an overlapped operation (send, receive, RDMA).
    static let startsOperation: UInt8 = 32

    var function: FunctionID { FunctionID(UInt16(truncatingIfNeeded: self.key >> 32)) }
    var socket: UInt32 { UInt32(truncatingIfNeeded: self.key) }
    var isLookup: Bool { self.key >> 32 == Self.lookupFunction }
    var startsOperation: Bool { self.flags & Self.startsOperation != 0 }
    var isPending: Bool { self.flags & Self.pending != 0 }
    /// The alignment key's function part for extension look-ups (not a function id).
    static let lookupFunction: UInt64 = 0x200
}

/// The completion of an operation, linked to the call that started it.
struct CompletionItem {
    var seq: UInt64
    var payload: UInt64
    var status: Int32
    var bytes: UInt32
    /// The starting call: thread rank and index in that thread's items.
    var rank: UInt16
    var via: UInt8
    var payloadKind: UInt8
    var index: Int32
}

/// The calls of one thread, in the thread's order.
struct ThreadStream {
    var thread: UInt32
    var items: [CallItem] = []
}

/// Everything the diff keeps of one endpoint after one pass over its trace.
final class EndpointStream {
    let endpoint: Endpoint
    /// By thread rank − 1.
    var threads: [ThreadStream] = []
    /// Startup, cleanup and extension look-ups, whichever thread made them (in trace order).
    var process = ThreadStream(thread: 0)
    /// In the order they were recorded.
    var completions: [CompletionItem] = []
    /// Completions whose starting call is unknown (a trace cut at its start, a provider that
    /// completed something never started).
    var unlinkedCompletions: UInt64 = 0
    /// LEAVEs with no open call.
    var orphanLeaves: UInt64 = 0
    /// Upcalls per function (compared as counts: which thread makes them, and how often events
    /// are signalled, is up to the provider's timing).
    var upcalls: [UInt16: UInt64] = [:]
    var events: UInt64 = 0
    var payloadPolicy: PayloadPolicy = .none
    let samples = PerformanceSamples()

    init(endpoint: Endpoint) { self.endpoint = endpoint }
}
