import SanTestSupport
import SanTraceFormat
import SanTraceStore

@testable import SanReplay

#if canImport(Glibc)
import Glibc
#endif

/// Writes a trace shaped exactly like the interposer's (ENTER, LEAVE, COMPLETION linked by
/// `start`, remote descriptors in the `descriptors` table) from a script, so the planner and the
/// runtime are tested on traces whose every field the test chose.
final class TraceScript {
    let writer: TraceWriter
    var tsc: UInt64
    private var seq: [UInt32: UInt64] = [:]

    init(_ path: String, program: String = "scripted", start: UInt64 = 1_000_000_000, payload: PayloadPolicy = .none) throws {
        self.writer = try TraceWriter(path: path, metadata: TraceMetadata(argv: ["/usr/bin/" + program], providerPath: "tcp",
                                                                          payloadPolicy: payload, clock: .nanoseconds))
        self.tsc = start
    }

    private func next(_ thread: UInt32) -> UInt64 {
        self.seq[thread, default: 0] += 1
        return self.seq[thread]!
    }

    /// One call: ENTER, then (optionally) a COMPLETION recorded inside it (a poll that returned an
    /// operation), then LEAVE. Returns the ENTER's (thread, thread sequence).
    @discardableResult
    func call(_ f: FunctionID, _ enter: [FieldValue], _ leave: [FieldValue], thread: UInt32 = 1, gap: UInt64 = 1000,
              completes: Completion? = nil) throws -> (UInt32, UInt64) {
        self.tsc += gap
        let s = self.next(thread)
        try self.writer.append(TraceEvent(kind: .enter, function: f, thread: thread, threadSeq: s, tsc: self.tsc, fields: enter))
        if let c = completes { try self.complete(c, thread: thread) }
        self.tsc += 100
        try self.writer.append(TraceEvent(kind: .leave, function: f, thread: thread, threadSeq: self.next(thread), tsc: self.tsc,
                                          fields: leave))
        return (thread, s)
    }

    struct Completion {
        var ov: UInt64
        var start: (UInt32, UInt64)
        var function: FunctionID
        var socket: UInt64
        var status: Int64 = 0
        var bytes: UInt64
        var via: UInt64 = 2
    }

    func complete(_ c: Completion, thread: UInt32) throws {
        self.tsc += 10
        try self.writer.append(TraceEvent(kind: .completion, function: .none, thread: thread, threadSeq: self.next(thread),
                                          tsc: self.tsc, fields: [
                                              .uint(c.ov), .callRef(thread: c.start.0, sequence: c.start.1),
                                              .uint(UInt64(c.function.rawValue)), .uint(c.socket), .int(c.status), .uint(c.bytes),
                                              .uint(0), .uint(c.via), .payload(.none),
                                          ]))
    }

    func remoteDescriptor(_ id: UInt64, socket: UInt64, bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.writer.defineRemoteDescriptor(id: id, socket: socket, bytes: $0) }
    }

    func close() throws { try self.writer.close() }

    static func address(_ port: UInt16, ip: [UInt8] = [127, 0, 0, 1]) -> FieldValue {
        .bytes(RecordedAddress(family: 2, ip: ip, port: port).bytes)
    }

    static let none = FieldValue.payload(.none)
}

/// A temporary folder removed at deinit.
final class TempFolder {
    let path: String
    init() {
        var t = "/tmp/sanreplay-test-XXXXXX".utf8CString
        self.path = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit { _ = system("rm -rf '\(self.path)'") }
}

/// The two sides of a small connection, scripted: the server listens, accepts, registers a
/// region, receives a 100-byte message, answers 50 bytes; the client connects, RDMA-writes 4 KiB
/// into the server's region, then sends the message (which tells the server the write landed)
/// and receives the answer. Poll-mode completions, one incomplete poll on each side.
enum PairScript {
    struct Knobs {
        /// Bytes the server's receive completion reports (100 when recorded faithfully).
        var serverReceiveBytes: UInt64 = 100
        /// Record the client's registration as failed with WSAENOBUFS.
        var clientRegistrationFails = false
        /// Leave the server's trace out of the set (a one-sided client trace).
        var clientOnly = false
        /// The client's 100-byte message carries its recorded bytes (a `full` trace).
        var fullPayload: [UInt8]?
        /// The server sends its 50-byte answer (without it, the client waits for ever).
        var serverAnswers = true
        var port: UInt16 = 5000
    }

