import SanTraceFormat
import SanTraceStore

/// One recorded process of a trace set, loaded for replay: its calls in recorded order, their
/// completions, and the side tables the calls point into.
public final class EndpointTrace {
    /// Position in the set (traces sorted by path): the same on every replaying host, so it
    /// seeds payloads and names coordinator keys.
    public let index: Int
    /// The trace's file name without `.santrace` (what `--endpoint` selects).
    public let name: String
    public let path: String
    public let payloadPolicy: PayloadPolicy
    public let clock: ClockCalibration
    /// The recorded program (base name of its argv[0]).
    public internal(set) var program = "process"
    /// Events read.
    public internal(set) var events: UInt64 = 0

    /// Every call, in the order of its ENTER (global sequence).
    var calls: [RecordedCall] = []
    var buffers: [BufferRef] = []
    var blobs: [[UInt8]] = []
    var payloads: [Payload] = []
    var completions: [RecordedCompletion] = []
    /// Application threads (those that made calls), each with its calls in order.
    var threads: [(id: UInt32, calls: [Int32])] = []
    /// RDMA descriptor capture id → bytes (registered here or received and used as a target).
    var descriptorBytes: [UInt64: [UInt8]] = [:]
    /// Extension look-ups: (extension function, status).
    var lookups: [(FunctionID, Int32)] = []
    /// COMPLETION events that named no call that started an operation.
    var unlinkedCompletions = 0

    init(index: Int, name: String, path: String, payloadPolicy: PayloadPolicy, clock: ClockCalibration) {
        self.index = index
        self.name = name
        self.path = path
        self.payloadPolicy = payloadPolicy
        self.clock = clock
    }

    /// Nanoseconds between two TSC readings of this trace.
    func nanoseconds(from a: UInt64, to b: UInt64) -> Int64 { self.clock.nanoseconds(from: a, to: b) }

    /// Wall-clock nanoseconds of a TSC reading (comparable across traces of one host).
    func realtime(_ tsc: UInt64) -> Int64 {
        self.clock.anchorRealtimeNs &+ self.clock.nanoseconds(from: self.clock.anchorTSC, to: tsc)
    }

    func blob(_ i: Int32) -> [UInt8] { i >= 0 && Int(i) < self.blobs.count ? self.blobs[Int(i)] : [] }

    func bufferList(_ call: RecordedCall) -> ArraySlice<BufferRef> { self.buffers[call.buffers.range] }

    /// Total length of a call's buffer list.
    func totalLength(_ call: RecordedCall) -> UInt64 {
        self.bufferList(call).reduce(0) { $0 + UInt64($1.length) }
    }
}
