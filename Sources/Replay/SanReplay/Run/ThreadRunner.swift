import CSanABI
import CSanReplay
import CSanSupport
import SanCore
import SanSwitch
import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// Why a replay thread stopped early.
enum ReplayStop: Error {
    /// The replay was stopped (a strict divergence, another endpoint, the watchdog).
    case stopped
    /// A wait passed the timeout (already reported as a `stuck` divergence).
    case stuck
}

/// Replays one recorded thread: its steps in recorded order, each after the waits the plan
/// attached to it (completions the application had observed by then), paced as asked, every
/// result compared with the recording.
final class ThreadRunner: @unchecked Sendable {
    let live: LiveEndpoint
    let plan: EndpointPlan
    let control: ReplayControl
    let index: Int
    let stats = ThreadStats()
    let event: SanEvent
    let steps: UnsafeMutablePointer<Step>
    let count: Int
    /// The step being replayed (the watchdog reads it).
    let progress: UnsafeMutablePointer<UInt64>
    /// 1 while the thread runs, 0 once it finished.
    let running: UnsafeMutablePointer<UInt32>
    /// 1 while the thread waits (a bounded wait with its own timeout, or pacing).
    let waiting: UnsafeMutablePointer<UInt32>
    let nsPerTick: Double
    var pacer: Pacer?
    let replayStart: UInt64
    let startOffsetNs: Int64
    var current = 0
    /// The wait in progress, for the watchdog (set before long waits).
    var waitingFor: String = ""
    var upcallsSeen: UInt64 = 0
    var drained: [UInt] = []

    init(live: LiveEndpoint, index: Int, control: ReplayControl, nsPerTick: Double, replayStart: UInt64,
         startOffsetNs: Int64) {
        self.live = live
        self.plan = live.plan
        self.control = control
        self.index = index
        self.event = live.threadEvents[index]
        let steps = live.plan.threads[index].steps
        self.count = steps.count
        self.steps = .allocate(capacity: max(steps.count, 1))
        if !steps.isEmpty { self.steps.initialize(from: steps, count: steps.count) }
        self.progress = .allocate(capacity: 1)
        self.progress.initialize(to: 0)
        self.running = .allocate(capacity: 1)
        self.running.initialize(to: 1)
        self.waiting = .allocate(capacity: 1)
        self.waiting.initialize(to: 0)
        self.nsPerTick = nsPerTick
        self.replayStart = replayStart
        self.startOffsetNs = startOffsetNs
        if let f = control.options.pace.factor { self.pacer = Pacer(factor: f) }
    }

    deinit {
        self.steps.deallocate()
        self.progress.deallocate()
        self.running.deallocate()
        self.waiting.deallocate()
    }

    var recordedThread: UInt32 { self.plan.threads[self.index].thread }

    // MARK: The loop

    func run() {
        defer {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            self.stats.cpuNs = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
            self.stats.lastCall = csan_monotonic_ns()
            csan_replay_store_u32(self.running, 0)
        }
        if self.pacer != nil {
            csan_replay_store_u32(self.waiting, 1)
            self.pacer!.first(start: self.replayStart, offsetNs: self.startOffsetNs) { self.control.stopped }
            csan_replay_store_u32(self.waiting, 0)
        }
        do throws(ReplayStop) {
            var i = 0
            while i < self.count {
                if self.control.stopped { return }
                self.current = i
                csan_replay_store_u64(self.progress, UInt64(i))
                try self.perform(self.steps[i])
                i += 1
            }
        } catch {
            return
        }
    }

    @inline(__always)
    private func perform(_ s: Step) throws(ReplayStop) {
        if s.waitCount > 0 {
            for w in Int(s.waits)..<Int(s.waits + s.waitCount) { try self.observe(self.live.waits[w]) }
        }
        if s.kind == .waitOnly { return }
        if self.pacer != nil, s.origin >= 0 {
            csan_replay_store_u32(self.waiting, 1)
            let err = self.pacer!.next(gapNs: s.gapNs) { self.control.stopped }
            csan_replay_store_u32(self.waiting, 0)
            if self.stats.firstCall != 0 { self.stats.pacing.record(0, err) }
        }
        if self.stats.firstCall == 0 { self.stats.firstCall = csan_monotonic_ns() }
        try self.execute(s)
    }

    /// Records a live call's duration (rdtsc ticks).
    @inline(__always)
    func timed(_ s: Step, _ t0: UInt64) {
        let t1 = csan_rdtsc()
        let f = Int(s.function.rawValue) & (LatencyBank.slots - 1)
        self.stats.calls[f] &+= 1
        if self.stats.firstTSC[f] == 0 { self.stats.firstTSC[f] = t0 }
        self.stats.lastTSC[f] = t1
        self.stats.latency.record(f, UInt64(Double(t1 &- t0) * self.nsPerTick))
    }

    // MARK: Comparison