    static let descriptor: [UInt8] = Array(repeating: 0xAB, count: 40)

    static func write(into dir: String, _ k: Knobs = Knobs()) throws {
        if !k.clientOnly { try self.server(dir + "/a-server.santrace", k) }
        try self.client(dir + "/b-client.santrace", k)
    }

    static func server(_ path: String, _ k: Knobs) throws {
        let s = try TraceScript(path, program: "server")
        typealias V = FieldValue
        try s.call(.WSPSocket, [.int(2), .int(1), .int(6), .uint(1)], [.uint(1), .int(0)])
        try s.call(.WSPBind, [.uint(1), TraceScript.address(k.port, ip: [0, 0, 0, 0])], [.int(0), .int(0)])
        try s.call(.WSPListen, [.uint(1), .int(16)], [.int(0), .int(0)])
        try s.call(.WSPEventSelect, [.uint(1), .uint(1), .uint(0x08)], [.int(0), .int(0)])
        try s.call(.WSPAccept, [.uint(1), .uint(1)], [.uint(0), .int(10035), .bytes([])])  // would block: timing
        try s.call(.WSPEnumNetworkEvents, [.uint(1), .uint(1)], [.int(0), .int(0), .uint(0x08), .int(0), .int(0)], gap: 50_000)
        try s.call(.WSPAccept, [.uint(1), .uint(1)], [.uint(2), .int(0), TraceScript.address(40000)])
        try s.call(.WSPRegisterMemory, [.uint(2), .address(registration: 0, offset: 0x10000), .uint(8192), .uint(3)],
                   [.uint(1), .int(0)])
        try s.call(.WSPRegisterRdmaMemory, [.uint(2), .address(registration: 1, offset: 4096), .uint(4096), .uint(2), .uint(0)],
                   [.int(-1), .int(10014), .uint(40), .uint(0), .bytes([])])
        try s.call(.WSPRegisterRdmaMemory, [.uint(2), .address(registration: 1, offset: 4096), .uint(4096), .uint(2), .uint(40)],
                   [.int(0), .int(0), .uint(40), .uint(1), .bytes(Self.descriptor)])
        let recv = try s.call(.WSPRecv, [.uint(2), .buffers([BufferRef(length: 100, registration: 1, offset: 0)]), .uint(0),
                                         .uint(1), .uint(2)], [.int(-1), .int(997), .uint(0), .uint(0), TraceScript.none])
        try s.call(.WSPGetOverlappedResult, [.uint(2), .uint(1), .uint(0)], [.uint(0), .int(996), .uint(0), .uint(0)])
        try s.call(.WSPGetOverlappedResult, [.uint(2), .uint(1), .uint(0)], [.uint(1), .int(0), .uint(k.serverReceiveBytes), .uint(0)],
                   gap: 200_000,
                   completes: .init(ov: 1, start: recv, function: .WSPRecv, socket: 2, bytes: k.serverReceiveBytes))
        if k.serverAnswers {
            let send = try s.call(.WSPSend, [.uint(2), .buffers([BufferRef(length: 50, registration: 1, offset: 200)]), .uint(0),
                                             .uint(2), .uint(2), TraceScript.none], [.int(-1), .int(997), .uint(0)])
            try s.call(.WSPGetOverlappedResult, [.uint(2), .uint(2), .uint(0)], [.uint(1), .int(0), .uint(50), .uint(0)],
                       completes: .init(ov: 2, start: send, function: .WSPSend, socket: 2, bytes: 50))
        }
        guard k.serverAnswers else { return try s.close() }  // and keeps the connection open
        try s.call(.WSPDeregisterRdmaMemory, [.uint(2), .uint(1), .uint(40)], [.int(0), .int(0)], gap: 100_000)
        try s.call(.WSPDeregisterMemory, [.uint(2), .uint(1)], [.int(0), .int(0)])
        try s.call(.WSPCloseSocket, [.uint(2)], [.int(0), .int(0)])
        try s.call(.WSPCloseSocket, [.uint(1)], [.int(0), .int(0)])
        try s.close()
    }

