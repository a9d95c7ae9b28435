import Glibc

/// The tcp provider's limits and knobs, read once from the environment at first startup
/// (README, "tcp provider environment"). A value that does not parse or is out of range is
/// reported on stderr and replaced by the default: a provider must not fail to load over a knob.
struct TCPConfig: Sendable {
    /// SO_MAX_MSG_SIZE: the largest WSPSend (`SAN_TCP_MAX_MSG_SIZE`, 1 KiB … 16 MiB).
    var maxMessageSize: UInt32 = 1 << 20
    /// SO_MAX_RDMA_SIZE: the largest RDMA request.
    var maxRdmaSize: UInt32 = 1 << 30
    /// SO_RDMA_THRESHOLD_SIZE: above this the switch should prefer RDMA (`SAN_TCP_RDMA_THRESHOLD`).
    var rdmaThreshold: UInt32 = 16 << 10
    /// Bytes of early messages (arriving before a receive is posted) buffered per connection
    /// before the provider stops reading it (`SAN_TCP_EARLY_BYTES`, at least SO_MAX_MSG_SIZE).
    var earlyBytes: Int = 4 << 20
    /// How long a connect or an incoming handshake may take (`SAN_TCP_CONNECT_TIMEOUT_MS`).
    var connectTimeoutMilliseconds: Int = 30_000
    /// Whether WSPGetOverlappedResult(fWait: TRUE) reads the connection itself instead of
    /// sleeping until the progress thread completes the operation (`SAN_TCP_WAITER_RECEIVE`, 1/0).
    var waiterReceives = true
    /// Size of each connection's receive staging buffer (frame headers and small payloads).
    var stagingBytes = 64 << 10

    static func fromEnvironment() -> TCPConfig {
        var c = TCPConfig()
        if let v = Self.integer("SAN_TCP_MAX_MSG_SIZE", in: 1024...(16 << 20)) { c.maxMessageSize = UInt32(v) }
        if let v = Self.integer("SAN_TCP_RDMA_THRESHOLD", in: 0...(1 << 30)) { c.rdmaThreshold = UInt32(v) }
        if let v = Self.integer("SAN_TCP_EARLY_BYTES", in: 0...(1 << 30)) { c.earlyBytes = v }
        if let v = Self.integer("SAN_TCP_CONNECT_TIMEOUT_MS", in: 1...3_600_000) { c.connectTimeoutMilliseconds = v }
        if let v = Self.integer("SAN_TCP_WAITER_RECEIVE", in: 0...1) { c.waiterReceives = v == 1 }
        c.earlyBytes = max(c.earlyBytes, Int(c.maxMessageSize))
        return c
    }

    private static func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard let raw = getenv(name) else { return nil }
        let text = String(cString: raw)
        guard let v = Int(text), range.contains(v) else {
            let line = "libsan_tcp: ignoring \(name)=\(text): expected an integer in \(range)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            return nil
        }
        return v
    }
}
