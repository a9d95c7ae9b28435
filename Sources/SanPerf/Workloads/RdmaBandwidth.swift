import SanCore
import SanSwitch

/// write_bw / read_bw: the client keeps `--tx-depth` RDMA writes (reads) of `--size` bytes in
/// flight against one region the server registered, until `--iters` completed; then `done` →
/// `ack`. The server application calls nothing during the phase (one-sided). The clock runs from
/// the first post to the ack, so every byte has reached the server when it stops.
final class RdmaBandwidthWorkload: PerfWorkload {
    let config: PerfConfig
    let isWrite: Bool
    private var local: PerfMemory?
    private var localRegistration: SanMemoryRegistration?
    private var region: PerfMemory?
    private var descriptor: SanRdmaDescriptor?

    init(_ config: PerfConfig) {
        self.config = config
        self.isWrite = config.test == .writeBandwidth
    }

    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] {
        let mem = PerfMemory(size: self.config.size, fill: 0x5A)
        self.local = mem
        // A write reads the local buffer; a read writes into it.
        do { self.localRegistration = try e.socket.register(mem.bytes, access: self.isWrite ? .read : .write) } catch {
            throw .during("client side: WSPRegisterMemory of the \(self.config.size)-byte source", error)
        }
        return []
    }

    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8] {
        let mem = PerfMemory(size: self.config.size, fill: 0xA5)
        self.region = mem
        do {
            self.descriptor = try e.socket.registerRdma(mem.bytes, access: self.isWrite ? .write : .read)
        } catch {
            throw .during("server side: WSPRegisterRdmaMemory of the \(self.config.size)-byte target", error)
        }
        try e.control.postReceive()
        return self.descriptor!.bytes
    }

    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement {
        let desc = DescriptorBlock(serverDescriptor)
        let bufs = BufferArray([self.localRegistration!.buffer()])
        let window = OperationWindow(endpoint: e, depth: self.config.txDepth, total: self.config.iterations,
                                     expectedBytes: UInt32(self.config.size),
                                     what: self.isWrite ? "WSPRdmaWrite" : "WSPRdmaRead")
        var recorder = LatencyRecorder()
        let socket = e.socket
        let write = self.isWrite
        let start = perfNow()
        try window.run(&recorder) { _, op throws(SanSwitchError) in
            if write {
                try socket.rdmaWriteUnchecked(bufs.ex, count: 1, descriptor: desc.bytes, operation: op)
            } else {
                try socket.rdmaReadUnchecked(bufs.ex, count: 1, descriptor: desc.bytes, operation: op)
            }
        }
        try finishWithServer(e)
        let seconds = Double(perfNow() - start) / 1e9
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: n, seconds: seconds,
                               latency: recorder.summary)
    }

    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement {
        let n = UInt64(self.config.iterations)
        return try serveUntilDone(e, bytes: n * UInt64(self.config.size), operations: n)
    }

    func release(_ e: PerfEndpoint) {
        if let r = self.localRegistration { try? e.socket.deregister(r) }
        if let d = self.descriptor { try? e.socket.deregisterRdma(d) }
        self.localRegistration = nil
        self.descriptor = nil
    }

    deinit {
        self.local?.free()
        self.region?.free()
    }
}

/// read_lat: one RDMA read of `--size` bytes at a time from the server's region, each timed from
/// post to completion (after `warmup` untimed reads). The server application calls nothing.
final class RdmaReadLatencyWorkload: PerfWorkload {
    let config: PerfConfig
    private let inner: RdmaBandwidthWorkload

    init(_ config: PerfConfig) {
        self.config = config
        var c = config
        c.test = .readBandwidth
        self.inner = RdmaBandwidthWorkload(c)
    }

    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] { try self.inner.prepareClient(e) }

    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8] {
        try self.inner.prepareServer(e, clientDescriptor: clientDescriptor)
    }

    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement {
        let desc = DescriptorBlock(serverDescriptor)
        let bufs = BufferArray([self.inner.localBuffer])
        let op = e.operation()
        var recorder = LatencyRecorder()
        var measured: UInt64 = 0
        let warmup = self.config.warmup
        for i in 0..<(warmup + self.config.iterations) {
            let t0 = perfNow()
            try perfStart("WSPRdmaRead", .client) { () throws(SanSwitchError) in
                try e.socket.rdmaReadUnchecked(bufs.ex, count: 1, descriptor: desc.bytes, operation: op)
            }
            let bytes = try e.complete(op, "WSPRdmaRead")
            let t1 = perfNow()
            guard bytes == UInt32(self.config.size) else {
                throw .failed("client side: WSPRdmaRead completed with \(bytes) bytes, expected \(self.config.size)")
            }
            if i >= warmup {
                recorder.record(t1 - t0)
                measured += t1 - t0
            }
        }
        try finishWithServer(e)
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: n, seconds: Double(measured) / 1e9,
                               latency: recorder.summary)
    }

    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement { try self.inner.runServer(e) }
    func release(_ e: PerfEndpoint) { self.inner.release(e) }
}

extension RdmaBandwidthWorkload {
    var localBuffer: SanBuffer { self.localRegistration!.buffer() }
}
