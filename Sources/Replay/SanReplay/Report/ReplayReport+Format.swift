import JSONText
import SanTraceFormat
import SanTraceStore

extension ReplayReport {
    /// The summary as text lines.
    public var text: [String] {
        if !self.children.isEmpty { return self.childrenText }
        var out: [String] = []
        let what = self.endpoints.count == 1 ? "endpoint \(self.endpoints[0])" : "\(self.endpoints.count) endpoints (\(self.endpoints.joined(separator: ", ")))"
        out.append("sanreplay replay \(self.trace): \(what) on \(self.backend), pace \(self.pace), divergence \(self.policy)")
        if !self.synthetic.isEmpty { out.append(" synthesized peers: \(self.synthetic.joined(separator: ", "))") }
        if let r = self.recordDirectory { out.append(" recording the replay into \(r)") }
        out.append(" \(self.callsReplayed) calls replayed in \(fixed(self.wallSeconds, 3)) s (\(fixed(self.callsPerSecond, 0)) calls/s, \(fixed(self.callsPerCPUSecond, 0)) per CPU-second); \(self.operations) operations, \(byteText(self.bytesMoved)) moved (\(fixed(self.mibPerSecond, 2)) MiB/s, \(fixed(self.operationsPerSecond, 0)) ops/s)")
        out.append(" compared: \(self.callsCompared) call results, \(self.completionsCompared) completions")
        if let t = self.transport { out.append(" \(t)") }
        out.append(" data checks: \(self.dataChecks) run (\(byteText(self.dataBytesChecked))), \(self.dataFailures) failed"
                   + (self.dataSkipped > 0 ? ", \(self.dataSkipped) skipped (the backend moves no data)" : "")
                   + (self.bytesNotCompared > 0 ? ", \(self.bytesNotCompared) received byte counts not compared (no data moved)" : ""))
        for (reason, n) in self.uncheckable.sorted(by: { $0.key < $1.key }) { out.append("   not checkable: \(n) × \(reason)") }
        if let p = self.pacing {
            out.append(" pacing \(p.mode): \(p.calls) gaps, timing error median \(nsText(p.p50)), p99 \(nsText(p.p99)), max \(nsText(p.max))")
        }
        let skipped = self.timingSkipped.merging(self.startupSkipped) { $0 + $1 }
        if !skipped.isEmpty {
            out.append(" not replayed one for one: " + skipped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + " (incomplete polls, would-block accepts, empty event checks: timing; startup and extension look-ups: done when the backend loaded)")
        }
        if !self.unavailable.isEmpty {
            out.append(" skipped, the backend lacks these optional functions (reference §3.2): "
                       + self.unavailable.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !self.unsupported.isEmpty {
            out.append(" not replayable (arguments not recorded): "
                       + self.unsupported.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        out.append("")
        out.append("  \(col("function", 36, left: true)) \(col("calls", 10)) \(col("per s", 12)) \(col("p50", 10)) \(col("p99", 10)) \(col("p99.9", 10)) \(col("max", 10))")
        for f in self.functions {
            out.append("  \(col(f.function, 36, left: true)) \(col(String(f.calls), 10)) \(col(f.calls > 1 ? fixed(f.rate, 0) : "-", 12)) \(col(nsText(f.p50), 10)) \(col(nsText(f.p99), 10)) \(col(nsText(f.p999), 10)) \(col(nsText(f.max), 10))")
        }
        out.append("")
        for n in self.notes { out.append(" note: \(n)") }
        if self.totalDivergences == 0 {
            out.append(self.stopped.map { "STOPPED: \($0)" } ?? "OK: no divergence")
        } else {
            let counts = self.divergenceCounts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            out.append("DIVERGED: \(self.totalDivergences) divergence(s) (\(counts))" + (self.stopped.map { "; \($0)" } ?? ""))
            out.append("first divergence:")
            out.append(contentsOf: self.divergences[0].description.split(separator: "\n").map { "  " + $0 })
            if self.divergences.count > 1 {
                out.append("further divergences (first \(self.divergences.count - 1) shown):")
                for d in self.divergences.dropFirst().prefix(20) {
                    out.append("  \(d.kind.rawValue): \(d.endpoint) thread \(d.thread) seq \(d.threadSeq) \(d.function): recorded \(d.recorded), live \(d.live)")
                }
            }
        }
        return out
    }

    /// A split replay: each endpoint's own report, then the verdict.
    private var childrenText: [String] {
        var out = ["sanreplay replay \(self.trace): \(self.children.count) endpoints, one process each (recording into \(self.recordDirectory ?? "-"))"]
        for c in self.children {
            out.append("")
            out.append("== endpoint \(c.endpoint) (process \(c.process), exit \(c.exitCode))")
            out += c.text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        }
        for n in self.notes { out.append(" note: \(n)") }
        let bad = self.children.filter { $0.exitCode != 0 }.map(\.endpoint)
        out.append(bad.isEmpty ? "OK: no divergence" : "DIVERGED: endpoint(s) \(bad.joined(separator: ", "))")
        return out
    }

    /// The summary as one JSON object.
    public var json: String {
        if !self.children.isEmpty {
            var o = JSONObject()
            o.add("trace", self.trace)
            o.add("ok", self.ok)
            o.add("split", true)
            if let r = self.recordDirectory { o.add("record_directory", r) }
            o.add("endpoint_reports", raw: jsonArray(self.children.map { c in
                var j = JSONObject()
                j.add("endpoint", c.endpoint)
                j.add("process", c.process)
                j.add("exit_code", c.exitCode)
                let body = c.json.trimmingSuffixNewlines
                j.add("report", raw: body.hasPrefix("{") ? body : "null")
                return j.text
            }))
            o.add("notes", raw: jsonArray(self.notes.map(jsonString)))
            return o.text
        }
        var o = JSONObject()
        o.add("trace", self.trace)
        o.add("endpoints", raw: jsonArray(self.endpoints.map(jsonString)))
        o.add("synthetic", raw: jsonArray(self.synthetic.map(jsonString)))
        o.add("backend", self.backend)
        o.add("pace", self.pace)
        o.add("divergence_policy", self.policy)
        o.add("ok", self.ok)
        o.add("divergences", self.totalDivergences)
        var counts = JSONObject()
        for (k, v) in self.divergenceCounts.sorted(by: { $0.key < $1.key }) { counts.add(k, v) }
        o.add("divergences_by_kind", counts)
        if let d = self.divergences.first { o.add("first_divergence", Self.json(d)) }
        o.add("divergence_list", raw: jsonArray(self.divergences.map { Self.json($0).text }))
        if let s = self.stopped { o.add("stopped", s) }
        o.add("calls", self.callsReplayed)
        o.add("calls_compared", self.callsCompared)
        o.add("completions_compared", self.completionsCompared)
        o.add("seconds", self.wallSeconds)
        o.add("cpu_seconds", self.cpuSeconds)
        o.add("calls_per_s", self.callsPerSecond)
        o.add("calls_per_cpu_s", self.callsPerCPUSecond)
        o.add("operations", self.operations)
        o.add("ops_per_s", self.operationsPerSecond)
        o.add("bytes", self.bytesMoved)
        o.add("mib_per_s", self.mibPerSecond)
        var data = JSONObject()
        data.add("checks", self.dataChecks)
        data.add("bytes", self.dataBytesChecked)
        data.add("failures", self.dataFailures)
        data.add("skipped", self.dataSkipped)
        data.add("receive_bytes_not_compared", self.bytesNotCompared)
        var unc = JSONObject()
        for (k, v) in self.uncheckable.sorted(by: { $0.key < $1.key }) { unc.add(k, v) }
        data.add("not_checkable", unc)
        if let t = self.transport { data.add("transport", t) }
        o.add("data", data)
        o.add("functions", raw: jsonArray(self.functions.map { f in
            var j = JSONObject()
            j.add("function", f.function)
            j.add("calls", f.calls)
            var l = JSONObject()
            l.add("p50", f.p50)
            l.add("p99", f.p99)
            l.add("p999", f.p999)
            l.add("max", f.max)
            j.add("latency_ns", l)
            j.add("per_s", f.rate)
            return j.text
        }))
        if let p = self.pacing {
            var j = JSONObject()
            j.add("mode", p.mode)
            j.add("gaps", p.calls)
            j.add("error_p50_ns", p.p50)
            j.add("error_p99_ns", p.p99)
            j.add("error_max_ns", p.max)
            o.add("pacing", j)
        }
        func table(_ t: [String: Int]) -> JSONObject {
            var j = JSONObject()
            for (k, v) in t.sorted(by: { $0.key < $1.key }) { j.add(k, v) }
            return j
        }
        o.add("timing_skipped", table(self.timingSkipped))
        o.add("startup_skipped", table(self.startupSkipped))
        o.add("unsupported", table(self.unsupported))
        o.add("unavailable", table(self.unavailable))
        o.add("notes", raw: jsonArray(self.notes.map(jsonString)))
        if let r = self.recordDirectory { o.add("record_directory", r) }
        return o.text
    }

    static func json(_ d: Divergence) -> JSONObject {
        var j = JSONObject()
        j.add("kind", d.kind.rawValue)
        j.add("endpoint", d.endpoint)
        j.add("thread", Int(d.thread))
        j.add("thread_seq", d.threadSeq)
        j.add("seq", d.seq)
        j.add("function", d.function)
        j.add("overlapped", d.overlapped)
        j.add("recorded", d.recorded)
        j.add("live", d.live)
        j.add("context", raw: jsonArray(d.context.map(jsonString)))
        return j
    }
}

func nsText(_ ns: UInt64) -> String {
    if ns >= 1_000_000_000 { return fixed(Double(ns) / 1e9, 2) + "s" }
    if ns >= 1_000_000 { return fixed(Double(ns) / 1e6, 2) + "ms" }
    if ns >= 1_000 { return fixed(Double(ns) / 1e3, 2) + "us" }
    return "\(ns)ns"
}

func byteText(_ b: UInt64) -> String {
    if b >= 1 << 30 { return fixed(Double(b) / Double(1 << 30), 2) + " GiB" }
    if b >= 1 << 20 { return fixed(Double(b) / Double(1 << 20), 2) + " MiB" }
    if b >= 1 << 10 { return fixed(Double(b) / Double(1 << 10), 2) + " KiB" }
    return "\(b) B"
}

/// `v` with `decimals` digits after the point (no Foundation in libraries).
func fixed(_ v: Double, _ decimals: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let r = (abs(v) * scale).rounded()
    guard r < 9e18 else { return "\(v)" }
    let n = UInt64(r)
    let whole = n / UInt64(scale)
    var text = (v < 0 && n > 0 ? "-" : "") + String(whole)
    if decimals > 0 {
        let frac = String(n % UInt64(scale))
        text += "." + String(repeating: "0", count: decimals - frac.count) + frac
    }
    return text
}

func col(_ s: String, _ w: Int, left: Bool = false) -> String {
    let pad = String(repeating: " ", count: max(0, w - s.count))
    return left ? s + pad : pad + s
}

extension String {
    var trimmingSuffixNewlines: String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == " " { s = s.dropLast() }
        return String(s)
    }
}
