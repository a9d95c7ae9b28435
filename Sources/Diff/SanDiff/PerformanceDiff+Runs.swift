import SanTraceFormat

/// Performance over repeated runs, as benchstat compares runs made with `-count`: the calls of
/// one run share that run's machine state, so two single runs can differ significantly while
/// the code does not. With several runs per side, each run contributes one value per cell (the
/// median of its calls), and the test compares those values across runs.
extension PerformanceReport {
    /// Compares the runs of one endpoint (each side: one ``PerformanceSamples`` per run, in which
    /// every used cell is sorted) and appends its rows. A row's p50 is the median of the runs'
    /// medians (what Δp50, the test and the regression rule use); its other percentiles, counts
    /// and throughput pool the calls of every run.
    mutating func compareRuns(_ a: [PerformanceSamples], _ b: [PerformanceSamples], endpoint: String) {
        let cells = Set((a + b).flatMap(\.usedCells)).sorted()
        for cell in cells {
            let (summaryA, mediansA) = Self.pooled(a, cell)
            let (summaryB, mediansB) = Self.pooled(b, cell)
            let test = mediansA.isEmpty || mediansB.isEmpty ? nil : MannWhitney.test(mediansA, mediansB)
            var row = PerformanceRow(endpoint: endpoint, function: FunctionID(UInt16(cell / SizeClass.count)),
                                     sizeClass: cell % SizeClass.count, a: summaryA, b: summaryB, test: test,
                                     significant: false, regression: false, improvement: false)
            row.runMediansA = mediansA
            row.runMediansB = mediansB
            self.classify(&row)
            self.rows.append(row)
        }
    }

    /// The pooled summary of `cell` over `runs` (p50 replaced by the median of the runs' medians),
    /// and the sorted medians of the runs that have calls in it.
    static func pooled(_ runs: [PerformanceSamples], _ cell: Int) -> (LatencySummary, [UInt64]) {
        var all: [UInt64] = []
        var medians: [UInt64] = []
        var bytes: UInt64 = 0
        var span: Int64 = 0
        for r in runs where !r.latencies[cell].isEmpty {
            let s = r.latencies[cell]
            medians.append(s[(s.count + 1) / 2 - 1])  // nearest rank, as LatencySummary
            all += s
            bytes += r.bytes[cell]
            span += r.cellSpanNs[cell]
        }
        RadixSort.sort(&all)
        medians.sort()
        var summary = all.withUnsafeBufferPointer { LatencySummary(sorted: $0, bytes: bytes, spanNs: span) }
        if !medians.isEmpty { summary.p50 = medians[(medians.count + 1) / 2 - 1] }
        return (summary, medians)
    }

    /// The smallest two-sided p the exact test can give for `n` runs against `m` (no ties):
    /// 2 / C(n + m, n). When it is not below α, no change can be significant.
    public static func smallestP(runs n: Int, _ m: Int) -> Double {
        guard n > 0, m > 0 else { return 1 }
        var c = 1.0
        for i in 0..<min(n, m) { c = c * Double(n + m - i) / Double(i + 1) }
        return min(1, 2 / c)
    }
}
