import SanCore
import SanDiff
import SanTraceFormat
import SanTraceStore

/// The reports `sanreplay query TRACE NAME` prints without SQL (and without the event index).
public enum CannedReport: String, CaseIterable, Sendable {
    /// The slowest calls and operations, with what surrounded them.
    case top
    /// Latency percentiles and shape per function and size class.
    case latency
    /// Operations outstanding over time.
    case inflight
    /// Failures per function and error.
    case errors
    /// Registrations never released, sockets never closed.
    case leaks

    public var summary: String {
        switch self {
        case .top: return "slowest calls with context (the thread's previous call, operations in flight on the socket)"
        case .latency: return "latency percentiles and shape per function and size class"
        case .inflight: return "operations started, completed and outstanding over time"
        case .errors: return "failures per function and error, first and last occurrence"
        case .leaks: return "registrations never released and sockets never closed"
        }
    }
}

/// Options of the canned reports.
public struct CannedOptions: Sendable {
    /// Which events (functions, sockets, threads, time window) a report reads.
    public var filter = TraceFilter()
    /// Rows of `top`; time bins of `inflight`.
    public var limit = 20
    public var bins = 50
    /// Durations as text (`12.3 µs`) instead of integer nanoseconds (`_ns` columns).
    public var human = true
    public var progress: (@Sendable (UInt64) -> Void)?

    public init() {}
}

extension CannedReport {
    public func run(_ path: String, _ o: CannedOptions) throws -> ResultTable {
        switch self {
        case .top: return try Reports.top(path, o)
        case .latency: return try Reports.latency(path, o)
        case .inflight: return try Reports.inflight(path, o)
        case .errors: return try Reports.errors(path, o)
        case .leaks: return try Reports.leaks(path, o)
        }
    }
}

enum Reports {
    static func ns(_ ticks: UInt64, _ hz: Double) -> UInt64 { UInt64(max(0, saturatingInt64(Double(ticks) * 1e9 / hz))) }

    static func duration(_ ns: UInt64, _ human: Bool) -> QueryValue {
        human ? .text(TextCells.duration(ns)) : .integer(Int64(clamping: ns))
    }

    static func time(_ ns: Int64, _ human: Bool) -> QueryValue {
        human ? .text(fixed(Double(ns) / 1e9, 6)) : .integer(ns)
    }

    static func error(_ e: Int64) -> String { e == 0 ? "0" : WSAError(Int32(truncatingIfNeeded: e)).name }

    // MARK: top

    struct TopSink: MergeableSink {
        static var wantsContext: Bool { true }
        let limit: Int
        /// The slowest so far, unordered; trimmed to `limit` when it doubles.
        var calls: [(ticks: UInt64, call: FinishedCall)] = []
        var floor: UInt64 = 0

        mutating func finished(_ c: FinishedCall) {
            let t = c.endTSC >= c.startTSC ? c.endTSC - c.startTSC : 0
            guard self.calls.count < self.limit || t > self.floor else { return }
            self.calls.append((t, c))
            if self.calls.count >= 2 * self.limit { self.trim() }
        }

        mutating func trim() {
            self.calls.sort { $0.ticks > $1.ticks }
            if self.calls.count > self.limit { self.calls.removeSubrange(self.limit...) }
            if self.calls.count == self.limit { self.floor = self.calls.last!.ticks }
        }

        mutating func merge(_ later: TopSink) {
            self.calls += later.calls
            self.trim()
        }
    }

    static func top(_ path: String, _ o: CannedOptions) throws -> ResultTable {
        let reader = try TraceReader(path: path)
        var sink = try TraceScan.run(path, filter: o.filter, progress: o.progress) { TopSink(limit: max(1, o.limit)) }
        sink.trim()
        let h = o.human
        var t = ResultTable(title: "\(path): the \(sink.calls.count) slowest calls and operations",
                            columns: ["seq", h ? "t_s" : "t_ns", "thread", "function", "kind", "socket", "size",
                                      h ? "latency" : "latency_ns", "status", "previous_call", h ? "gap" : "gap_ns",
                                      "inflight_on_socket", "end_seq"])
        for (ticks, c) in sink.calls {
            t.rows.append([.integer(Int64(c.startSeq)), time(reader.relativeNanoseconds(c.startTSC), h), .integer(Int64(c.thread)),
                           .text(c.function.name), .text(c.operation ? "operation" : "call"), .integer(Int64(c.socket)),
                           .integer(Int64(clamping: c.bytes)), duration(ns(ticks, reader.clock.tscHz), h), .text(error(c.status)),
                           .text(c.previous == .none ? "-" : c.previous.name), duration(ns(c.previousGapTicks, reader.clock.tscHz), h),
                           .integer(Int64(c.inflightOnSocket)), .integer(Int64(c.endSeq))])
        }
        t.notes = ["latency: enter → leave for calls, start → completion for operations that went pending; "
                   + "`sanreplay dump TRACE --from … --thread T` shows the events around one"]
        return t
    }

    // MARK: latency

