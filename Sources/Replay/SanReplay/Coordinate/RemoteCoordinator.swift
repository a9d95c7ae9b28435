import CSanSupport
import SanTraceStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The coordinator as seen by an endpoint in another process: a client of
/// ``CoordinatorServer``. A reader thread files the answers; waits poll for them.
final class RemoteCoordinator: ReplayCoordinator, @unchecked Sendable {
    private struct State {
        var values: [UInt32: [UInt8]] = [:]
        var cache: [String: [UInt8]] = [:]
        var next: UInt32 = 1
        var abort: String?
        var closed = false
    }
    private let state = Mutex(State())
    private let socket: WireSocket
    private var reader: ReplayThread?
    let advertisedHost: [UInt8]?

    init(address: String, endpoint: String, timeoutNs: UInt64) throws(ReplayError) {
        self.socket = try WireSocket.connect(address, timeoutNs: timeoutNs)
        self.advertisedHost = self.socket.localAddress
        guard self.socket.send(.hello(endpoint: endpoint)) else { throw .coordinator("cannot send to \(address)") }
        let welcome: CoordinatorMessage?
        do { welcome = try self.socket.receive() } catch { throw .coordinator("\(address): \(error)") }
        guard case .welcome(let status, let message)? = welcome else { throw .coordinator("\(address) closed the connection") }
        guard status == 0 else { throw .coordinator("\(address) refused: \(message)") }
        self.reader = ReplayThread(name: "coord-client") { self.readLoop() }
    }

    private func readLoop() {
        while true {
            let m: CoordinatorMessage?
            do { m = try self.socket.receive() } catch {
                self.state.withLock { s in
                    s.closed = true
                    if s.abort == nil { s.abort = "coordinator: \(error)" }
                }
                return
            }
            guard let m else {
                self.state.withLock { $0.closed = true }
                return
            }
            switch m {
            case .value(let r, let v): self.state.withLock { $0.values[r] = v }
            case .abort(let reason): self.state.withLock { s in if s.abort == nil { s.abort = reason } }
            default: break
            }
        }
    }

    func publish(_ key: String, _ value: [UInt8]) {
        self.state.withLock { s in if s.cache[key] == nil { s.cache[key] = value } }
        _ = self.socket.send(.put(key: key, value: value))
    }

    func wait(_ key: String, timeoutNs: UInt64, stopped: () -> Bool) -> [UInt8]? {
        let request = self.state.withLock { s -> UInt32? in
            if s.cache[key] != nil { return nil }
            defer { s.next &+= 1 }
            return s.next
        }
        guard let request else { return self.state.withLock { $0.cache[key] } }
        guard self.socket.send(.get(request: request, key: key)) else { return nil }
        let deadline = csan_monotonic_ns() &+ timeoutNs
        var pause: UInt32 = 50
        while true {
            let (v, closed) = self.state.withLock { s -> ([UInt8]?, Bool) in
                guard let v = s.values.removeValue(forKey: request) else { return (nil, s.closed) }
                s.cache[key] = v
                return (v, false)
            }
            if let v { return v }
            if closed || stopped() || csan_monotonic_ns() >= deadline { return nil }
            usleep(pause)
            pause = min(pause * 2, 2000)
        }
    }

    func abort(reason: String) {
        _ = self.socket.send(.abort(reason: reason))
    }

    var abortReason: String? { self.state.withLock { $0.abort } }

    func finished(endpoint: String, diverged: Bool, summary: String) {
        _ = self.socket.send(.finished(endpoint: endpoint, diverged: diverged, summary: summary))
    }

    deinit {
        self.socket.shutdown()
        self.reader?.join()
    }
}

/// `--serve-coordinator` without an endpoint: serve until every endpoint of the set reported.
enum CoordinatorSession {
    static func serveOnly(address: String, options: ReplayOptions, log: @escaping (String) -> Void) throws -> ReplayReport {
        let paths = try TraceSet.paths(options.trace)
        let server = try CoordinatorServer(address: address, expected: paths.count, log: log)
        defer { server.shutdown() }
        // The whole replay may take long: wait as long as endpoints are connected.
        server.waitForAll(timeoutNs: options.timeoutNanoseconds)
        var report = ReplayReport(trace: options.trace, endpoints: [], synthetic: [], backend: "-", pace: options.pace.description,
                                  policy: options.divergence.rawValue)
        let outcomes = server.outcomes
        for (name, diverged, summary) in outcomes {
            report.endpoints.append(name)
            report.notes.append("endpoint \(name) \(diverged ? "diverged" : "finished"): \(summary)")
            if diverged { report.divergenceCounts["endpoint", default: 0] += 1 }
        }
        if outcomes.count < paths.count {
            report.stopped = "only \(outcomes.count) of \(paths.count) endpoint(s) reported to the coordinator"
        } else if let a = server.abortReason {
            report.stopped = "stopped: \(a)"
        }
        return report
    }
}
