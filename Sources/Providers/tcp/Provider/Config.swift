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
    /// How long a waiter's lease on the receive side lasts after its operation completed
    /// (`SAN_TCP_WAITER_LEASE_US`, 0 … 100000 µs; 0: none, the progress thread watches the
    /// socket again at once). Only a waiter that came back within this time of the last one
    /// takes a lease, so an application that waits again right away (a ping-pong) keeps it and
    /// one that goes away does not hold up the peer's requests. The progress thread checks it
    /// about once per lease, so shorter leases cost wake-ups.
    var leaseNanoseconds: UInt64 = 1_000_000
    /// Size of each connection's receive staging buffer (frame headers and small payloads).
    var stagingBytes = 64 << 10

    static func fromEnvironment() -> TCPConfig {
        var c = TCPConfig()
        if let v = Self.integer("SAN_TCP_MAX_MSG_SIZE", in: 1024...(16 << 20)) { c.maxMessageSize = UInt32(v) }
        if let v = Self.integer("SAN_TCP_RDMA_THRESHOLD", in: 0...(1 << 30)) { c.rdmaThreshold = UInt32(v) }
        if let v = Self.integer("SAN_TCP_EARLY_BYTES", in: 0...(1 << 30)) { c.earlyBytes = v }
        if let v = Self.integer("SAN_TCP_CONNECT_TIMEOUT_MS", in: 1...3_600_000) { c.connectTimeoutMilliseconds = v }
        if let v = Self.integer("SAN_TCP_WAITER_RECEIVE", in: 0...1) { c.waiterReceives = v == 1 }
        if let v = Self.integer("SAN_TCP_WAITER_LEASE_US", in: 0...100_000) { c.leaseNanoseconds = UInt64(v) * 1000 }
        c.earlyBytes = max(c.earlyBytes, Int(c.maxMessageSize))
        return c
    }

    private static func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard let raw = getenv(name) else { return nil }
        let text = String(cString: raw)
        guard let v = Int(text), range.contains(v) else {
            TCPLog.line("ignoring \(name)=\(text): expected an integer in \(range)")
            return nil
        }
        return v
    }
}

/// One line on stderr, for what the application cannot learn otherwise (a knob ignored, a peer
/// of another protocol version refused).
enum TCPLog {
    static func line(_ text: String) {
        let bytes = Array("libsan_tcp: \(text)\n".utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
