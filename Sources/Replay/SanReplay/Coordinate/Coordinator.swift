import CSanSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where the endpoints of one replay meet: a key–value board (live listener addresses, live RDMA
/// descriptors, accept order, "endpoint done"), plus a stop signal. Values are published once
/// and read by waiting for them.
protocol ReplayCoordinator: AnyObject, Sendable {
    /// Publishes `value` under `key` (the first publication wins).
    func publish(_ key: String, _ value: [UInt8])
    /// Waits until `key` is published; nil after `timeoutNs` or when the replay stops.
    func wait(_ key: String, timeoutNs: UInt64, stopped: () -> Bool) -> [UInt8]?
    /// Tells every endpoint to stop (a strict divergence, a failure).
    func abort(reason: String)
    /// The reason another endpoint stopped the replay, if it did.
    var abortReason: String? { get }
    /// An endpoint finished: its name, whether it diverged, a one-line summary.
    func finished(endpoint: String, diverged: Bool, summary: String)
    /// The host address peers use to reach listeners of this process (a wildcard bind is
    /// published with it).
    var advertisedHost: [UInt8]? { get }
}

/// The coordinator of a replay whose endpoints are all threads of this process.
final class LocalCoordinator: ReplayCoordinator, @unchecked Sendable {
    private struct State {
        var board: [String: [UInt8]] = [:]
        var abort: String?
        var finished: [(String, Bool, String)] = []
    }
    private let state = Mutex(State())

    init() {}

    func publish(_ key: String, _ value: [UInt8]) {
        self.state.withLock { s in if s.board[key] == nil { s.board[key] = value } }
    }

    func wait(_ key: String, timeoutNs: UInt64, stopped: () -> Bool) -> [UInt8]? {
        let deadline = csan_monotonic_ns() &+ timeoutNs
        var pause: UInt32 = 20
        while true {
            if let v = self.state.withLock({ $0.board[key] }) { return v }
            if stopped() || csan_monotonic_ns() >= deadline { return nil }
            usleep(pause)
            pause = min(pause * 2, 2000)
        }
    }

    func abort(reason: String) { self.state.withLock { s in if s.abort == nil { s.abort = reason } } }

    var abortReason: String? { self.state.withLock { $0.abort } }

    func finished(endpoint: String, diverged: Bool, summary: String) {
        self.state.withLock { $0.finished.append((endpoint, diverged, summary)) }
    }

    var advertisedHost: [UInt8]? { nil }
}
