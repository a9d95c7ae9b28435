import CSanABI
import SanCore
import SanSwitch

/// send_lat: a ping-pong of `--size`-byte messages (8 by default) with WSPSend / WSPRecv. Each end
/// posts the receive for the next message before it sends, so no message waits for a receive.
/// Reported latency is half the round trip, like perftest's.
final class SendLatencyWorkload: PerfWorkload {
    let config: PerfConfig
    private var memory: PerfMemory?
    private var registration: SanMemoryRegistration?
    private var sendBuf: BufferArray?
    private var recvBuf: BufferArray?
    private var sendOp: SanOperation?
    private var recvOp: SanOperation?

    init(_ config: PerfConfig) { self.config = config }

    private func prepare(_ e: PerfEndpoint) throws(PerfError) {
        let size = self.config.size
        let mem = PerfMemory(size: 2 * size, fill: 0x33)
        self.memory = mem
        do { self.registration = try e.socket.register(mem.bytes, access: .readWrite) } catch {
            throw .during("\(e.side) side: WSPRegisterMemory of the message buffers", error)
        }
        self.sendBuf = BufferArray([self.registration!.buffer(offset: 0, length: UInt32(size))])
        self.recvBuf = BufferArray([self.registration!.buffer(offset: UInt32(size), length: UInt32(size))])
        self.sendOp = e.operation()
        self.recvOp = e.operation()
    }

    private func postReceive(_ e: PerfEndpoint) throws(PerfError) {
        try perfStart("WSPRecv", e.side) { () throws(SanSwitchError) in
            try e.socket.recvUnchecked(self.recvBuf!.plain, count: 1, operation: self.recvOp!)
        }
    }

    private func send(_ e: PerfEndpoint) throws(PerfError) {
        try perfStart("WSPSend", e.side) { () throws(SanSwitchError) in
            try e.socket.sendUnchecked(self.sendBuf!.plain, count: 1, operation: self.sendOp!)
        }
    }

    private func received(_ e: PerfEndpoint) throws(PerfError) {
        let bytes = try e.complete(self.recvOp!, "WSPRecv")
        guard bytes == UInt32(self.config.size) else {
            throw .failed("\(e.side) side: WSPRecv completed with \(bytes) bytes, expected one \(self.config.size)-byte message")
        }
    }

    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] {
        try self.prepare(e)
        return []
    }

    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8] {
        try self.prepare(e)
        try self.postReceive(e)
        return []
    }

    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement {
        var recorder = LatencyRecorder(divisor: 2)
        var measured: UInt64 = 0
        let warmup = self.config.warmup
        for i in 0..<(warmup + self.config.iterations) {
            try self.postReceive(e)
            let t0 = perfNow()
            try self.send(e)
            try self.received(e)
            let t1 = perfNow()
            try e.complete(self.sendOp!, "WSPSend")
            if i >= warmup {
                recorder.record(t1 - t0)
                measured += t1 - t0
            }
        }
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: n, seconds: Double(measured) / 1e9,
                               latency: recorder.summary)
    }

    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement {
        let total = self.config.warmup + self.config.iterations
        let start = perfNow()
        for i in 0..<total {
            try self.received(e)
            if i + 1 < total { try self.postReceive(e) }
            try self.send(e)
            try e.complete(self.sendOp!, "WSPSend")
        }
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: n, seconds: Double(perfNow() - start) / 1e9,
                               latency: nil)
    }

    func release(_ e: PerfEndpoint) {
        if let r = self.registration { try? e.socket.deregister(r) }
        self.registration = nil
    }

    deinit { self.memory?.free() }
}

/// send_bw: the client keeps `--tx-depth` sends of `--size` bytes in flight; the server keeps as
/// many receives posted (one buffer each) and reposts each as it completes, until `--iters`
/// messages arrived; then it answers `ack`, which stops the client's clock.
final class SendBandwidthWorkload: PerfWorkload {
    let config: PerfConfig
    private var memory: PerfMemory?
    private var registration: SanMemoryRegistration?
    private var buffers: [BufferArray] = []
    private var window: OperationWindow?

    init(_ config: PerfConfig) { self.config = config }

    private var slots: Int { max(1, min(self.config.txDepth, self.config.iterations)) }

    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] {
        let mem = PerfMemory(size: self.config.size, fill: 0x77)
        self.memory = mem
        do { self.registration = try e.socket.register(mem.bytes, access: .read) } catch {
            throw .during("client side: WSPRegisterMemory of the send buffer", error)
        }
        self.buffers = [BufferArray([self.registration!.buffer()])]
        return []
    }

    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8] {
        let size = self.config.size
        let mem = PerfMemory(size: self.slots * size)
        self.memory = mem
        do { self.registration = try e.socket.register(mem.bytes, access: .write) } catch {
            throw .during("server side: WSPRegisterMemory of the receive buffers", error)
        }
        self.buffers = (0..<self.slots).map {
            BufferArray([self.registration!.buffer(offset: UInt32($0 * size), length: UInt32(size))])
        }
        let window = OperationWindow(endpoint: e, depth: self.slots, total: self.config.iterations,
                                     expectedBytes: UInt32(size), what: "WSPRecv")
        self.window = window
        try window.fill(self.postReceive(e))
        return []
    }

    private func postReceive(_ e: PerfEndpoint) -> (Int, SanOperation) throws(SanSwitchError) -> Void {
        let bufs = self.buffers
        return { slot, op throws(SanSwitchError) in try e.socket.recvUnchecked(bufs[slot].plain, count: 1, operation: op) }
    }

    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement {
        let source = self.buffers[0]
        let window = OperationWindow(endpoint: e, depth: self.config.txDepth, total: self.config.iterations,
                                     expectedBytes: UInt32(self.config.size), what: "WSPSend")
        var recorder = LatencyRecorder()
        try e.control.postReceive()
        let start = perfNow()
        try window.run(&recorder) { _, op throws(SanSwitchError) in
            try e.socket.sendUnchecked(source.plain, count: 1, operation: op)
        }
        _ = try e.control.receive(.ack)
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: n,
                               seconds: Double(perfNow() - start) / 1e9, latency: recorder.summary)
    }

    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement {
        var recorder = LatencyRecorder()
        let start = perfNow()
        try self.window!.run(&recorder, self.postReceive(e))
        try e.control.send(SetupMessage(kind: .ack))
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: n,
                               seconds: Double(perfNow() - start) / 1e9, latency: nil)
    }

    func release(_ e: PerfEndpoint) {
        if let r = self.registration { try? e.socket.deregister(r) }
        self.registration = nil
    }

    deinit { self.memory?.free() }
}
