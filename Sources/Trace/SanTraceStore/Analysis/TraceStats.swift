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

    /// Computes the statistics of one trace: one pass over all events with the low-level cursor.
    public static func compute(_ reader: TraceReader) throws -> TraceStats {
        var s = TraceStats()
        s.traces = [reader.path]
        var table = [FunctionStats?](repeating: nil, count: 128)
        var pairing = CallPairing()
        let roles = ShapeRoles.shared
        let clock = reader.clock
        let cursor = try reader.cursor()
        var r = EventRecord()
        var minTSC = UInt64.max, maxTSC: UInt64 = 0
        let ticksPerNs = clock.tscHz / 1e9
        while try cursor.next(into: &r) {
            s.events &+= 1
            if r.tsc < minTSC { minTSC = r.tsc }
            if r.tsc > maxTSC { maxTSC = r.tsc }
            let ro = roles.roles(r)
            let fn = r.subjectFunction(ro)
            let start = pairing.observe(r)
            guard fn.rawValue < 128 else {
                if r.kind == .lookup { s.lookups &+= 1 }
                continue
            }
            let i = Int(fn.rawValue)
            var f = table[i].take() ?? FunctionStats(function: fn)  // take: keeps the histograms uniquely referenced
            switch r.kind {
            case .enter, .upcall: f.calls &+= 1
            case .leave:
                if let st = start { f.callLatency.record(ns(r.tsc, st.tsc, ticksPerNs)) }
            case .completion:
                f.completions &+= 1
                if let st = start { f.operationLatency.record(ns(r.tsc, st.tsc, ticksPerNs)) }
            case .lookup: break
            }
            if r.isError(ro) { f.errors &+= 1 }
            f.bytes &+= r.movedBytes(ro)
            table[i] = f
        }
        for f in table.compactMap({ $0 }) { s.functions[f.function] = f }
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
        end >= start ? UInt64(Double(end - start) / ticksPerNs) : 0
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
