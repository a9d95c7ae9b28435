import SanDiff
import SanTraceFormat
import SanTraceStore

/// What the HTML report shows of one run (a trace, or a trace set merged): latency histograms
/// per function and size class, and per time bin the bytes moved per function and the
/// operations outstanding. Gathered in one pass per trace (two threads on large ones).
public struct RunData: Sendable {
    public var label: String
    public var traces: [String] = []
    public var events: UInt64 = 0
    public var spanNs: Int64 = 0
    /// (function, size class) → latency histogram.
    public var latency: [Cell: LatencyHistogram] = [:]
    public var errors: [Cell: UInt64] = [:]
    /// Bin width in ns and per function the bytes (or, with no bytes, the calls) finished per bin.
    public var binNs: Int64 = 1
    public var bytesPerBin: [FunctionID: [Double]] = [:]
    public var callsPerBin: [FunctionID: [Double]] = [:]
    /// Operations outstanding at the end of each bin, and the most within it.
    public var outstanding: [Double] = []
    public var peak: [Double] = []

    public struct Cell: Hashable, Sendable, Comparable {
        public var function: FunctionID
        public var sizeClass: Int
        public static func < (a: Cell, b: Cell) -> Bool { (a.function, a.sizeClass) < (b.function, b.sizeClass) }
    }

    public static let bins = 200

    /// Reads every trace of `path` (a trace or a folder).
    public static func gather(_ path: String, label: String, progress: (@Sendable (UInt64) -> Void)? = nil) throws -> RunData {
        var run = RunData(label: label)
        let paths = try TraceSet.paths(path)
        run.traces = paths
        let readers = try paths.map { try TraceReader(path: $0) }
        let span = readers.map { r in r.clock.nanoseconds(from: r.firstTSC, to: r.lastTSC) }.max() ?? 0
        run.spanNs = max(1, span)
        run.binNs = max(1, (run.spanNs + Int64(bins) - 1) / Int64(bins))
        run.outstanding = Array(repeating: 0, count: bins)
        run.peak = Array(repeating: 0, count: bins)
        for r in readers {
            run.events += r.eventCount
            let first = r.firstTSC, clock = r.clock, binNs = run.binNs
            let sink = try TraceScan.run(r.path, progress: progress) {
                ReportSink(first: first, clock: clock, binNs: binNs, bins: bins)
            }
            run.add(sink)
        }
        return run
    }

    mutating func add(_ s: ReportSink) {
        for (i, cell) in s.latency.cells.enumerated() {
            let c = Cell(function: FunctionID(UInt16(cell / SizeClass.count)), sizeClass: cell % SizeClass.count)
            self.latency[c, default: LatencyHistogram()].merge(s.latency.histograms[i])
            self.errors[c, default: 0] += s.latency.errors[i]
        }
        for (fn, v) in s.bytes {
            var mine = self.bytesPerBin[fn] ?? Array(repeating: 0, count: Self.bins)
            for i in 0..<Self.bins { mine[i] += v[i] }
            self.bytesPerBin[fn] = mine
        }
        for (fn, v) in s.calls {
            var mine = self.callsPerBin[fn] ?? Array(repeating: 0, count: Self.bins)
            for i in 0..<Self.bins { mine[i] += v[i] }
            self.callsPerBin[fn] = mine
        }
        var level: Int64 = 0
        for i in 0..<Self.bins {
            let before = level
            level += s.inflight.started[i] - s.inflight.completed[i]
            self.outstanding[i] += Double(max(0, level))
            let p = s.inflight.peak[i] == Int64.min ? max(before, level) : s.inflight.peak[i]
            self.peak[i] += Double(max(0, p))
        }
    }
}

/// The per-trace sink of the report's pass.
struct ReportSink: MergeableSink {
    var latency: Reports.LatencySink
    var inflight: Reports.InflightSink
    var bytes: [FunctionID: [Double]] = [:]
    var calls: [FunctionID: [Double]] = [:]
    let first: UInt64
    let ticksPerBin: Double
    let bins: Int

    init(first: UInt64, clock: ClockCalibration, binNs: Int64, bins: Int) {
        self.first = first
        self.bins = bins
        self.ticksPerBin = Double(binNs) * clock.tscHz / 1e9
        self.latency = Reports.LatencySink(hz: clock.tscHz)
        self.inflight = Reports.InflightSink(first: first, width: UInt64(max(1, self.ticksPerBin.rounded(.up))), bins: bins)
    }

    func bin(_ tsc: UInt64) -> Int {
        tsc <= self.first ? 0 : min(self.bins - 1, Int(Double(tsc - self.first) / self.ticksPerBin))
    }

    mutating func finished(_ c: FinishedCall) {
        self.latency.finished(c)
        guard !isFailure(c.status) else { return }
        let b = self.bin(c.endTSC)
        if c.bytes > 0 {
            if self.bytes[c.function] == nil { self.bytes[c.function] = Array(repeating: 0, count: self.bins) }
            self.bytes[c.function]![b] += Double(c.bytes)
        }
        if self.calls[c.function] == nil { self.calls[c.function] = Array(repeating: 0, count: self.bins) }
        self.calls[c.function]![b] += 1
    }

    mutating func operationStarted(tsc: UInt64, function: FunctionID) { self.inflight.operationStarted(tsc: tsc, function: function) }
    mutating func operationCompleted(tsc: UInt64, function: FunctionID) { self.inflight.operationCompleted(tsc: tsc, function: function) }

    mutating func merge(_ later: ReportSink) {
        self.latency.merge(later.latency)
        self.inflight.merge(later.inflight)
        for (fn, v) in later.bytes {
            var mine = self.bytes[fn] ?? Array(repeating: 0, count: self.bins)
            for i in 0..<self.bins { mine[i] += v[i] }
            self.bytes[fn] = mine
        }
        for (fn, v) in later.calls {
            var mine = self.calls[fn] ?? Array(repeating: 0, count: self.bins)
            for i in 0..<self.bins { mine[i] += v[i] }
            self.calls[fn] = mine
        }
    }
}
