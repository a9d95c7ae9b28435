import SanTraceFormat
import SanTraceStore

extension DiffReport {
    /// The human-readable report (what `sanreplay diff` prints), one string per line.
    public func textLines(style: TextStyle = TextStyle(color: false)) -> [String] {
        var out: [String] = []
        out.append("A: \(self.a)")
        out.append("B: \(self.b)")
        let names = self.pairs.map { $0.a.name }
        out.append("endpoints: \(self.pairs.count) paired" + (names.isEmpty ? "" : " (" + names.joined(separator: ", ") + ")")
                   + (self.onlyA.isEmpty ? "" : ", \(self.onlyA.count) only in A")
                   + (self.onlyB.isEmpty ? "" : ", \(self.onlyB.count) only in B"))
        if !self.runsA.isEmpty || !self.runsB.isEmpty {
            out.append("runs: \(self.runsA.count) of A, \(self.runsB.count) of B; semantic: first run against first run"
                       + " (\(self.runsA.first ?? self.a), \(self.runsB.first ?? self.b)); performance: every run")
        }
        out.append("")
        out += self.semanticLines(style)
        out.append("")
        out += self.performanceLines(style)
        out.append("")
        out.append(self.verdictLine(style))
        return out
    }

    func semanticLines(_ style: TextStyle) -> [String] {
        let s = self.semantic
        var out: [String] = []
        let compared = "\(formatCount(s.callsCompared)) calls and \(formatCount(s.completionsCompared)) completions compared"
        if s.isEqual {
            out.append("semantic: " + style.green("equal") + " — " + compared)
        } else {
            let kinds = s.counts.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \(formatCount($0.value))" }
            out.append("semantic: " + style.red("\(formatCount(s.total)) divergence\(s.total == 1 ? "" : "s")") + " ("
                       + kinds.joined(separator: ", ") + ") — " + compared)
        }
        if let d = s.first {
            out.append("first divergence: \(d.kind.rawValue) in \(d.endpoint)" + (d.thread > 0 ? " thread \(d.thread)" : (d.function == "-" ? "" : " (process calls)"))
                       + ", \(d.function)" + Self.sequences(d))
            out.append("  A: \(d.a)")
            out.append("  B: \(d.b)")
            if let c = s.firstContext {
                if !c.a.isEmpty {
                    out.append("  A around it:")
                    out += c.a.map { "    " + $0 }
                }
                if !c.b.isEmpty {
                    out.append("  B around it:")
                    out += c.b.map { "    " + $0 }
                }
            }
            if s.details.count > 1 {
                out.append("divergences (first \(s.details.count) of \(formatCount(s.total))):")
                for d in s.details {
                    out.append("  " + TextCells.pad(d.kind.rawValue, 18, left: true) + " " + TextCells.pad(d.endpoint, 20, left: true)
                               + (d.thread > 0 ? " t\(d.thread) " : " -- ") + TextCells.pad(d.function, 24, left: true) + Self.sequences(d)
                               + "  A: \(d.a) | B: \(d.b)")
                }
            }
        }
        for n in s.notes.prefix(20) { out.append("note: " + n) }
        if s.notes.count > 20 { out.append("note: … \(s.notes.count - 20) more") }
        return out
    }

    static func sequences(_ d: Divergence) -> String {
        switch (d.seqA, d.seqB) {
        case let (a?, b?): return " (A event \(a), B event \(b))"
        case let (a?, nil): return " (A event \(a))"
        case let (nil, b?): return " (B event \(b))"
        default: return ""
        }
    }

