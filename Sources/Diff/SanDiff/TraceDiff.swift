import SanTraceFormat
import SanTraceStore

/// How `diff` compares.
public struct DiffOptions: Sendable {
    /// A regression is a significant median slowdown beyond this fraction (0.05 = 5 %).
    public var threshold = 0.05
    /// Significance level of the Mann–Whitney U test.
    public var alpha = 0.05
    /// Divergences listed (all are counted).
    public var maxDetails = 50
    /// Insertions and deletions the alignment of one thread looks for before giving up.
    public var maxEdits = Alignment.defaultMaxEdits
    /// Events shown before and after the first divergence, per side.
    public var contextEvents = 3
    /// Told how many events were read, from the reading threads (for a progress bar).
    public var progress: (@Sendable (UInt64) -> Void)?

    public init() {}
}

/// The outcome, in the order of the exit codes it maps to.
public enum DiffVerdict: String, Sendable {
    case equal
    case divergence
    case regression
    case divergenceAndRegression = "divergence+regression"
}

/// Everything `diff` found.
public struct DiffReport: Sendable {
    public var a: String
    public var b: String
    public var pairs: [(a: Endpoint, b: Endpoint)]
    public var onlyA: [Endpoint]
    public var onlyB: [Endpoint]
    public var semantic: SemanticReport
    public var performance: PerformanceReport
    public var options: DiffOptions
    /// The runs of each side when a side is a folder of runs (``TraceSet/runs(_:)``): the
    /// semantic comparison is of the first runs, the performance one over all.
    public var runsA: [String] = []
    public var runsB: [String] = []

    public var verdict: DiffVerdict {
        switch (!self.semantic.isEqual, !self.performance.regressions.isEmpty) {
        case (false, false): return .equal
        case (true, false): return .divergence
        case (false, true): return .regression
        case (true, true): return .divergenceAndRegression
        }
    }
}

/// `sanreplay diff`: semantic and performance comparison of two traces or trace sets
/// (Docs/Diff.md).
public enum TraceDiff {
    /// The endpoints a TRACE|DIR argument names.
    public static func endpoints(_ path: String) throws -> [Endpoint] {
        try TraceSet.paths(path).map(Endpoint.read)
    }

    /// Compares `a` (the baseline) with `b`; either may be a folder of runs.
    public static func run(a: String, b: String, options: DiffOptions = DiffOptions()) throws -> DiffReport {
        let (runsA, runsB) = (try TraceSet.runs(a), try TraceSet.runs(b))
        let pairing = EndpointPairing.match(try self.endpoints(runsA[0]), try self.endpoints(runsB[0]))
        return try self.run(pairing, a: a, b: b, options: options, runsA: runsA, runsB: runsB)
    }

    /// Events the comparison reads (for a progress bar's total).
    public static func events(_ pairing: EndpointPairing) -> UInt64 {
        pairing.pairs.reduce(0) { $0 + $1.a.events + $1.b.events }
    }

    /// Compares the paired endpoints (of the first runs). With more than one run on a side
    /// (`runsA`, `runsB`: every run, the first included), performance is compared over the runs.
    public static func run(_ pairing: EndpointPairing, a: String, b: String, options: DiffOptions,
                           runsA: [String] = [], runsB: [String] = []) throws -> DiffReport {
        // Both sides of every pair are read on two threads (one per core here).
        let sides = pairing.pairs.flatMap { [$0.a, $0.b] }
        // Threads are paired (and ranked) by what they do before either side is read.
        var ranks: [[UInt32: Int]] = []
        for p in pairing.pairs {
            let plan = ThreadMatching.plan(try ThreadMatching.threads(p.a.path), try ThreadMatching.threads(p.b.path))
            ranks += [plan.a, plan.b]
        }
        let progress = options.progress
        let streams = try parallelMap(sides.count) { i in try StreamBuilder.build(sides[i], ranks: ranks[i], progress: progress) }
        var semantic = SemanticDiff(maxDetails: options.maxDetails, maxEdits: options.maxEdits)
        var perf = PerformanceReport(threshold: options.threshold, alpha: options.alpha)
        for (i, e) in pairing.onlyA.enumerated() { semantic.missingEndpoint(e, index: pairing.pairs.count + i, inA: true) }
        for (i, e) in pairing.onlyB.enumerated() {
            semantic.missingEndpoint(e, index: pairing.pairs.count + pairing.onlyA.count + i, inA: false)
        }
        let overRuns = runsA.count > 1 || runsB.count > 1
        var firstRuns: (a: [String: PerformanceSamples], b: [String: PerformanceSamples]) = ([:], [:])
        for p in 0..<pairing.pairs.count {
            let sa = streams[2 * p], sb = streams[2 * p + 1]
            semantic.compare(sa, sb, index: p)
            _ = try parallelMap(2) { side in
                let s = side == 0 ? sa.samples : sb.samples
                for c in s.usedCells { RadixSort.sort(&s.latencies[c]) }
            }
            if overRuns {
                // The first runs' samples, keyed as ``samples(of:reference:)`` keys the others.
                firstRuns.a[pairing.pairs[p].a.path] = sa.samples
                firstRuns.b[pairing.pairs[p].a.path] = sb.samples
            } else {
                perf.compare(sa.samples, sb.samples, endpoint: pairing.pairs[p].a.name)
            }
        }
        perf.finish()
        var report = DiffReport(a: a, b: b, pairs: pairing.pairs, onlyA: pairing.onlyA, onlyB: pairing.onlyB,
                                semantic: semantic.finish(), performance: perf, options: options)
        if let first = report.semantic.first, first.endpointIndex < pairing.pairs.count {
            let pair = pairing.pairs[first.endpointIndex]
            report.semantic.firstContext = try self.context(first, pair, around: options.contextEvents)
        }
        try self.describeArguments(&report.semantic.details, pairing)
        if overRuns {
            report.runsA = runsA
            report.runsB = runsB
            report.performance = try self.performance(pairing, runsA, runsB, firstRuns, options)
        }
        return report
    }

