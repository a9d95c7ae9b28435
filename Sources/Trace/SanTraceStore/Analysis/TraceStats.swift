import SanTraceFormat

/// What `sanreplay stats` reports for a trace (or, merged, for a trace set).
public struct TraceStats: Sendable {
    public struct FunctionStats: Sendable {
        public var function: FunctionID
        /// ENTERs (UPCALLs for upcall functions).
        public var calls: UInt64 = 0
        /// LEAVEs and COMPLETIONs reporting a failure.
        public var errors: UInt64 = 0
        /// Bytes moved (completions, and calls that completed without going pending).
        public var bytes: UInt64 = 0
        public var completions: UInt64 = 0
        /// ENTER → LEAVE.
        public var callLatency = LatencyHistogram()
        /// ENTER of the starting call → COMPLETION.
        public var operationLatency = LatencyHistogram()
    }

    public struct Registration: Sendable {
        public var trace: String
        public var kind: String
        public var id: Int64
        public var length: Int64
        public var registeredSeq: Int64
        public var registeredSeconds: Double
    }

    public var traces: [String] = []
    public var events: UInt64 = 0
    public var functions: [FunctionID: FunctionStats] = [:]
    public var lookups: UInt64 = 0
    /// Time span per trace (seconds from first to last event), summed over a set.
    public var spanSeconds: Double = 0
    public var neverReleased: [Registration] = []
    public var stalls: UInt64 = 0
    public var drops: UInt64 = 0

    public init() {}

    /// Per-function counters in raw memory (calls, errors, bytes, completions, seen; 128 each)
    /// and their histograms (call latency h = function, operation latency h = 128 + function).
    final class Accumulator {
        let counters = UnsafeMutablePointer<UInt64>.allocate(capacity: 5 * 128)
        let latency = HistogramBank(histograms: 256)
        init() { self.counters.initialize(repeating: 0, count: 5 * 128) }
        deinit { self.counters.deallocate() }
        @inline(__always) func add(_ which: Int, _ fn: Int, _ v: UInt64) { self.counters[which &* 128 &+ fn] &+= v }
        func get(_ which: Int, _ fn: Int) -> UInt64 { self.counters[which * 128 + fn] }
    }

    /// What one worker gathers over a run of segments.
    final class Worker {
        let path: String
        let segments: [SegmentInfo]
        let accumulator = Accumulator()
        var pairing = CallPairing()
        var events: UInt64 = 0
        var lookups: UInt64 = 0
        var minTSC = UInt64.max
        var maxTSC: UInt64 = 0
        var error: Error?

        init(path: String, segments: [SegmentInfo], keepUnpaired: Bool) {
            self.path = path
            self.segments = segments
            self.pairing.keepUnpaired = keepUnpaired
        }

        func run() {
            do {
                let reader = try TraceReader(path: self.path)
                try self.scan(reader)
            } catch {
                self.error = error
            }
        }

        func scan(_ reader: TraceReader) throws {
            let a = self.accumulator
            let roles = ShapeRoles.shared
            let cursor = TraceCursor(reader: reader, segments: self.segments, filter: TraceFilter())
            let ticksPerNs = reader.clock.tscHz / 1e9
            var r = EventRecord()
            while try cursor.next(into: &r) {
                self.events &+= 1
                if r.tsc < self.minTSC { self.minTSC = r.tsc }
                if r.tsc > self.maxTSC { self.maxTSC = r.tsc }
                let ro = roles.roles(r)
                let fn = r.subjectFunction(ro)
                let start = self.pairing.observe(r)
                guard fn.rawValue < 128 else {
                    if r.kind == .lookup { self.lookups &+= 1 }
                    continue
                }
                let i = Int(fn.rawValue)
                a.add(4, i, 1)
                switch r.kind {
                case .enter, .upcall: a.add(0, i, 1)
                case .leave:
                    if let st = start { a.latency.record(i, TraceStats.ns(r.tsc, st.tsc, ticksPerNs)) }
                case .completion:
                    a.add(3, i, 1)
                    if let st = start { a.latency.record(128 &+ i, TraceStats.ns(r.tsc, st.tsc, ticksPerNs)) }
                case .lookup: break
                }
                if r.isError(ro) { a.add(1, i, 1) }
                a.add(2, i, r.movedBytes(ro))
            }
        }
    }

    /// Computes the statistics of one trace in one pass over its events with the low-level
    /// cursor. Large traces are split in two halves read on two threads (one per core of the
    /// machines this runs on); calls that straddle the split are paired afterwards, so the result
    /// is the same as a single pass.
    public static func compute(_ reader: TraceReader) throws -> TraceStats {
        try self.compute(reader, parallelFrom: 1_000_000)
    }

