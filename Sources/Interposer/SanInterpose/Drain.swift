import CSanSupport
import CSanTrace
import Glibc
import Synchronization

/// The drain thread: empties the per-thread rings, merges them in timestamp order per pass,
/// converts and links (Converter), and hands events to the sink, flushing every `flushInterval`
/// or 1 MiB, at the last WSPCleanup, on SIGINT/SIGTERM and at exit.
///
/// A plain pthread (no Swift Concurrency in a traced process); it blocks SIGINT/SIGTERM and marks
/// itself internal so nothing it does is traced.
final class Drain: @unchecked Sendable {
    private let sink: TraceSink
    private var metadata: TraceMetadata
    private let flushNanoseconds: UInt64
    private var reader = RingReader()
    private var converter = Converter()
    private var deferred: [RawEvent] = []
    private var lastFlush: UInt64 = 0
    private var cleanupEpoch: UInt64 = 0
    private var signalAcked: UInt64 = 0
    private var calibration: (ticks: UInt64, ns: UInt64) = (0, 0)
    private var ticksPerSecond: Double = 0
    private var flushes: UInt64 = 0
    /// Time spent in passes (reading, merging, converting, encoding): events / this = throughput.
    private var busyNanoseconds: UInt64 = 0
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let flushRequested = Atomic<UInt64>(0)
    private let flushDone = Atomic<UInt64>(0)
    /// The first sink error, after which the drain keeps emptying rings but writes nothing.
    private(set) var failure: String?

    static let flushBytes = 1 << 20

    init(sink: TraceSink, metadata: TraceMetadata, flushMilliseconds: Int) {
        self.sink = sink
        self.metadata = metadata
        self.flushNanoseconds = UInt64(flushMilliseconds) * 1_000_000
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

    /// Asks for a flush and waits up to `timeoutMilliseconds` for it.
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
        self.calibrate()
        self.guarded { try self.sink.begin(self.metadata) }
        self.lastFlush = csan_monotonic_ns()
        self.cleanupEpoch = csan_trace_cleanup_epoch()
        var idle: UInt32 = 200_000  // ns
        while !self.stopRequested.load(ordering: .acquiring) {
            csan_trace_heartbeat()
            let n = self.pass(final: false)
            if self.flushDue() { self.flush() }
            if n == 0 {
                var ts = timespec(tv_sec: 0, tv_nsec: Int(idle))
                nanosleep(&ts, nil)
                idle = min(idle * 2, 5_000_000)
            } else {
                idle = 200_000
            }
        }
        // Final: drain until the rings stay empty (bounded), link what is left, close.
        csan_trace_heartbeat()
        for _ in 0..<64 where self.pass(final: false) > 0 {}
        _ = self.pass(final: true)
        self.refineCalibration()
        let final = self.stats()
        self.guarded { try self.sink.close(final) }
        if let v = getenv("SANTRACE_SUMMARY"), v.pointee == UInt8(ascii: "1") { self.summary(final) }
        csan_signal_flush_ack(csan_signal_flush_requests())
        self.flushDone.store(self.flushRequested.load(ordering: .acquiring), ordering: .releasing)
        self.finished.store(true, ordering: .releasing)
    }

    private func flushDue() -> Bool {
        let now = csan_monotonic_ns()
        if now &- self.lastFlush >= self.flushNanoseconds || self.sink.pendingBytes >= Self.flushBytes { return true }
        if csan_trace_cleanup_epoch() != self.cleanupEpoch { return true }
        if csan_signal_flush_requests() != self.signalAcked { return true }
        return self.flushRequested.load(ordering: .acquiring) != self.flushDone.load(ordering: .acquiring)
    }

    private func flush() {
        let signals = csan_signal_flush_requests()
        let requested = self.flushRequested.load(ordering: .acquiring)
        if signals != self.signalAcked || requested != self.flushDone.load(ordering: .acquiring) {
            _ = self.pass(final: false)  // take what the signalled / asking thread just wrote
        }
        self.cleanupEpoch = csan_trace_cleanup_epoch()
        self.refineCalibration()
        self.flushes += 1
        self.guarded { try self.sink.flush(self.stats()) }
        self.lastFlush = csan_monotonic_ns()
        self.signalAcked = signals
        csan_signal_flush_ack(signals)
        self.flushDone.store(requested, ordering: .releasing)
    }

    /// One pass: read every ring, merge by timestamp (keeping each thread's order), convert.
    /// Completions whose start is not seen yet wait for the next pass.
    @discardableResult
    func pass(final: Bool) -> Int {
        let t0 = csan_monotonic_ns()
        defer { self.busyNanoseconds += csan_monotonic_ns() &- t0 }
        var lists: [[RawEvent]] = []
        let n = self.reader.drain(into: &lists)
        if !self.deferred.isEmpty {
            lists.append(self.deferred)
            self.deferred.removeAll()
        }
        guard !lists.isEmpty else { return 0 }
        var next = [Int](repeating: 0, count: lists.count)
        let out = Converter.Output(
            event: { [sink] e in try sink.write(e) },
            descriptor: { [sink] id, b in try sink.defineDescriptor(id: id, bytes: b) })
        while true {
            var best = -1
            var bestTs = UInt64.max
            for i in 0..<lists.count where next[i] < lists[i].count {
                let ts = lists[i][next[i]].timestamp
                if best < 0 || ts < bestTs {
                    best = i
                    bestTs = ts
                }
            }
            if best < 0 { break }
            let raw = lists[best][next[best]]
            next[best] += 1
            do {
                if let held = try self.converter.convert(raw, final: final, into: out) { self.deferred.append(held) }
            } catch {
                self.fail(error)
            }
        }
        return n
    }

    /// One line on stderr at exit (SANTRACE_SUMMARY=1): what was recorded and how fast the drain went.
    private func summary(_ s: CaptureStats) {
        let busy = Double(self.busyNanoseconds) / 1e9
        let rate = busy > 0 ? Double(s.events) / busy : 0
        santraceLog("\(s.events) events from \(s.records) records, \(s.threads) threads, \(s.stalls) stalls, "
            + "\(s.drops) drops; drain busy \(Int(busy * 1000)) ms = \(Int(rate)) events/s")
    }

    private func stats() -> CaptureStats {
        var c = csan_trace_stats()
        csan_trace_get_stats(&c)
        var s = self.converter.stats
        s.records = c.records
        s.stalls = c.stalls
        s.drops = c.drops
        s.reentryDrops = c.reentry_drops
        s.sidetableMisses = c.sidetable_misses
        s.threads = c.threads
        s.flushes = self.flushes
        s.ticksPerSecond = self.ticksPerSecond
        return s
    }

    /// rdtsc against CLOCK_MONOTONIC over 10 ms at start, refined at every flush.
    private func calibrate() {
        self.calibration = (csan_rdtsc(), csan_monotonic_ns())
        var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
        nanosleep(&ts, nil)
        self.refineCalibration()
        self.metadata.ticksPerSecond = self.ticksPerSecond
    }

    private func refineCalibration() {
        let ticks = csan_rdtsc() &- self.calibration.ticks
        let ns = csan_monotonic_ns() &- self.calibration.ns
        if ns > 0 { self.ticksPerSecond = Double(ticks) * 1e9 / Double(ns) }
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