    /// Performance over repeated runs: each run's endpoints are paired with those of A's first
    /// run; the runs after the first (whose samples the semantic pass read) are read two at a
    /// time; cells are compared on the runs' medians.
    static func performance(_ pairing: EndpointPairing, _ runsA: [String], _ runsB: [String],
                            _ firstRuns: (a: [String: PerformanceSamples], b: [String: PerformanceSamples]),
                            _ options: DiffOptions) throws -> PerformanceReport {
        let reference = pairing.pairs.map(\.a)
        let restA = Array(runsA.dropFirst()), rest = restA + Array(runsB.dropFirst())
        let read = try parallelMap(rest.count) { i in try self.samples(of: rest[i], reference: reference) }
        let a = [firstRuns.a] + read[..<restA.count], b = [firstRuns.b] + read[restA.count...]
        var perf = PerformanceReport(threshold: options.threshold, alpha: options.alpha)
        perf.runsA = runsA.count
        perf.runsB = runsB.count
        for p in pairing.pairs {
            perf.compareRuns(a.compactMap { $0[p.a.path] }, b.compactMap { $0[p.a.path] }, endpoint: p.a.name)
        }
        perf.finish()
        return perf
    }

    /// The latency samples of one run, per endpoint, keyed by the path of the reference endpoint
    /// it pairs with (endpoints that pair with none are left out); cells sorted.
    static func samples(of run: String, reference: [Endpoint]) throws -> [String: PerformanceSamples] {
        let pairing = EndpointPairing.match(reference, try self.endpoints(run))
        let streams = try parallelMap(pairing.pairs.count) { i in
            let p = pairing.pairs[i]
            let plan = ThreadMatching.plan(try ThreadMatching.threads(p.a.path), try ThreadMatching.threads(p.b.path))
            let samples = try StreamBuilder.build(p.b, ranks: plan.b).samples
            for c in samples.usedCells { RadixSort.sort(&samples.latencies[c]) }
            return samples
        }
        var out: [String: PerformanceSamples] = [:]
        for (i, p) in pairing.pairs.enumerated() { out[p.a.path] = streams[i] }
        return out
    }

    /// An `arguments` divergence is found by hash; the listed ones are described by the two
    /// calls themselves (their ENTERs, formatted like `dump`), read back by sequence.
    static func describeArguments(_ details: inout [Divergence], _ pairing: EndpointPairing) throws {
        var readers: [String: TraceReader] = [:]
        func line(_ path: String, _ seq: UInt64) throws -> String? {
            let reader = try readers[path] ?? TraceReader(path: path)
            readers[path] = reader
            var f = TraceFilter()
            f.fromSequence = seq
            f.toSequence = seq
            let c = try reader.cursor(f)
            var r = EventRecord()
            guard try c.next(into: &r) else { return nil }
            var formatter = EventFormatter(reader: reader)
            let text = formatter.line(r)
            // Drop the sequence, time and thread columns: the divergence names them.
            return text.firstRange(of: "> ").map { String(text[$0.lowerBound...]) } ?? text
        }
        for i in details.indices where details[i].kind == .arguments && details[i].endpointIndex < pairing.pairs.count {
            let pair = pairing.pairs[details[i].endpointIndex]
            if let s = details[i].seqA, let l = try line(pair.a.path, s) { details[i].a = l }
            if let s = details[i].seqB, let l = try line(pair.b.path, s) { details[i].b = l }
        }
    }

    /// The events around the first divergence on its thread, in A and in B.
    static func context(_ d: Divergence, _ pair: (a: Endpoint, b: Endpoint), around n: Int) throws -> DivergenceContext {
        var out = DivergenceContext(a: [], b: [])
        if let t = d.threadA { out.a = try self.lines(pair.a.path, thread: t, at: d.seqA ?? d.orderKey, around: n, exact: d.seqA != nil) }
        if let t = d.threadB, let s = d.seqB { out.b = try self.lines(pair.b.path, thread: t, at: s, around: n, exact: true) }
        return out
    }

    /// `n` events of `thread` before and after sequence `seq` (marked `→`; when not `exact`, the
    /// mark says the other side has an event before this one).
    static func lines(_ path: String, thread: UInt32, at seq: UInt64, around n: Int, exact: Bool) throws -> [String] {
        let reader = try TraceReader(path: path)
        var formatter = EventFormatter(reader: reader)
        var before: [String] = [], after: [String] = []
        var marked: String?
        var window: UInt64 = 4096
        while true {
            var f = TraceFilter()
            f.threads = [thread]
            f.fromSequence = seq > window ? seq - window : 0
            f.toSequence = seq &+ window
            before = []
            after = []
            marked = nil
            let cursor = try reader.cursor(f)
            var r = EventRecord()
            while try cursor.next(into: &r) {
                let line = formatter.line(r)
                if r.sequence < seq {
                    before.append(line)
                    if before.count > n { before.removeFirst() }
                } else if r.sequence == seq || (marked == nil && !exact) {
                    marked = line
                } else if after.count < n {
                    after.append(line)
                }
            }
            if (before.count >= n && after.count >= n) || window >= 1 << 22 { break }
            window <<= 4
            formatter = EventFormatter(reader: reader)
        }
        let mark = exact ? "→ " : "→ (the other run has a call before this one) "
        return before.map { "  " + $0 } + (marked.map { [mark + $0] } ?? []) + after.map { "  " + $0 }
    }
}