    struct LatencySink: MergeableSink {
        let hz: Double
        var index = [Int32](repeating: -1, count: 128 * SizeClass.count)
        var cells: [Int] = []
        var histograms: [LatencyHistogram] = []
        var errors: [UInt64] = []

        mutating func finished(_ c: FinishedCall) {
            let cell = Int(c.function.rawValue & 0x7F) * SizeClass.count + c.sizeClass
            var i = Int(self.index[cell])
            if i < 0 {
                i = self.histograms.count
                self.index[cell] = Int32(i)
                self.cells.append(cell)
                self.histograms.append(LatencyHistogram())
                self.errors.append(0)
            }
            self.histograms[i].record(Reports.ns(c.endTSC >= c.startTSC ? c.endTSC - c.startTSC : 0, self.hz))
            if isFailure(c.status) { self.errors[i] += 1 }
        }

        mutating func merge(_ later: LatencySink) {
            for (j, cell) in later.cells.enumerated() {
                var i = Int(self.index[cell])
                if i < 0 {
                    i = self.histograms.count
                    self.index[cell] = Int32(i)
                    self.cells.append(cell)
                    self.histograms.append(LatencyHistogram())
                    self.errors.append(0)
                }
                self.histograms[i].merge(later.histograms[j])
                self.errors[i] += later.errors[j]
            }
        }

        /// (function, size class, histogram, errors) in function then size order.
        var sorted: [(FunctionID, Int, LatencyHistogram, UInt64)] {
            self.cells.enumerated().map { (i, cell) in
                (FunctionID(UInt16(cell / SizeClass.count)), cell % SizeClass.count, self.histograms[i], self.errors[i])
            }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        }
    }

    static func latencySink(_ path: String, _ o: CannedOptions) throws -> LatencySink {
        let hz = try TraceReader(path: path).clock.tscHz
        return try TraceScan.run(path, filter: o.filter, progress: o.progress) { LatencySink(hz: hz) }
    }

    static func latency(_ path: String, _ o: CannedOptions) throws -> ResultTable {
        let sink = try self.latencySink(path, o)
        let h = o.human
        let names = ["p50", "p90", "p99", "p99.9", "max", "mean"]
        var t = ResultTable(title: "\(path): latency per function and size class (enter → leave; start → completion when pending)",
                            columns: ["function", "size", "calls", "errors"] + names.map { h ? $0 : $0.replacingDot() + "_ns" }
                                + ["shape"])
        for (fn, size, hist, errors) in sink.sorted {
            var row: [QueryValue] = [.text(fn.name), .text(SizeClass.label(size)), .integer(Int64(hist.count)), .integer(Int64(errors))]
            for p in [50.0, 90, 99, 99.9] { row.append(duration(hist.percentile(p), h)) }
            row.append(duration(hist.max, h))
            row.append(duration(UInt64(hist.mean.rounded()), h))
            row.append(.text(hist.sparkline))
            t.rows.append(row)
        }
        t.notes = ["percentiles within 3 %; shape: one block per power of two from the minimum to the maximum"]
        return t
    }

    // MARK: inflight

    struct InflightSink: MergeableSink {
        let first: UInt64
        let width: UInt64
        var started: [Int64]
        var completed: [Int64]
        /// Highest outstanding count within each bin, relative to the count at the sink's start.
        var peak: [Int64]
        var level: Int64 = 0

        init(first: UInt64, width: UInt64, bins: Int) {
            self.first = first
            self.width = max(1, width)
            self.started = Array(repeating: 0, count: bins)
            self.completed = Array(repeating: 0, count: bins)
            self.peak = Array(repeating: Int64.min, count: bins)
        }

        func bin(_ tsc: UInt64) -> Int { tsc <= self.first ? 0 : min(self.started.count - 1, Int((tsc - self.first) / self.width)) }

        mutating func finished(_ c: FinishedCall) {}

        mutating func operationStarted(tsc: UInt64, function: FunctionID) {
            let b = self.bin(tsc)
            self.started[b] += 1
            self.level += 1
            self.peak[b] = max(self.peak[b], self.level)
        }

        mutating func operationCompleted(tsc: UInt64, function: FunctionID) {
            let b = self.bin(tsc)
            self.completed[b] += 1
            self.level -= 1
        }

        mutating func merge(_ later: InflightSink) {
            for i in self.started.indices {
                self.started[i] += later.started[i]
                self.completed[i] += later.completed[i]
                if later.peak[i] != Int64.min { self.peak[i] = max(self.peak[i], later.peak[i] + self.level) }
            }
            self.level += later.level
        }
    }

