/// One event as the drain hands it to a trace sink: raw pointers already turned into capture ids.
///
/// `fields` follow tools/gen/spi_schema.py: the function's `enter`, `leave` or `fields` list for
/// ENTER, LEAVE and UPCALL events, COMPLETION_FIELDS for completions, LOOKUP_FIELDS for look-ups.
public struct TraceEvent: Sendable, Equatable {
    public enum Kind: UInt8, Sendable { case enter = 1, leave = 2, completion = 3, upcall = 4, lookup = 5 }

    public var kind: Kind
    /// Schema function id (0 for completions and look-ups).
    public var function: UInt8
    /// Capture thread number (from 1); 0 for events the drain derived (inline completions).
    public var thread: UInt32
    /// Per-thread sequence number (from 0, no gaps for a thread's recorded events).
    public var sequence: UInt64
    /// rdtsc ticks; `TraceMetadata.ticksPerSecond` converts.
    public var timestamp: UInt64
    /// CSAN_REC_TRUNCATED when a list, blob or payload was cut to fit.
    public var flags: UInt16
    public var fields: [TraceValue]

    public init(kind: Kind, function: UInt8, thread: UInt32, sequence: UInt64, timestamp: UInt64, flags: UInt16 = 0,
                fields: [TraceValue]) {
        self.kind = kind
        self.function = function
        self.thread = thread
        self.sequence = sequence
        self.timestamp = timestamp
        self.flags = flags
        self.fields = fields
    }
}

/// One recorded value. Objects are capture ids (0 = none / invalid), never pointers.
public enum TraceValue: Sendable, Equatable {
    /// i32, wsaError.
    case int(Int64)
    /// u32, u64, bool, flags, completionMode, completionVia.
    case uint(UInt64)
    /// socket, switchSocket, memHandle, rdmaDescriptor, overlapped, event: a capture id.
    case object(UInt64)
    /// A memory address as (registration id, offset); registration 0 = unregistered, offset = raw.
    case address(registration: UInt64, offset: UInt64)
    /// bufferList / bufferListEx: the count the caller passed and the entries kept.
    case buffers(count: UInt64, [TraceBuffer])
    /// sockaddr, bytes, descriptorBytes: the length the caller gave and the bytes kept.
    case bytes(length: UInt64, [UInt8])
    case guid([UInt8])
    case payload(TracePayload)
    /// (thread, sequence) of the ENTER event that started an operation; (0, 0) when not seen.
    case callRef(thread: UInt32, sequence: UInt64)

    public var uintValue: UInt64? {
        switch self {
        case .uint(let v), .object(let v): return v
        case .int(let v): return UInt64(bitPattern: v)
        default: return nil
        }
    }
}

public struct TraceBuffer: Sendable, Equatable {
    public var length: UInt64
    public var registration: UInt64
    public var offset: UInt64
    /// The memHandle capture id of a WSABUFEX entry (0 for WSABUF).
    public var handle: UInt64

    public init(length: UInt64, registration: UInt64, offset: UInt64, handle: UInt64) {
        self.length = length
        self.registration = registration
        self.offset = offset
        self.handle = handle
    }
}

public struct TracePayload: Sendable, Equatable {
    public enum Mode: UInt8, Sendable { case none = 0, hash = 1, full = 2 }
    public struct Entry: Sendable, Equatable {
        public var length: UInt64
        /// xxh64 in hash mode.
        public var hash: UInt64
        /// The bytes kept in full mode (fewer than `length` when truncated).
        public var bytes: [UInt8]

        public init(length: UInt64, hash: UInt64, bytes: [UInt8]) {
            self.length = length
            self.hash = hash
            self.bytes = bytes
        }
    }
    public var mode: Mode
    public var entries: [Entry]

    public init(mode: Mode, entries: [Entry]) {
        self.mode = mode
        self.entries = entries
    }

    public static let empty = TracePayload(mode: .none, entries: [])
}

/// What a trace records about its process and capture (the store's metadata table).
public struct TraceMetadata: Sendable, Equatable {
    public var program: String
    public var pid: Int32
    public var arguments: [String]
    public var hostname: String
    public var mode: String
    public var provider: String
    public var payload: String
    public var lossy: Bool
    public var ringBytes: UInt64
    /// Fork generation: 0 for the original process, n for a child forked n levels down.
    public var forkGeneration: Int
    public var parentPid: Int32
    /// Wall-clock start (ns since the epoch) and the rdtsc value taken at the same moment.
    public var startRealtimeNanoseconds: UInt64
    public var startTicks: UInt64
    /// rdtsc ticks per second (calibrated against CLOCK_MONOTONIC at start and refined at flushes).
    public var ticksPerSecond: Double

    public var keyValues: [(String, String)] {
        [("program", self.program), ("pid", String(self.pid)), ("argv", self.arguments.joined(separator: "\u{1f}")),
         ("host", self.hostname), ("mode", self.mode), ("provider", self.provider), ("payload", self.payload),
         ("lossy", self.lossy ? "1" : "0"), ("ring_bytes", String(self.ringBytes)),
         ("fork_generation", String(self.forkGeneration)), ("parent_pid", String(self.parentPid)),
         ("start_realtime_ns", String(self.startRealtimeNanoseconds)), ("start_ticks", String(self.startTicks)),
         ("ticks_per_second", String(self.ticksPerSecond))]
    }
}

/// Counters of one capture, written at every flush.
public struct CaptureStats: Sendable, Equatable {
    public var events: UInt64 = 0
    public var records: UInt64 = 0
    public var stalls: UInt64 = 0
    public var drops: UInt64 = 0
    public var reentryDrops: UInt64 = 0
    public var sidetableMisses: UInt64 = 0
    public var threads: UInt64 = 0
    public var unlinkedCompletions: UInt64 = 0
    public var repeatedPolls: UInt64 = 0
    public var deferredCompletions: UInt64 = 0
    public var flushes: UInt64 = 0
    public var ticksPerSecond: Double = 0

    public init() {}

    public var keyValues: [(String, String)] {
        [("events", String(self.events)), ("records", String(self.records)), ("stalls", String(self.stalls)),
         ("drops", String(self.drops)), ("reentry_drops", String(self.reentryDrops)),
         ("sidetable_misses", String(self.sidetableMisses)), ("threads", String(self.threads)),
         ("unlinked_completions", String(self.unlinkedCompletions)), ("repeated_polls", String(self.repeatedPolls)),
         ("deferred_completions", String(self.deferredCompletions)), ("flushes", String(self.flushes)),
         ("ticks_per_second", String(self.ticksPerSecond))]
    }
}

/// Where the drain puts events: the trace store's segment writer, or a stand-in.
/// Called from the drain thread only.
public protocol TraceSink: AnyObject {
    /// Once, before any event.
    func begin(_ metadata: TraceMetadata) throws
    /// The bytes of an RDMA descriptor, once per descriptor capture id, before the first event using it.
    func defineDescriptor(id: UInt64, bytes: [UInt8]) throws
    func write(_ event: TraceEvent) throws
    /// Bytes buffered since the last flush (the drain flushes at 1 MiB).
    var pendingBytes: Int { get }
    /// Makes everything written so far durable against a crash of this process (one commit).
    func flush(_ stats: CaptureStats) throws
    /// The last flush; the sink is not used afterwards.
    func close(_ stats: CaptureStats) throws
}
