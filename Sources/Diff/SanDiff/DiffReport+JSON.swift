import JSONText
import SanTraceFormat
import SanTraceStore

extension DiffReport {
    /// The report as one JSON object (`sanreplay diff --json`; keys documented in Docs/Diff.md and
    /// kept stable).
    public var json: JSONObject {
        var o = JSONObject()
        o.add("a", self.a)
        o.add("b", self.b)
        o.add("verdict", self.verdict.rawValue)
        o.add("endpoints", raw: jsonArray(self.pairs.map { p in
            var j = JSONObject()
            j.add("name", p.a.name)
            j.add("a", p.a.path)
            j.add("b", p.b.path)
            j.add("events_a", p.a.events)
            j.add("events_b", p.b.events)
            return j.text
        }))
        o.add("only_a", raw: jsonArray(self.onlyA.map { jsonString($0.path) }))
        o.add("only_b", raw: jsonArray(self.onlyB.map { jsonString($0.path) }))
        o.add("runs_a", raw: jsonArray((self.runsA.isEmpty ? [self.a] : self.runsA).map(jsonString)))
        o.add("runs_b", raw: jsonArray((self.runsB.isEmpty ? [self.b] : self.runsB).map(jsonString)))
        o.add("semantic", self.semanticJSON)
        o.add("performance", self.performanceJSON)
        return o
    }

    var semanticJSON: JSONObject {
        let s = self.semantic
        var o = JSONObject()
        o.add("equal", s.isEqual)
        o.add("divergences", s.total)
        var counts = JSONObject()
        for k in Divergence.Kind.allCases { counts.add(k.rawValue, s.counts[k] ?? 0) }
        o.add("counts", counts)
        o.add("calls_compared", s.callsCompared)
        o.add("completions_compared", s.completionsCompared)
        if let d = s.first {
            var f = Self.json(d)
            if let c = s.firstContext {
                f.add("context_a", raw: jsonArray(c.a.map(jsonString)))
                f.add("context_b", raw: jsonArray(c.b.map(jsonString)))
            }
            o.add("first", f)
        } else {
            o.add("first", raw: "null")
        }
        o.add("details", raw: jsonArray(s.details.map { Self.json($0).text }))
        o.add("notes", raw: jsonArray(s.notes.map(jsonString)))
        return o
    }

    static func json(_ d: Divergence) -> JSONObject {
        var j = JSONObject()
        j.add("kind", d.kind.rawValue)
        j.add("endpoint", d.endpoint)
        j.add("thread", d.thread)
        j.add("function", d.function)
        j.add("seq_a", raw: d.seqA.map { String($0) } ?? "null")
        j.add("seq_b", raw: d.seqB.map { String($0) } ?? "null")
        j.add("a", d.a)
        j.add("b", d.b)
        return j
    }

    var performanceJSON: JSONObject {
        let p = self.performance
        var o = JSONObject()
        o.add("threshold", p.threshold)
        o.add("alpha", p.alpha)
        o.add("runs_a", p.runsA)
        o.add("runs_b", p.runsB)
        o.add("smallest_p", PerformanceReport.smallestP(runs: p.runsA, p.runsB))
        o.add("regressions", p.regressions.count)
        o.add("improvements", p.improvements.count)
        o.add("rows", raw: jsonArray(p.rows.map { r in
            var j = JSONObject()
            j.add("endpoint", r.endpoint)
            j.add("function", r.function.name)
            j.add("size_class", r.sizeClass)
            j.add("size", SizeClass.label(r.sizeClass))
            j.add("a", Self.json(r.a))
            j.add("b", Self.json(r.b))
            j.add("p50_change", raw: r.p50Change.map(jsonNumber) ?? "null")
            j.add("p99_change", raw: r.p99Change.map(jsonNumber) ?? "null")
            j.add("throughput_change", raw: r.throughputChange.map(jsonNumber) ?? "null")
            j.add("u", raw: r.test.map { jsonNumber($0.u) } ?? "null")
            j.add("p", raw: r.test.map { jsonNumber($0.p) } ?? "null")
            j.add("significant", r.significant)
            j.add("regression", r.regression)
            j.add("improvement", r.improvement)
            if !r.runMediansA.isEmpty || !r.runMediansB.isEmpty {
                j.add("run_medians_a_ns", raw: jsonArray(r.runMediansA.map { String($0) }))
                j.add("run_medians_b_ns", raw: jsonArray(r.runMediansB.map { String($0) }))
            }
            return j.text
        }))
        var g = JSONObject()
        g.add("a_ns", p.geomeanA)
        g.add("b_ns", p.geomeanB)
        g.add("change", raw: p.geomeanChange.map(jsonNumber) ?? "null")
        o.add("geomean", g)
        return o
    }

    static func json(_ s: LatencySummary) -> JSONObject {
        var j = JSONObject()
        j.add("n", s.count)
        j.add("p50_ns", s.p50)
        j.add("p90_ns", s.p90)
        j.add("p99_ns", s.p99)
        j.add("p99_9_ns", s.p999)
        j.add("min_ns", s.min)
        j.add("max_ns", s.max)
        j.add("mean_ns", s.mean)
        j.add("bytes", s.bytes)
        j.add("ops_per_s", s.opsPerSecond)
        j.add("bytes_per_s", s.bytesPerSecond)
        return j
    }
}
