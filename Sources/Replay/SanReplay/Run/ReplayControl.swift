import CSanReplay
import CSanSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What every replay thread shares: the stop flag, the divergence log, whether the backend
/// moves data, and the coordinator. Flags are raw words read with acquire loads on the hot path
/// (one load per step).
final class ReplayControl: @unchecked Sendable {
    let options: ReplayOptions
    let coordinator: ReplayCoordinator
    let timeoutNs: UInt64
    let strict: Bool
    /// 0 running, 1 stopped.
    private let stopWord: UnsafeMutablePointer<UInt32>
    /// 0 unknown, 1 the backend moves data, 2 it moves none (data checks skipped).
    private let transportWord: UnsafeMutablePointer<UInt32>
    private let state = Mutex(State())
    /// Every endpoint's plan (for describing where data came from); set before the threads run.
    nonisolated(unsafe) var plans: [EndpointPlan] = []
    nonisolated(unsafe) var syntheticNames: [String] = []

    struct State {
        var divergences: [Divergence] = []
        var counts: [Divergence.Kind: Int] = [:]
        var stopReason: String?
        var transportNote: String?
    }

    /// Divergences kept in full (all are counted).
    static let keep = 100

    init(options: ReplayOptions, coordinator: ReplayCoordinator) {
        self.options = options
        self.coordinator = coordinator
        self.timeoutNs = options.timeoutNanoseconds
        self.strict = options.divergence == .strict
        self.stopWord = .allocate(capacity: 1)
        self.stopWord.initialize(to: 0)
        self.transportWord = .allocate(capacity: 1)
        self.transportWord.initialize(to: 0)
    }

    deinit {
        self.stopWord.deallocate()
        self.transportWord.deallocate()
    }

    @inline(__always)
    var stopped: Bool { csan_replay_load_u32(self.stopWord) != 0 }

    /// Stops every thread (they finish their current wait and return).
    func stop(_ reason: String) {
        self.state.withLock { s in if s.stopReason == nil { s.stopReason = reason } }
        csan_replay_store_u32(self.stopWord, 1)
    }

    var stopReason: String? { self.state.withLock { $0.stopReason } }

    /// Records a divergence; in strict mode the first one stops the replay (and, through the
    /// coordinator, the other endpoints).
    func diverged(_ d: Divergence) {
        let first = self.state.withLock { s -> Bool in
            s.counts[d.kind, default: 0] += 1
            if s.divergences.count < Self.keep { s.divergences.append(d) }
            return s.divergences.count == 1
        }
        if self.strict, d.kind != .aborted {
            if first { self.coordinator.abort(reason: "\(d.kind.rawValue) divergence in \(d.endpoint): \(d.function)") }
            self.stop("strict: stopped at the first divergence")
        }
    }

    var divergences: [Divergence] { self.state.withLock { $0.divergences } }
    var divergenceCounts: [Divergence.Kind: Int] { self.state.withLock { $0.counts } }

    // MARK: Does the backend move data?

    @inline(__always)
    var checksData: Bool { csan_replay_load_u32(self.transportWord) != 2 }

    var transportKnown: Bool { csan_replay_load_u32(self.transportWord) != 0 }

    /// The first receive (or RDMA read) of an endpoint landed into a buffer pre-filled with a
    /// sentinel: it decides for the whole process.
    func noteTransport(movesData: Bool, _ why: String) {
        let v: UInt32 = movesData ? 1 : 2
        if csan_replay_cas_u32(self.transportWord, 0, v) != 0 {
            self.state.withLock { $0.transportNote = why }
        }
    }

    var transportNote: String? { self.state.withLock { $0.transportNote } }

    /// "endpoint thread T seq S (event E) FUNCTION" for an origin of endpoint `e`'s plan.
    func describe(endpoint e: Int32, origin: Int32) -> String {
        if e >= 0, Int(e) < self.plans.count {
            let p = self.plans[Int(e)]
            guard origin >= 0, Int(origin) < p.origins.count else { return p.name }
            let o = p.origins[Int(origin)]
            return "\(p.name) thread \(o.thread) seq \(o.threadSeq) (event \(o.seq)) \(o.function.name)"
        }
        let k = Int(e) - self.plans.count
        return k >= 0 && k < self.syntheticNames.count ? self.syntheticNames[k] : "endpoint #\(e)"
    }

    /// Nanoseconds on the monotonic clock.
    @inline(__always)
    static func now() -> UInt64 { csan_monotonic_ns() }
}
