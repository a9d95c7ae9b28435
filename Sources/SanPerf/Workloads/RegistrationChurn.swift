import SanCore
import SanSwitch

/// reg_churn: `--iters` rounds of the registration calls on one `--size`-byte buffer, each call
/// timed on its own:
///
/// 1. WSPRegisterMemory + WSPDeregisterMemory (MEM_READWRITE);
/// 2. WSPRegisterRdmaMemory's size probe, the registration, WSPDeregisterRdmaMemory (MEM_WRITE);
/// 3. WSPRegisterMemory, then WSPMemoryRegistrationCacheCallback on the buffer's range, which
///    must evict it (skipped when the provider lacks the callback).
///
/// The headline latency is the register + deregister pair of (1). The server waits for `done`.
final class RegistrationChurnWorkload: PerfWorkload {
    let config: PerfConfig
    private(set) var churn: [ChurnMeasurement] = []

    init(_ config: PerfConfig) { self.config = config }

    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8] { [] }

    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8] {
        try e.control.postReceive()
        return []
    }

    private struct Kind {
        let name: String
        var recorder = LatencyRecorder()
        var total: UInt64 = 0
        init(_ name: String) { self.name = name }
        mutating func add(_ ns: UInt64) {
            self.recorder.record(ns)
            self.total += ns
        }
        var measurement: ChurnMeasurement {
            ChurnMeasurement(kind: self.name, count: self.recorder.count, seconds: Double(self.total) / 1e9,
                             latency: self.recorder.summary)
        }
    }

    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement {
        let mem = PerfMemory(size: self.config.size)
        defer { mem.free() }
        var reg = Kind("register_memory"), dereg = Kind("deregister_memory"), pair = LatencyRecorder()
        var probe = Kind("rdma_size_probe"), rreg = Kind("register_rdma_memory"), rdereg = Kind("deregister_rdma_memory")
        var cache = Kind("cache_callback")
        let hasCache = e.provider.extensions.memoryRegistrationCacheCallback != nil
        let socket = e.socket
        var calls: UInt64 = 0
        let start = perfNow()
        do {
            let size = try socket.rdmaDescriptorSize(for: mem.bytes, access: .write)
            let desc = DescriptorBlock([UInt8](repeating: 0, count: Int(size)))
            for _ in 0..<self.config.iterations {
                let t0 = perfNow()
                let r = try socket.register(mem.bytes, access: .readWrite)
                let t1 = perfNow()
                try socket.deregister(r)
                let t2 = perfNow()
                _ = try socket.rdmaDescriptorSize(for: mem.bytes, access: .write)
                let t3 = perfNow()
                let n = try socket.registerRdmaUnchecked(mem.bytes, access: .write, descriptor: desc.bytes)
                let t4 = perfNow()
                try socket.deregisterRdmaUnchecked(UnsafeMutableRawBufferPointer(rebasing: desc.bytes[..<n]))
                let t5 = perfNow()
                reg.add(t1 - t0); dereg.add(t2 - t1); pair.record(t2 - t0)
                probe.add(t3 - t2); rreg.add(t4 - t3); rdereg.add(t5 - t4)
                calls += 5
                if hasCache {
                    _ = try socket.register(mem.bytes, access: .readWrite)
                    let t6 = perfNow()
                    try e.provider.releaseCachedRegistrations(mem.bytes)
                    cache.add(perfNow() - t6)
                    calls += 2
                }
            }
        } catch {
            throw .during("client side: registration churn", error)
        }
        let seconds = Double(perfNow() - start) / 1e9
        try finishWithServer(e)
        self.churn = [reg, dereg, probe, rreg, rdereg].map(\.measurement) + (hasCache ? [cache.measurement] : [])
        let n = UInt64(self.config.iterations)
        return PerfMeasurement(bytes: n * UInt64(self.config.size), operations: calls, seconds: seconds,
                               latency: pair.summary)
    }

    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement {
        try serveUntilDone(e, bytes: 0, operations: 0)
    }

    func release(_ e: PerfEndpoint) {}
}
