import CSanABI
import SanCore
import SanSwitch

/// write_lat: a ping-pong of RDMA writes, each followed by a small "done" send on the same
/// connection (the WSD switch's own pattern for large transfers, reference §4.3), rather than
/// perftest's polling of the target memory: it needs no busy-polling of memory a provider thread
/// writes, works with every provider, and checks the SPI's ordering promise on every iteration
/// (when the send arrives, the written bytes are in place; the receiver verifies the stamp in
/// the region's last byte). Reported latency is half the round trip, like perftest's.
final class RdmaWriteLatencyWorkload: PerfWorkload {
    let config: PerfConfig
    private var memory: PerfMemory?
    /// [0, size): the source of our writes; [size, 2·size): the region the peer writes;
    /// then 8 bytes to send and 8 to receive.
    private var local: SanMemoryRegistration?
    private var descriptor: SanRdmaDescriptor?
    static let noteSize = 8

    init(_ config: PerfConfig) { self.config = config }

    private var size: Int { self.config.size }

    private func prepare(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] {
        let mem = PerfMemory(size: 2 * self.size + 2 * Self.noteSize)
        self.memory = mem
        do {
            self.local = try e.socket.register(mem.bytes, access: .readWrite)
            self.descriptor = try e.socket.registerRdma(mem.slice(self.size, self.size), access: .write)
        } catch {
            throw .during("\(e.side) side: registering the write_lat buffers", error)
        }
        return self.descriptor!.bytes
    }

    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] { try self.prepare(e) }

    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8] {
        let d = try self.prepare(e)
        self.peer = DescriptorBlock(clientDescriptor)
        self.ops = Ops(e)
        try self.postNote(e)
        return d
    }

    private var peer: DescriptorBlock?
    private var ops: Ops?

    /// The operations one iteration uses, and their buffers.
    private final class Ops {
        let write: SanOperation, send: SanOperation, recv: SanOperation
        init(_ e: PerfEndpoint) {
            self.write = e.operation()
            self.send = e.operation()
            self.recv = e.operation()
        }
    }

    typealias Buffers = (source: BufferArray, sendNote: BufferArray, recvNote: BufferArray)
    private var bufs: Buffers?

    /// Built once after registration: the loop must not allocate.
    private func buffers() -> Buffers {
        if let b = self.bufs { return b }
        let r = self.local!
        let n = UInt32(Self.noteSize)
        let b = (BufferArray([r.buffer(offset: 0, length: UInt32(self.size))]),
                 BufferArray([r.buffer(offset: UInt32(2 * self.size), length: n)]),
                 BufferArray([r.buffer(offset: UInt32(2 * self.size) + n, length: n)]))
        self.bufs = b
        return b
    }

    private func postNote(_ e: PerfEndpoint) throws(PerfError) {
        let b = self.buffers().recvNote
        try perfStart("WSPRecv", e.side) { () throws(SanSwitchError) in
            try e.socket.recvUnchecked(b.plain, count: 1, operation: self.ops!.recv)
        }
    }

    /// The stamp written into the last byte of the region for iteration `i`.
    private static func stamp(_ i: Int, _ side: PerfSide) -> UInt8 { UInt8(truncatingIfNeeded: i * 2 + (side == .client ? 1 : 0)) }

    /// Writes our source into the peer's region and sends the note; waits for both.
    private func writeThenNotify(_ e: PerfEndpoint, _ i: Int, _ b: Buffers,
                                 _ peer: DescriptorBlock) throws(PerfError) {
        let ops = self.ops!
        self.memory!.bytes[self.size - 1] = Self.stamp(i, e.side)
        try perfStart("WSPRdmaWrite", e.side) { () throws(SanSwitchError) in
            try e.socket.rdmaWriteUnchecked(b.source.ex, count: 1, descriptor: peer.bytes, operation: ops.write)
            try e.socket.sendUnchecked(b.sendNote.plain, count: 1, operation: ops.send)
        }
    }

    private func awaitWriteAndNote(_ e: PerfEndpoint) throws(PerfError) {
        try e.complete(self.ops!.write, "WSPRdmaWrite")
        try e.complete(self.ops!.send, "WSPSend (done note)")
    }

    /// Waits for the peer's note and checks its write landed before it (when data moves at all).
    private func awaitPeer(_ e: PerfEndpoint, _ i: Int) throws(PerfError) {
        try e.complete(self.ops!.recv, "WSPRecv (done note)")
        let other: PerfSide = e.side == .client ? .server : .client
        let got = self.memory!.bytes[2 * self.size - 1]
        if e.dataMoved && got != Self.stamp(i, other) {
            throw .failed("\(e.side) side: iteration \(i): the peer's done note arrived before its RDMA write was in place (last byte \(got), expected \(Self.stamp(i, other)))")
        }
    }

    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement {
        let peer = DescriptorBlock(serverDescriptor)
        self.ops = Ops(e)
        let b = self.buffers()
        var recorder = LatencyRecorder(divisor: 2)
        var measured: UInt64 = 0
        let warmup = self.config.warmup
        for i in 0..<(warmup + self.config.iterations) {
            try self.postNote(e)
            let t0 = perfNow()
            try self.writeThenNotify(e, i, b, peer)
            try self.awaitPeer(e, i)
            let t1 = perfNow()
            try self.awaitWriteAndNote(e)
            if i >= warmup {
                recorder.record(t1 - t0)
                measured += t1 - t0
            }
        }
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.size), operations: n, seconds: Double(measured) / 1e9,
                               latency: recorder.summary)
    }

    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement {
        let peer = self.peer!
        let b = self.buffers()
        let total = self.config.warmup + self.config.iterations
        let start = perfNow()
        for i in 0..<total {
            try self.awaitPeer(e, i)
            if i + 1 < total { try self.postNote(e) }
            try self.writeThenNotify(e, i, b, peer)
            try self.awaitWriteAndNote(e)
        }
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.size), operations: n, seconds: Double(perfNow() - start) / 1e9,
                               latency: nil)
    }

    func release(_ e: PerfEndpoint) {
        if let d = self.descriptor { try? e.socket.deregisterRdma(d) }
        if let r = self.local { try? e.socket.deregister(r) }
        self.descriptor = nil
        self.local = nil
    }

    deinit { self.memory?.free() }
}