    func performanceLines(_ style: TextStyle) -> [String] {
        let p = self.performance
        var out: [String] = []
        out.append("performance: latency per function and size (enter → leave; start → completion for overlapped operations)")
        let rule = " regression = significant and slower by more than \(fixed(p.threshold * 100, 1))%"
        if p.runsA > 1 || p.runsB > 1 {
            out.append("  p50 = median of the runs' medians; Δ = B/A − 1 of it; p = Mann–Whitney U over the runs' medians"
                       + " (α = \(fixed(p.alpha, 3))), ~ = not significant;" + rule)
            let floor = PerformanceReport.smallestP(runs: p.runsA, p.runsB)
            if floor >= p.alpha {
                out.append("  note: with \(p.runsA) and \(p.runsB) runs the smallest possible p is \(fixed(floor, 3)), not below α:"
                           + " no change can be significant (5 runs per side reach p = 0.008)")
            }
        } else {
            out.append("  Δ = B/A − 1 of the median; p = Mann–Whitney U (α = \(fixed(p.alpha, 3))), ~ = not significant;" + rule)
        }
        let multi = self.pairs.count > 1
        var header = multi ? [TextCells.pad("endpoint", 22, left: true)] : []
        header += [TextCells.pad("function", 32, left: true), TextCells.pad("size", 5), TextCells.pad("n A", 9),
                   TextCells.pad("n B", 9), TextCells.pad("p50 A", 11), TextCells.pad("p50 B", 11), TextCells.pad("Δp50", 8),
                   TextCells.pad("p", 7), TextCells.pad("p99 A", 11), TextCells.pad("p99 B", 11), TextCells.pad("Δp99", 8),
                   TextCells.pad("thrpt B", 12), TextCells.pad("Δthrpt", 8)]
        out.append(header.joined(separator: " "))
        for r in p.rows {
            var cells = multi ? [TextCells.pad(r.endpoint, 22, left: true)] : []
            let delta: String
            if r.test == nil {
                delta = "-"
            } else if !r.significant {
                delta = "~"
            } else {
                delta = TextCells.percent(r.p50Change)
            }
            let thr = r.b.count == 0 ? "-" : (r.b.bytes > 0 ? TextCells.bytesRate(r.b.bytesPerSecond) : TextCells.opsRate(r.b.opsPerSecond))
            cells += [TextCells.pad(r.function.name, 32, left: true), TextCells.pad(SizeClass.label(r.sizeClass), 5),
                      TextCells.pad(String(r.a.count), 9), TextCells.pad(String(r.b.count), 9),
                      TextCells.pad(r.a.count > 0 ? TextCells.duration(r.a.p50) : "-", 11),
                      TextCells.pad(r.b.count > 0 ? TextCells.duration(r.b.p50) : "-", 11), TextCells.pad(delta, 8),
                      TextCells.pad(r.test.map { TextCells.pValue($0.p) } ?? "-", 7),
                      TextCells.pad(r.a.count > 0 ? TextCells.duration(r.a.p99) : "-", 11),
                      TextCells.pad(r.b.count > 0 ? TextCells.duration(r.b.p99) : "-", 11),
                      TextCells.pad(TextCells.percent(r.p99Change), 8), TextCells.pad(thr, 12),
                      TextCells.pad(TextCells.percent(r.throughputChange), 8)]
            var line = cells.joined(separator: " ")
            if r.regression {
                line = style.red(line + "  REGRESSION")
            } else if r.improvement {
                line = style.green(line + "  improvement")
            } else if r.test != nil && !r.significant {
                line = style.dim(line)
            }
            out.append(line)
        }
        if p.geomeanA > 0 {
            var cells = multi ? [TextCells.pad("", 22, left: true)] : []
            cells += [TextCells.pad("geomean", 32, left: true), TextCells.pad("", 5), TextCells.pad("", 9), TextCells.pad("", 9),
                      TextCells.pad(TextCells.duration(UInt64(p.geomeanA.rounded())), 11),
                      TextCells.pad(TextCells.duration(UInt64(p.geomeanB.rounded())), 11),
                      TextCells.pad(TextCells.percent(p.geomeanChange), 8)]
            out.append(cells.joined(separator: " "))
        }
        return out
    }

    func verdictLine(_ style: TextStyle) -> String {
        let regs = self.performance.regressions
        let list = regs.prefix(5).map { "\($0.function.name) \(SizeClass.label($0.sizeClass)) \(TextCells.percent($0.p50Change))" }
            .joined(separator: ", ") + (regs.count > 5 ? ", …" : "")
        switch self.verdict {
        case .equal: return "verdict: " + style.green("equal")
        case .divergence: return "verdict: " + style.red("divergence") + " (\(formatCount(self.semantic.total)) semantic differences)"
        case .regression:
            return "verdict: " + style.red("regression") + " (\(regs.count) beyond \(TextCells.percent(self.performance.threshold)): \(list))"
        case .divergenceAndRegression:
            return "verdict: " + style.red("divergence and regression")
                + " (\(formatCount(self.semantic.total)) semantic differences; \(regs.count) regressions: \(list))"
        }
    }
}
