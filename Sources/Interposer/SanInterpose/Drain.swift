import CSanSupport
import CSanTrace
import Glibc
import SanTraceFormat
import SanTraceStore
import Synchronization

/// The drain thread: empties the per-thread rings, merges them by timestamp (each thread's
/// records keep their order), converts every record in place straight into the trace writer,
/// and commits segments: when one is full (1 MiB) or old (SANTRACE_FLUSH_MS), at the last
/// WSPCleanup, on SIGINT/SIGTERM, on request and at exit.
///
/// A plain pthread (no Swift Concurrency in a traced process); it blocks SIGINT/SIGTERM and marks
/// itself internal so nothing it does is traced. It holds `forkLock` whenever it touches the
/// writer, so a fork never copies SQLite in the middle of a call (Recorder's atfork handlers).
final class Drain: @unchecked Sendable {
    private let writer: TraceWriter
    private let flushNanoseconds: UInt64
    private var converter = Converter()
    private var cursors: [RingCursor] = []
    /// Per ring: the position of a record held back for a second chance (+1; 0 = none).
    private var held = RawMap<UInt64>(filler: 0)
    /// Per ring: the thread number last registered with the writer.
    private var registered = RawMap<UInt32>(filler: 0)
    private var cleanupEpoch: UInt64 = 0
    private var signalAcked: UInt64 = 0
    private var reported = (stalls: UInt64(0), drops: UInt64(0))
    private var lastClockUpdate: UInt64 = 0
    /// Time spent in passes (merging, converting, encoding, committing): events / this = throughput.
    /// CPU time of the drain thread (the machine may be shared: wall time would count the time
    /// the drain waited for a CPU).
    private(set) var busyNanoseconds: UInt64 = 0
    private(set) var malformed: UInt64 = 0
    /// Records of threads numbered beyond what a trace can name (TraceFormat.maxThreadID).
    private(set) var unnamedThreadRecords: UInt64 = 0
    /// The fullest ring's fill (0 … 1) when the last pass began.
    private var lastFill = 0.0
    static let minimumSleep = 50_000  // ns
    static let nice: Int32 = {
        guard let v = getenv("SANTRACE_DRAIN_NICE"), let n = Int32(String(cString: v)), (0...19).contains(n) else { return 10 }
        return n
    }()
    static let maximumSleep = 4_000_000
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let flushRequested = Atomic<UInt64>(0)
    private let flushDone = Atomic<UInt64>(0)
    let forkLock: UnsafeMutablePointer<pthread_mutex_t>
    /// The first writer error, after which the drain keeps emptying rings but writes nothing.
    private(set) var failure: String?

    init(writer: TraceWriter, flushMilliseconds: Int) {
        self.writer = writer
        self.flushNanoseconds = UInt64(flushMilliseconds) * 1_000_000
        self.forkLock = .allocate(capacity: 1)
        pthread_mutex_init(self.forkLock, nil)
    }

    /// Starts the thread. Returns false when pthread_create fails.
    func start() -> Bool {
        let ctx = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { ctx in
            let drain = Unmanaged<Drain>.fromOpaque(ctx!).takeRetainedValue()
            drain.run()
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<Drain>.fromOpaque(ctx).release()
            return false
        }
        pthread_detach(tid)
        return true
    }

    /// Asks for a final pass, flush and close, and waits up to `timeoutMilliseconds`.
    func stop(timeoutMilliseconds: Int) -> Bool {
        self.stopRequested.store(true, ordering: .sequentiallyConsistent)
        return self.wait(timeoutMilliseconds) { self.finished.load(ordering: .acquiring) }
    }

    /// Asks for a commit of everything recorded so far and waits up to `timeoutMilliseconds`.
    func flushNow(timeoutMilliseconds: Int) -> Bool {
        let want = self.flushRequested.add(1, ordering: .sequentiallyConsistent).newValue
        return self.wait(timeoutMilliseconds) {
            self.flushDone.load(ordering: .acquiring) >= want || self.finished.load(ordering: .acquiring)
        }
    }

    private func wait(_ ms: Int, until done: () -> Bool) -> Bool {
        for _ in 0..<(ms * 2) {
            if done() { return true }
            var ts = timespec(tv_sec: 0, tv_nsec: 500_000)
            nanosleep(&ts, nil)
        }
        return done()
    }

    // MARK: - The thread