    /// Compares a call's outcome with the recording (per the step's ``Compare`` bits).
    @inline(__always)
    func compare(_ s: Step, ret: Int64, err: Int32, bytes: UInt32) {
        self.stats.compared &+= 1
        let recordedRet = s.expectRet, recordedErr = s.expectErr
        var same: Bool
        if s.compare & Compare.started != 0 {
            let a = recordedRet == 0 || recordedErr == wsaIOPending
            let b = ret == 0 || err == wsaIOPending
            same = a && b ? true : (recordedRet == ret && (ret == 0 || recordedErr == err))
        } else if s.compare & Compare.connectPending != 0 {
            let a = recordedRet == 0 || recordedErr == wsaWouldBlock
            let b = ret == 0 || err == wsaWouldBlock
            same = a && b ? true : (recordedRet == ret && (ret == 0 || recordedErr == err))
        } else if s.compare & Compare.successOnly != 0 {
            same = (recordedRet == 0) == (ret == 0) && (ret == 0 || recordedErr == err)
        } else {
            same = recordedRet == ret && (ret == 0 || recordedErr == err)
        }
        if !same {
            self.diverge(s, .result, recorded: resultText(ret: recordedRet, err: recordedErr), live: resultText(ret: ret, err: err))
            return
        }
        if s.compare & Compare.bytes != 0, ret == 0, bytes != s.expectBytes {
            self.diverge(s, .bytes, recorded: "\(s.expectBytes) bytes", live: "\(bytes) bytes")
        }
    }

    // MARK: Divergences

    func origin(_ i: Int32) -> StepOrigin? { i >= 0 && Int(i) < self.plan.origins.count ? self.plan.origins[Int(i)] : nil }

    func diverge(_ s: Step, _ kind: Divergence.Kind, recorded: String, live: String, context more: [String] = []) {
        let o = self.origin(s.origin)
        self.report(kind, origin: o, function: o?.function.name ?? s.function.name, recorded: recorded, live: live,
                    context: more + self.recentCalls())
    }

    func report(_ kind: Divergence.Kind, origin o: StepOrigin?, function: String, recorded: String, live: String,
                context: [String]) {
        self.control.diverged(Divergence(kind: kind, endpoint: self.plan.name, thread: o?.thread ?? self.recordedThread,
                                         threadSeq: o?.threadSeq ?? 0, seq: o?.seq ?? 0, function: function,
                                         overlapped: o?.ov ?? 0, recorded: recorded, live: live, context: context))
    }

    /// The calls this thread replayed just before the current one.
    func recentCalls() -> [String] {
        var out: [String] = []
        var i = self.current - 1
        while i >= 0 && out.count < 3 {
            let s = self.steps[i]
            if s.kind != .waitOnly, let o = self.origin(s.origin) {
                out.append("before: \(o.function.name) (thread seq \(o.threadSeq), event \(o.seq))")
            }
            i -= 1
        }
        return out
    }

    /// Describes an operation for reports.
    func describe(op x: Int32) -> String {
        let op = self.live.ops[Int(x)]
        guard let o = self.origin(op.origin) else { return "operation #\(x)" }
        return "\(o.function.name) started at thread \(o.thread) seq \(o.threadSeq) (event \(o.seq)), overlapped #\(o.ov)"
    }

    // MARK: Waiting

    /// Waits with a growing pause (spin, yield, then sleeps up to 1 ms) until `done` is true;
    /// reports a `stuck` divergence (what this thread waits for) after the timeout.
    @inline(__always)
    func waitUntil(_ what: @autoclosure () -> String, origin: StepOrigin?, _ done: () -> Bool) throws(ReplayStop) {
        if done() { return }
        csan_replay_store_u32(self.waiting, 1)
        defer { csan_replay_store_u32(self.waiting, 0) }
        let deadline = csan_monotonic_ns() &+ self.control.timeoutNs
        var spins = 0
        while !done() {
            spins += 1
            // A polled provider may make progress inside each poll (tcp reads its connection), so
            // polls go on while waiting; a few spins first, then yielding (like an application's
            // yield strategy), then sleeping.
            if spins < 16 {
                csan_cpu_relax()
            } else if spins < 2048 {
                sched_yield()
            } else {
                usleep(UInt32(min(1000, 10 * (spins - 2047))))
            }
            if spins & 15 == 0 {
                if self.control.stopped { throw .stopped }
                if csan_monotonic_ns() >= deadline {
                    let seconds = Double(self.control.timeoutNs) / 1e9
                    self.report(.stuck, origin: origin, function: origin?.function.name ?? "wait", recorded: "completed",
                                live: "still waiting after \(seconds) s for \(what())", context: self.recentCalls())
                    self.control.stop("stuck: \(self.plan.name) thread \(self.recordedThread) waiting for \(what())")
                    throw .stuck
                }
            }
        }
    }
}
