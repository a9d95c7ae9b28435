import CSanReplay
import CSanSupport

#if canImport(Glibc)
import Glibc
#endif

/// The global watchdog: every wait of a replay thread has its own timeout, but a call that never
/// returns from the provider has none. A thread that is not waiting and has not moved to its
/// next step for the timeout plus 5 s is reported stuck (endpoint, thread, sequence, function,
/// overlapped) and the replay stops; the replay then gives up on that thread instead of hanging.
/// It also relays a stop decided by another endpoint (through the coordinator).
final class Watchdog: @unchecked Sendable {
    let control: ReplayControl
    let runners: [ThreadRunner]
    private let words: UnsafeMutablePointer<UInt32>  // [0] stop the watchdog, [1] fired

    init(control: ReplayControl, runners: [ThreadRunner]) {
        self.control = control
        self.runners = runners
        self.words = .allocate(capacity: 2)
        self.words.initialize(repeating: 0, count: 2)
    }

    deinit { self.words.deallocate() }

    var fired: Bool { csan_replay_load_u32(self.words + 1) != 0 }
    func finish() { csan_replay_store_u32(self.words, 1) }

    func run() {
        let grace = self.control.timeoutNs &+ 5_000_000_000
        var last = self.runners.map { csan_replay_load_u64($0.progress) }
        var changed = [UInt64](repeating: csan_monotonic_ns(), count: self.runners.count)
        while csan_replay_load_u32(self.words) == 0 {
            usleep(50_000)
            if let r = self.control.coordinator.abortReason, !self.control.stopped {
                self.control.stop("another endpoint stopped the replay: \(r)")
            }
            let now = csan_monotonic_ns()
            for (i, r) in self.runners.enumerated() where csan_replay_load_u32(r.running) != 0 {
                let p = csan_replay_load_u64(r.progress)
                if p != last[i] || csan_replay_load_u32(r.waiting) != 0 {
                    last[i] = p
                    changed[i] = now
                } else if now - changed[i] > grace, !self.fired {
                    csan_replay_store_u32(self.words + 1, 1)
                    let step = r.steps[Int(p)]
                    r.report(.stuck, origin: r.origin(step.origin), function: step.function.name, recorded: "returned",
                             live: "had not returned after \(Double(now - changed[i]) / 1e9) s (stuck inside the provider)",
                             context: r.recentCalls())
                    self.control.stop("watchdog: \(r.plan.name) thread \(r.recordedThread) stuck in \(step.function.name)")
                }
            }
        }
    }
}