    /// `parallelFrom`: the event count from which the trace is read by two workers (tests lower it).
    static func compute(_ reader: TraceReader, parallelFrom: UInt64) throws -> TraceStats {
        var s = TraceStats()
        s.traces = [reader.path]
        let segs = reader.segments
        let total = segs.reduce(UInt64(0)) { $0 + $1.events }
        var split = segs.count
        if total >= parallelFrom && segs.count >= 4 {
            var acc: UInt64 = 0
            for (i, seg) in segs.enumerated() {
                acc += seg.events
                if acc >= total / 2 {
                    split = i + 1
                    break
                }
            }
        }
        let first = Worker(path: reader.path, segments: Array(segs[..<split]), keepUnpaired: false)
        let second = split < segs.count ? Worker(path: reader.path, segments: Array(segs[split...]), keepUnpaired: true) : nil
        if let second {
            let thread = try Thread.start { second.run() }
            try first.scan(reader)
            thread.join()
            if let e = second.error { throw e }
            // Pair what the second half could not with the first half's open calls.
            let ticksPerNs = reader.clock.tscHz / 1e9
            for u in second.pairing.unpaired {
                guard let st = first.pairing.pair(u), u.function.rawValue < 128 else { continue }
                let i = Int(u.function.rawValue)
                second.accumulator.latency.record(u.kind == .leave ? i : 128 + i, ns(u.tsc, st.tsc, ticksPerNs))
            }
        } else {
            try first.scan(reader)
        }
        let workers = [first] + (second.map { [$0] } ?? [])
        s.events = workers.reduce(0) { $0 + $1.events }
        s.lookups = workers.reduce(0) { $0 + $1.lookups }
        let minTSC = workers.map(\.minTSC).min() ?? 0, maxTSC = workers.map(\.maxTSC).max() ?? 0
        let clock = reader.clock
        for i in 0..<128 where workers.contains(where: { $0.accumulator.get(4, i) > 0 }) {
            var f = FunctionStats(function: FunctionID(UInt16(i)))
            for w in workers {
                let a = w.accumulator
                f.calls += a.get(0, i)
                f.errors += a.get(1, i)
                f.bytes += a.get(2, i)
                f.completions += a.get(3, i)
                f.callLatency.merge(a.latency.histogram(i))
                f.operationLatency.merge(a.latency.histogram(128 + i))
            }
            s.functions[f.function] = f
        }
        if s.events > 0 { s.spanSeconds = Double(clock.nanoseconds(from: minTSC, to: maxTSC)) / 1e9 }
        s.stalls = reader.meta["stalls"].flatMap(UInt64.init) ?? 0
        s.drops = reader.meta["drops"].flatMap(UInt64.init) ?? 0
        do throws(SQLiteError) {
            let q = try reader.db.prepare("""
                SELECT kind, id, coalesce(length, 0), coalesce(registered_seq, -1), coalesce(registered_tsc, 0)
                FROM registrations WHERE deregistered_seq IS NULL ORDER BY registered_seq
                """)
            while try q.step() {
                let tsc = UInt64(bitPattern: q.int(4))
                s.neverReleased.append(Registration(trace: reader.path, kind: q.text(0) ?? "", id: q.int(1), length: q.int(2),
                                                    registeredSeq: q.int(3),
                                                    registeredSeconds: Double(reader.relativeNanoseconds(tsc)) / 1e9))
            }
        } catch {
            throw TraceFile.map(error, reader.path)
        }
        return s
    }

    @inline(__always)
    static func ns(_ end: UInt64, _ start: UInt64, _ ticksPerNs: Double) -> UInt64 {
        end >= start ? UInt64(max(0, saturatingInt64(Double(end - start) / ticksPerNs))) : 0
    }

    /// Adds another trace's statistics (a trace set).
    public mutating func merge(_ o: TraceStats) {
        self.traces += o.traces
        self.events += o.events
        self.lookups += o.lookups
        self.spanSeconds = max(self.spanSeconds, o.spanSeconds)
        self.neverReleased += o.neverReleased
        self.stalls += o.stalls
        self.drops += o.drops
        for (k, v) in o.functions {
            if var mine = self.functions[k] {
                mine.calls += v.calls
                mine.errors += v.errors
                mine.bytes += v.bytes
                mine.completions += v.completions
                mine.callLatency.merge(v.callLatency)
                mine.operationLatency.merge(v.operationLatency)
                self.functions[k] = mine
            } else {
                self.functions[k] = v
            }
        }
    }
}
