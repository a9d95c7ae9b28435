/// The raw-TCP baseline: the same pattern, size, iterations as the SAN run over a plain kernel
/// TCP connection, so a provider is compared with the transport underneath it in the same run.
///
/// | test | raw-TCP pattern |
/// |---|---|
/// | write_bw, send_bw | the client streams `iters × size` bytes; the server reads them all and answers one byte, which stops the client's clock |
/// | read_bw | the client sends one byte; the server streams `iters × size` bytes back; the clock stops when the last arrives |
/// | write_lat, send_lat | ping-pong of `size`-byte messages; half the round trip |
/// | read_lat | an 8-byte request answered by `size` bytes; the whole round trip |
///
/// TCP keeps its own window of bytes in flight, so `--tx-depth` has no raw-TCP equivalent.
enum RawTCPBaseline {
    static let requestSize = 8

    static func client(_ s: RawTCPSocket, _ c: PerfConfig) throws(PerfError) -> PerfMeasurement {
        let mem = PerfMemory(size: max(c.size, requestSize), fill: 0x42)
        defer { mem.free() }
        let n = UInt64(c.iterations)
        let bytes = n * UInt64(c.size)
        switch c.test {
        case .writeBandwidth, .sendBandwidth:
            let start = perfNow()
            for _ in 0..<c.iterations { try s.writeAll(UnsafeRawBufferPointer(mem.slice(0, c.size))) }
            try s.readExactly(mem.slice(0, 1))
            return PerfMeasurement(bytes: bytes, operations: n, seconds: Double(perfNow() - start) / 1e9, latency: nil)
        case .readBandwidth:
            let start = perfNow()
            try s.writeAll(UnsafeRawBufferPointer(mem.slice(0, 1)))
            try s.drain(bytes, into: mem.slice(0, c.size))
            return PerfMeasurement(bytes: bytes, operations: n, seconds: Double(perfNow() - start) / 1e9, latency: nil)
        case .writeLatency, .sendLatency, .readLatency:
            let isRead = c.test == .readLatency
            var recorder = LatencyRecorder(divisor: isRead ? 1 : 2)
            var measured: UInt64 = 0
            let out = UnsafeRawBufferPointer(mem.slice(0, isRead ? requestSize : c.size))
            let back = mem.slice(0, c.size)
            for i in 0..<(c.warmup + c.iterations) {
                let t0 = perfNow()
                try s.writeAll(out)
                try s.readExactly(back)
                let t1 = perfNow()
                if i >= c.warmup {
                    recorder.record(t1 - t0)
                    measured += t1 - t0
                }
            }
            return PerfMeasurement(bytes: bytes, operations: n, seconds: Double(measured) / 1e9, latency: recorder.summary)
        case .registrationChurn:
            throw .badInput("--raw-tcp has no baseline for reg_churn")
        }
    }

    static func server(_ s: RawTCPSocket, _ c: PerfConfig) throws(PerfError) {
        let mem = PerfMemory(size: max(c.size, requestSize), fill: 0x24)
        defer { mem.free() }
        let bytes = UInt64(c.iterations) * UInt64(c.size)
        switch c.test {
        case .writeBandwidth, .sendBandwidth:
            try s.drain(bytes, into: mem.slice(0, c.size))
            try s.writeAll(UnsafeRawBufferPointer(mem.slice(0, 1)))
        case .readBandwidth:
            try s.readExactly(mem.slice(0, 1))
            for _ in 0..<c.iterations { try s.writeAll(UnsafeRawBufferPointer(mem.slice(0, c.size))) }
        case .writeLatency, .sendLatency, .readLatency:
            let inSize = c.test == .readLatency ? requestSize : c.size
            for _ in 0..<(c.warmup + c.iterations) {
                try s.readExactly(mem.slice(0, inSize))
                try s.writeAll(UnsafeRawBufferPointer(mem.slice(0, c.size)))
            }
        case .registrationChurn:
            return
        }
    }
}
