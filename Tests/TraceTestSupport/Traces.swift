import SanTraceFormat
import SanTraceStore

/// Hand-made and synthetic traces for the tests of the modules that read traces (diff, report).
public enum Traces {
    public static func metadata(argv: [String] = ["test"], payload: PayloadPolicy = .none) -> TraceMetadata {
        TraceMetadata(argv: argv, providerPath: "synthetic", providerVersion: "0", payloadPolicy: payload,
                      clock: SyntheticWorkload.clock)
    }

    /// A synthetic run: each thread's loop `iterations` times.
    public static func synthetic(_ path: String, _ kind: SyntheticWorkload.Kind = .mixed, iterations: UInt64 = 2000, seed: UInt64 = 1,
                          variation: SyntheticVariation = SyntheticVariation(), argv: [String] = ["test"]) throws {
        var o = TraceWriterOptions()
        o.overwrite = true
        o.segmentRawBytes = 64 << 10
        let w = try TraceWriter(path: path, metadata: metadata(argv: argv), options: o)
        var g = SyntheticWorkload(kind, seed: seed, variation: variation)
        try g.generate(into: w, iterationsPerThread: iterations)
        try w.close()
    }

    /// A trace of exactly these events (sequences are assigned by the writer).
    public static func write(_ path: String, _ events: [TraceEvent], argv: [String] = ["test"], payload: PayloadPolicy = .none) throws {
        var o = TraceWriterOptions()
        o.overwrite = true
        let w = try TraceWriter(path: path, metadata: metadata(argv: argv, payload: payload), options: o)
        for e in events { try w.append(e) }
        try w.close()
    }
}

/// Builds event lists for hand-made traces: per-thread sequence numbers and a clock.
public struct EventScript {
    public init() {}

    public var events: [TraceEvent] = []
    private var seqs: [UInt32: UInt64] = [:]
    public var tsc: UInt64 = 1_000_000_000

    /// Appends an event on `thread` `ns` nanoseconds after the previous one; returns its thread sequence.
    @discardableResult
    public mutating func add(_ kind: EventKind, _ f: FunctionID, thread: UInt32 = 1, after ns: UInt64 = 100, _ fields: [FieldValue]) -> UInt64 {
        let s = (self.seqs[thread] ?? 0) + 1
        self.seqs[thread] = s
        self.tsc += ns * SyntheticWorkload.ticksPerNanosecond
        self.events.append(TraceEvent(kind: kind, function: f, thread: thread, threadSeq: s, tsc: self.tsc, fields: fields))
        return s
    }

    /// WSPSocket returning capture id `id`.
    public mutating func socket(_ id: UInt64, thread: UInt32 = 1) {
        self.add(.enter, .WSPSocket, thread: thread, [.int(2), .int(1), .int(0), .uint(1)])
        self.add(.leave, .WSPSocket, thread: thread, [.uint(id), .int(0)])
    }

    /// An RDMA write on `socket` with overlapped `ov` that goes pending; returns the ENTER's thread sequence.
    public mutating func rdmaWrite(socket: UInt64, ov: UInt64, length: UInt32 = 4096, thread: UInt32 = 1,
                            payload: Payload = .none, after ns: UInt64 = 100) -> UInt64 {
        let s = self.add(.enter, .WSPRdmaWrite, thread: thread, after: ns, [
            .uint(socket), .buffers([BufferRef(length: length, registration: 1, offset: 0, handle: 1)]), .uint(7), .uint(UInt64(length)),
            .uint(0), .uint(0), .uint(ov), .uint(2), .payload(payload),
        ])
        self.add(.leave, .WSPRdmaWrite, thread: thread, after: ns, [.int(-1), .int(997), .uint(0)])
        return s
    }

    /// The completion of the operation started at (thread, seq).
    public mutating func complete(_ f: FunctionID, startThread: UInt32 = 1, seq: UInt64, socket: UInt64, ov: UInt64, status: Int64 = 0,
                           bytes: UInt64 = 4096, thread: UInt32 = 1, payload: Payload = .none, after ns: UInt64 = 100) {
        self.add(.completion, .none, thread: thread, after: ns, [
            .uint(ov), .callRef(thread: startThread, sequence: seq), .uint(UInt64(f.rawValue)), .uint(socket), .int(status),
            .uint(bytes), .uint(0), .uint(2), .payload(payload),
        ])
    }
}
