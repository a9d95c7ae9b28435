import CSanSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves the coordinator protocol: one listening socket, a thread per connected endpoint. GETs
/// for keys not yet published are answered when the key arrives; ABORT is relayed to everyone.
final class CoordinatorServer: @unchecked Sendable {
    private struct State {
        var board: [String: [UInt8]] = [:]
        var waiting: [String: [(WireSocket, UInt32)]] = [:]
        var clients: [WireSocket] = []
        var outcomes: [(String, Bool, String)] = []
        var connected = 0
        var live = 0
        var abort: String?
    }
    private let state = Mutex(State())
    private let listener: WireSocket
    private let expected: Int
    private let log: (String) -> Void
    private let stopWord: UnsafeMutablePointer<UInt32>
    private var acceptor: ReplayThread?

    init(address: String, expected: Int, log: @escaping (String) -> Void) throws(ReplayError) {
        self.listener = try WireSocket.listen(address)
        self.expected = expected
        self.log = log
        self.stopWord = .allocate(capacity: 1)
        self.stopWord.initialize(to: 0)
        log("sanreplay: coordinator on \(address) (port \(self.listener.port)), expecting \(expected) endpoint(s)")
        self.acceptor = ReplayThread(name: "coord-accept") { self.acceptLoop() }
    }

    deinit { self.stopWord.deallocate() }

    var port: UInt16 { self.listener.port }
    var outcomes: [(String, Bool, String)] { self.state.withLock { $0.outcomes } }
    var connectedCount: Int { self.state.withLock { $0.connected } }

    private var stopping: Bool { self.stopWord.pointee != 0 }

    private func acceptLoop() {
        while !self.stopping {
            guard let c = self.listener.accept(timeoutMs: 100) else { continue }
            self.state.withLock { s in
                s.clients.append(c)
                s.connected += 1
                s.live += 1
            }
            _ = ReplayThread(name: "coord-conn") { self.serve(c) }
        }
    }

    private func serve(_ c: WireSocket) {
        defer { self.state.withLock { $0.live -= 1 } }
        var name = "?"
        while true {
            let m: CoordinatorMessage?
            do { m = try c.receive() } catch {
                self.log("sanreplay: coordinator: \(name): \(error); closing the connection")
                if case .version = error { _ = c.send(.welcome(status: 1, message: error.description)) }
                return
            }
            guard let m else { return }
            switch m {
            case .hello(let e):
                name = e
                _ = c.send(.welcome(status: 0, message: "sanreplay coordinator \(CoordinatorMessage.version)"))
            case .put(let k, let v):
                let waiters = self.state.withLock { s -> [(WireSocket, UInt32)] in
                    if s.board[k] == nil { s.board[k] = v }
                    return s.waiting.removeValue(forKey: k) ?? []
                }
                for (w, r) in waiters { _ = w.send(.value(request: r, value: v)) }
            case .get(let r, let k):
                let v = self.state.withLock { s -> [UInt8]? in
                    if let v = s.board[k] { return v }
                    s.waiting[k, default: []].append((c, r))
                    return nil
                }
                if let v { _ = c.send(.value(request: r, value: v)) }
            case .abort(let reason):
                let all = self.state.withLock { s -> [WireSocket] in
                    if s.abort == nil { s.abort = reason }
                    return s.clients
                }
                for w in all where w !== c { _ = w.send(.abort(reason: reason)) }
            case .finished(let e, let d, let summary):
                self.state.withLock { $0.outcomes.append((e, d, summary)) }
                self.log("sanreplay: coordinator: endpoint \(e) finished: \(summary)")
            case .welcome, .value:
                self.log("sanreplay: coordinator: unexpected message from \(name)")
            }
        }
    }

    /// Waits until every expected endpoint finished, every connection closed after at least one
    /// came, or no endpoint connected within `timeoutNs`.
    func waitForAll(timeoutNs: UInt64) {
        let firstDeadline = csan_monotonic_ns() &+ timeoutNs
        while true {
            let (done, connected, live) = self.state.withLock { ($0.outcomes.count, $0.connected, $0.live) }
            if done >= self.expected { return }
            if connected > 0 && live == 0 { return }
            if connected == 0 && csan_monotonic_ns() >= firstDeadline { return }
            usleep(20_000)
        }
    }

    var abortReason: String? { self.state.withLock { $0.abort } }

    func shutdown() {
        self.stopWord.pointee = 1
        self.acceptor?.join()
        for c in self.state.withLock({ $0.clients }) { c.shutdown() }
    }
}