    private func run() {
        csan_trace_mark_internal_thread()
        csan_signals_block_in_this_thread()
        // A lower priority than the traced program's threads: when they want every CPU, the
        // drain waits (its rings absorb the delay) instead of taking their time slices.
        // SANTRACE_DRAIN_NICE overrides (0 = the program's priority).
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(csan_trace_gettid()), Self.nice)
        self.cleanupEpoch = csan_trace_cleanup_epoch()
        self.lastClockUpdate = csan_monotonic_ns()
        var idle = Self.minimumSleep
        while !self.stopRequested.load(ordering: .acquiring) {
            csan_trace_heartbeat()
            pthread_mutex_lock(self.forkLock)
            _ = self.pass(final: false)
            self.noteBackpressure()
            if self.flushWanted() {
                self.flush()
            } else {
                // Every pass, not only idle ones: a trickle of events must not wait past the
                // interval for the writer's own check (every 256 appends).
                self.guarded { try self.writer.flushIfDue() }
            }
            if !self.providerVersionNoted, let v = self.converter.providerVersion { self.noteProviderVersion(v) }
            pthread_mutex_unlock(self.forkLock)
            // Pacing: a pass that found a ring over a quarter full starts the next at once and
            // halves the sleep; one that found them nearly empty doubles it (up to 4 ms: a busy
            // thread's 1 MiB ring takes far longer to fill at any realistic rate). A drain that
            // polled back to back would take a core from the traced program.
            if self.lastFill > 0.25 {
                idle = max(idle / 2, Self.minimumSleep)
                continue
            }
            if self.lastFill < 1.0 / 16 { idle = min(idle * 2, Self.maximumSleep) }
            var ts = timespec(tv_sec: 0, tv_nsec: idle)
            nanosleep(&ts, nil)
        }
        pthread_mutex_lock(self.forkLock)
        self.finish()
        pthread_mutex_unlock(self.forkLock)
        if let v = getenv("SANTRACE_SUMMARY"), v.pointee == UInt8(ascii: "1") { self.summary() }
        csan_signal_flush_ack(csan_signal_flush_requests())
        self.flushDone.store(self.flushRequested.load(ordering: .acquiring), ordering: .releasing)
        self.finished.store(true, ordering: .releasing)
    }

    /// Final: drain until the rings stay empty (bounded), link what is left, record the
    /// counters, close the trace.
    private func finish() {
        csan_trace_heartbeat()
        for _ in 0..<64 where self.pass(final: false) > 0 {}
        _ = self.pass(final: true)
        self.noteBackpressure()
        self.updateClock()
        if let v = self.converter.providerVersion { self.noteProviderVersion(v) }
        self.guarded {
            for (k, v) in self.counters() { try self.writer.setMetadata("santrace.\(k)", Int64(bitPattern: v)) }
            try self.writer.close()
        }
    }

    /// What the drain and the hot path counted (meta `santrace.*` keys, Docs/TraceFormat.md §4).
    func counters() -> [(String, UInt64)] {
        var c = csan_trace_stats()
        csan_trace_get_stats(&c)
        let v = self.converter
        return [("records", c.records), ("events", v.written), ("threads", c.threads), ("stalls", c.stalls),
                ("drops", c.drops), ("reentry_drops", c.reentry_drops), ("sidetable_misses", c.sidetable_misses),
                ("unlinked_completions", v.unlinkedCompletions), ("repeated_polls", v.repeatedPolls),
                ("deferred_completions", v.deferrals), ("inline_completions", v.inlineCompletions),
                ("malformed_records", self.malformed), ("unnamed_thread_records", self.unnamedThreadRecords),
                ("drain_busy_ns", self.busyNanoseconds)]
    }

    private func flushWanted() -> Bool {
        if csan_trace_cleanup_epoch() != self.cleanupEpoch { return true }
        if csan_signal_flush_requests() != self.signalAcked { return true }
        return self.flushRequested.load(ordering: .acquiring) != self.flushDone.load(ordering: .acquiring)
    }

    private func flush() {
        let signals = csan_signal_flush_requests()
        let requested = self.flushRequested.load(ordering: .acquiring)
        _ = self.pass(final: false)  // what the signalled / asking thread just wrote
        self.cleanupEpoch = csan_trace_cleanup_epoch()
        self.noteBackpressure()
        self.updateClock()
        self.guarded { try self.writer.flush() }
        self.signalAcked = signals
        csan_signal_flush_ack(signals)
        self.flushDone.store(requested, ordering: .releasing)
    }

    private var providerVersionNoted = false
    private func noteProviderVersion(_ v: String) {
        guard !self.providerVersionNoted else { return }
        self.providerVersionNoted = true
        self.guarded { try self.writer.setMetadata("provider_version", v) }
    }

    private func noteBackpressure() {
        var c = csan_trace_stats()
        csan_trace_get_stats(&c)
        if c.stalls != self.reported.stalls || c.drops != self.reported.drops {
            self.writer.noteBackpressure(stalls: c.stalls &- self.reported.stalls, drops: c.drops &- self.reported.drops)
            self.reported = (c.stalls, c.drops)
        }
    }

    /// The TSC rate measured over the whole recording so far (the 5 ms start-up measurement
    /// is refined to well under a part per million), at most once a second.
    private func updateClock() {
        let now = csan_monotonic_ns()
        let clock = self.writer.metadata.clock
        let elapsed = Int64(now) - clock.anchorMonotonicNs
        guard elapsed > 100_000_000, now &- self.lastClockUpdate >= 1_000_000_000 || self.stopRequested.load(ordering: .relaxed)
        else { return }
        self.lastClockUpdate = now
        let hz = Double(csan_rdtsc() &- clock.anchorTSC) * 1e9 / Double(elapsed)
        guard ClockCalibration.plausibleHz.contains(hz) else { return }
        self.guarded { try self.writer.setMetadata("tsc_hz", hz) }
    }

    // MARK: - Passes

    /// One pass: every ring up to the head it has now, merged by timestamp, converted and
    /// appended. Returns the number of records consumed.
    @discardableResult
    func pass(final: Bool) -> Int {
        let t0 = Self.threadCPUNanoseconds()
        self.cursors.removeAll(keepingCapacity: true)
        var ring = csan_ring_first()
        while let r = ring {
            if let c = RingCursor(r) {
                self.register(c)
                self.cursors.append(c)
            } else {
                _ = csan_ring_try_reclaim(r)  // an exited thread's emptied ring goes back to the pool
            }
            ring = csan_ring_next(r)
        }
        self.lastFill = self.cursors.reduce(0.0) { max($0, $1.fill) }
        guard !self.cursors.isEmpty else { return 0 }
        var n = 0
        while true {
            // The ring with the earliest next record, and the time up to which it stays earliest.
            var best = -1
            var bestTSC = UInt64.max, limit = UInt64.max
            for i in self.cursors.indices where self.cursors[i].available && !self.cursors[i].held {
                let t = self.cursors[i].nextTSC
                if best < 0 || t < bestTSC {
                    limit = bestTSC
                    best = i
                    bestTSC = t
                } else if t < limit {
                    limit = t
                }
            }
            if best < 0 { break }
            repeat {
                n += 1
                self.consume(&self.cursors[best], final: final)
            } while self.cursors[best].available && !self.cursors[best].held && self.cursors[best].nextTSC <= limit
        }
        for i in self.cursors.indices {
            self.malformed &+= self.cursors[i].malformed
            self.cursors[i].release()
        }
        self.busyNanoseconds &+= Self.threadCPUNanoseconds() &- t0
        return n
    }

    static func threadCPUNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Converts the cursor's next record, or holds it (a completion whose start is not seen yet).
    @inline(__always)
    private func consume(_ c: inout RingCursor, final: Bool) {
        guard self.failure == nil else {
            c.advance()  // writing failed: keep the producers running, record nothing
            return
        }
        guard c.thread >= 1, c.thread <= TraceFormat.maxThreadID else {
            self.unnamedThreadRecords &+= 1
            c.advance()
            return
        }
        let key = UInt64(UInt(bitPattern: c.ring))
        let secondChance = self.held.count > 0 && self.held.get(key) == c.position &+ 1
        do {
            switch try self.converter.convert(c.record, thread: c.thread, final: final, secondChance: secondChance,
                                              into: self.writer) {
            case .written, .dropped:
                if secondChance { self.held.remove(key) }
                c.advance()
            case .deferred:
                self.held.set(key, c.position &+ 1)
                c.held = true
            }
        } catch let e as Converter.Malformed {
            self.noteMalformed(e.description)
            c.advance()
        } catch let e as RecordEncodingError {
            self.noteMalformed("\(e)")
            c.advance()
        } catch {
            self.fail(error)
            c.advance()
        }
    }

    private func noteMalformed(_ what: String) {
        if self.malformed == 0 { santraceLog("a record could not be converted (skipped, counted): \(what)") }
        self.malformed &+= 1
    }

    /// Names a ring's thread in the trace the first time it is seen (OS tid and name).
    private func register(_ c: RingCursor) {
        let key = UInt64(UInt(bitPattern: c.ring))
        guard self.registered.get(key) != c.thread, c.thread >= 1, c.thread <= TraceFormat.maxThreadID else { return }
        self.registered.set(key, c.thread)
        let name = c.threadName
        self.guarded { try self.writer.registerThread(c.thread, osTid: Int64(c.osTid), name: name.isEmpty ? nil : name) }
    }

    /// One line on stderr at exit (SANTRACE_SUMMARY=1): what was recorded and how fast the drain went.
    private func summary() {
        let c = Dictionary(self.counters(), uniquingKeysWith: { a, _ in a })
        let busy = Double(self.busyNanoseconds) / 1e9
        let events = c["events"] ?? 0
        let rate = busy > 0 ? Double(events) / busy : 0
        santraceLog("\(events) events from \(c["records"] ?? 0) records, \(c["threads"] ?? 0) threads, "
            + "\(c["stalls"] ?? 0) stalls, \(c["drops"] ?? 0) drops; drain busy \(Int(busy * 1000)) ms CPU = \(Int(rate)) events/s"
            + "; \(self.writer.path)")
    }

    private func guarded(_ body: () throws -> Void) {
        guard self.failure == nil else { return }
        do { try body() } catch { self.fail(error) }
    }

    private func fail(_ error: any Error) {
        guard self.failure == nil else { return }
        self.failure = "\(error)"
        santraceLog("trace writing failed, recording continues unwritten: \(error)")
    }
}