    static func client(_ path: String, _ k: Knobs) throws {
        let s = try TraceScript(path, program: "client", start: 1_000_010_000, payload: k.fullPayload == nil ? .none : .full)
        try s.call(.WSPSocket, [.int(2), .int(1), .int(6), .uint(1)], [.uint(1), .int(0)])
        try s.call(.WSPEventSelect, [.uint(1), .uint(1), .uint(0x10)], [.int(0), .int(0)])
        try s.call(.WSPConnect, [.uint(1), TraceScript.address(k.port)], [.int(-1), .int(10035)])
        try s.call(.WSPEnumNetworkEvents, [.uint(1), .uint(1)], [.int(0), .int(0), .uint(0x10), .int(0), .int(0)])
        try s.call(.WSPEventSelect, [.uint(1), .uint(0), .uint(0)], [.int(0), .int(0)])
        if k.clientRegistrationFails {
            try s.call(.WSPRegisterMemory, [.uint(1), .address(registration: 0, offset: 0x20000), .uint(8192), .uint(3)],
                       [.uint(0), .int(10055)])
            try s.call(.WSPCloseSocket, [.uint(1)], [.int(0), .int(0)])
            return try s.close()
        }
        try s.call(.WSPRegisterMemory, [.uint(1), .address(registration: 0, offset: 0x20000), .uint(8192), .uint(3)],
                   [.uint(1), .int(0)])
        s.remoteDescriptor(1, socket: 1, bytes: Self.descriptor)
        let write = try s.call(.WSPRdmaWrite, [.uint(1), .buffers([BufferRef(length: 4096, registration: 1, offset: 0, handle: 1)]),
                                              .uint(1), .uint(40), .uint(0), .uint(0), .uint(1), .uint(2), TraceScript.none],
                               [.int(-1), .int(997), .uint(0)])
        try s.call(.WSPGetOverlappedResult, [.uint(1), .uint(1), .uint(0)], [.uint(0), .int(996), .uint(0), .uint(0)])
        try s.call(.WSPGetOverlappedResult, [.uint(1), .uint(1), .uint(0)], [.uint(1), .int(0), .uint(4096), .uint(0)],
                   completes: .init(ov: 1, start: write, function: .WSPRdmaWrite, socket: 1, bytes: 4096))
        let payload = k.fullPayload.map { FieldValue.payload(.full([$0])) } ?? TraceScript.none
        let send = try s.call(.WSPSend, [.uint(1), .buffers([BufferRef(length: 100, registration: 1, offset: 4096)]), .uint(0),
                                         .uint(2), .uint(2), payload], [.int(-1), .int(997), .uint(0)])
        try s.call(.WSPGetOverlappedResult, [.uint(1), .uint(2), .uint(0)], [.uint(1), .int(0), .uint(100), .uint(0)],
                   completes: .init(ov: 2, start: send, function: .WSPSend, socket: 1, bytes: 100))
        let recv = try s.call(.WSPRecv, [.uint(1), .buffers([BufferRef(length: 64, registration: 1, offset: 5000)]), .uint(0),
                                         .uint(3), .uint(2)], [.int(-1), .int(997), .uint(0), .uint(0), TraceScript.none])
        try s.call(.WSPGetOverlappedResult, [.uint(1), .uint(3), .uint(0)], [.uint(1), .int(0), .uint(50), .uint(0)],
                   gap: 300_000, completes: .init(ov: 3, start: recv, function: .WSPRecv, socket: 1, bytes: 50))
        try s.call(.WSPDeregisterMemory, [.uint(1), .uint(1)], [.int(0), .int(0)])
        try s.call(.WSPCloseSocket, [.uint(1)], [.int(0), .int(0)])
        try s.close()
    }
}