    static func inflight(_ path: String, _ o: CannedOptions) throws -> ResultTable {
        let reader = try TraceReader(path: path)
        let first = o.filter.fromTSC ?? reader.firstTSC
        let last = o.filter.toTSC ?? reader.lastTSC
        let bins = max(1, o.bins)
        let width = max(1, (last >= first ? last - first : 0) / UInt64(bins) + 1)
        // One pass: the peak within a bin needs the events in order.
        let sink = try TraceScan.run(path, filter: o.filter, parallelFrom: .max, progress: o.progress) {
            InflightSink(first: first, width: width, bins: bins)
        }
        let h = o.human
        var t = ResultTable(title: "\(path): overlapped operations over time (\(bins) bins of \(TextCells.duration(ns(width, reader.clock.tscHz))))",
                            columns: [h ? "from_s" : "from_ns", "started", "completed", "outstanding", "peak"])
        var level: Int64 = 0
        for i in 0..<bins {
            let before = level
            level += sink.started[i] - sink.completed[i]
            let from = reader.clock.nanoseconds(from: reader.firstTSC, to: first &+ UInt64(i) &* width)
            t.rows.append([time(from, h), .integer(sink.started[i]), .integer(sink.completed[i]), .integer(max(0, level)),
                           .integer(max(0, sink.peak[i] == Int64.min ? max(before, level) : sink.peak[i]))])
        }
        t.notes = ["an operation is outstanding from the LEAVE that said WSA_IO_PENDING to its completion"]
        return t
    }

    // MARK: errors

    static func errors(_ path: String, _ o: CannedOptions) throws -> ResultTable {
        let reader = try TraceReader(path: path)
        var f = o.filter
        f.errorsOnly = true
        struct Group {
            var count: UInt64 = 0
            var firstSeq: UInt64 = 0
            var firstTSC: UInt64 = 0
            var lastTSC: UInt64 = 0
            var sockets: Set<UInt64> = []
        }
        var groups: [String: Group] = [:]
        var order: [String] = []
        let roles = ShapeRoles.shared
        try reader.forEach(f) { r in
            let ro = roles.roles(r)
            let fn = r.subjectFunction(ro)
            let err = ro.error >= 0 ? r.signed(Int(ro.error)) : 0
            let key = fn.name + "\u{0}" + (r.kind == .completion ? "completion" : "call") + "\u{0}" + error(err)
            var g = groups[key] ?? Group()
            if g.count == 0 {
                g.firstSeq = r.sequence
                g.firstTSC = r.tsc
                order.append(key)
            }
            g.count += 1
            g.lastTSC = r.tsc
            if ro.socket >= 0, g.sockets.count < 64 { g.sockets.insert(r.value(Int(ro.socket))) }
            groups[key] = g
            o.progress?(1)
        }
        let h = o.human
        var t = ResultTable(title: "\(path): failures (LEAVEs and completions reporting an error other than WSA_IO_PENDING / WSA_IO_INCOMPLETE)",
                            columns: ["function", "where", "error", "count", "first_seq", h ? "first_s" : "first_ns",
                                      h ? "last_s" : "last_ns", "sockets"])
        for key in order {
            let g = groups[key]!
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            t.rows.append([.text(parts[0]), .text(parts[1]), .text(parts[2]), .integer(Int64(g.count)), .integer(Int64(g.firstSeq)),
                           time(reader.relativeNanoseconds(g.firstTSC), h), time(reader.relativeNanoseconds(g.lastTSC), h),
                           .text(g.sockets.sorted().map(String.init).joined(separator: " "))])
        }
        if order.isEmpty { t.notes = ["no failures"] }
        return t
    }

    // MARK: leaks

    static func leaks(_ path: String, _ o: CannedOptions) throws -> ResultTable {
        let reader = try TraceReader(path: path)
        let db = try SQLiteConnection(path: path, readOnly: true)
        let h = o.human
        var t = ResultTable(title: "\(path): registrations never released and sockets never closed",
                            columns: ["what", "id", "socket", "length", "created_seq", h ? "created_s" : "created_ns", "created_by"])
        let regs = try db.prepare("""
            SELECT kind, id, socket, length, registered_seq, registered_tsc FROM registrations
            WHERE deregistered_seq IS NULL ORDER BY registered_seq
            """)
        while try regs.step() {
            let tsc = UInt64(bitPattern: regs.int(5))
            t.rows.append([.text(regs.text(0) == "rdma" ? "rdma registration" : "memory registration"), .integer(regs.int(1)),
                           regs.optionalInt(2).map { .integer($0) } ?? .null, regs.optionalInt(3).map { .integer($0) } ?? .null,
                           regs.optionalInt(4).map { .integer($0) } ?? .null,
                           regs.isNull(5) ? .null : time(reader.relativeNanoseconds(tsc), h),
                           .text(regs.text(0) == "rdma" ? "WSPRegisterRdmaMemory" : "WSPRegisterMemory")])
        }
        let socks = try db.prepare("SELECT id, created_seq, created_by FROM sockets WHERE closed_seq IS NULL ORDER BY created_seq")
        while try socks.step() {
            t.rows.append([.text("socket never closed"), .integer(socks.int(0)), .integer(socks.int(0)), .null,
                           socks.optionalInt(1).map { .integer($0) } ?? .null, .null, .text(socks.text(2) ?? "-")])
        }
        if t.rows.isEmpty { t.notes = ["nothing leaked: every registration was released and every socket closed"] }
        return t
    }
}

extension String {
    func replacingDot() -> String { String(self.map { $0 == "." ? "_" : $0 }) }
}
