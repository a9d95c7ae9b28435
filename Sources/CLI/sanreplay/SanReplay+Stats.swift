import ArgumentParser
import JSONText
import SanTraceFormat
import SanTraceStore

extension SanReplay {
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarize a trace or a trace set: calls, bytes, errors and latencies per function.",
            discussion: """
                Per function: calls, errors (failures other than WSA_IO_PENDING /
                WSA_IO_INCOMPLETE), bytes moved, call latency (ENTER → LEAVE) and operation
                latency (start → COMPLETION) percentiles (p50, p99, p99.9, max; within 3 %).
                Also the time span, producer stalls and drops, and the registrations never
                released. A folder is a trace set: each trace is summarized, then the set.

                EXAMPLES
                  sanreplay stats run/client.santrace
                  sanreplay stats run/ --json
                """)

        @OptionGroup var input: TraceSetInputOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let paths = try TraceSet.paths(self.input.trace)
            var all = TraceStats()
            var each: [TraceStats] = []
            for p in paths {
                let s = try TraceStats.compute(TraceReader(path: p))
                each.append(s)
                all.merge(s)
            }
            let out = Output()
            if self.output.json {
                var o = StatsFormat.json(all)
                if paths.count > 1 { o.add("traces", raw: jsonArray(each.map { StatsFormat.json($0).text })) }
                out.line(o.text)
            } else {
                if paths.count > 1 {
                    for s in each { StatsFormat.text(s, title: s.traces[0], out) }
                    StatsFormat.text(all, title: "trace set \(self.input.trace) (\(paths.count) traces)", out)
                } else {
                    StatsFormat.text(all, title: paths[0], out)
                }
            }
            out.flush()
        }
    }
}

enum StatsFormat {
    static func text(_ s: TraceStats, title: String, _ out: Output) {
        out.line("\(title): \(formatCount(s.events)) events over \(formatSeconds(s.spanSeconds)), stalls \(s.stalls), drops \(s.drops)")
        let header = [col("function", 34, left: true), col("calls", 11), col("errors", 8), col("bytes", 14),
                      col("call p50", 10), col("p99", 10), col("p99.9", 10), col("max", 10),
                      col("op p50", 10), col("op p99", 10), col("op max", 10)]
        out.line(header.joined(separator: " "))
        for f in s.functions.values.sorted(by: { $0.function < $1.function }) {
            let c = f.callLatency, o = f.operationLatency
            out.line([col(f.function.name, 34, left: true), col(String(f.calls), 11), col(String(f.errors), 8),
                      col(String(f.bytes), 14), col(lat(c, 50), 10), col(lat(c, 99), 10), col(lat(c, 99.9), 10),
                      col(c.count > 0 ? EventFormatter.duration(Int64(c.max)) : "-", 10), col(lat(o, 50), 10),
                      col(lat(o, 99), 10), col(o.count > 0 ? EventFormatter.duration(Int64(o.max)) : "-", 10)]
                .joined(separator: " "))
        }
        if s.lookups > 0 { out.line("extension look-ups: \(s.lookups)") }
        if s.neverReleased.isEmpty {
            out.line("registrations never released: none")
        } else {
            out.line("registrations never released: \(s.neverReleased.count)")
            for r in s.neverReleased.prefix(50) {
                out.line("  \(r.kind) #\(r.id): \(r.length) bytes, registered at event \(r.registeredSeq) (t=\(formatSeconds(r.registeredSeconds)))")
            }
            if s.neverReleased.count > 50 { out.line("  … \(s.neverReleased.count - 50) more") }
        }
    }

    static func lat(_ h: LatencyHistogram, _ p: Double) -> String {
        h.count == 0 ? "-" : EventFormatter.duration(Int64(h.percentile(p)))
    }

    static func col(_ s: String, _ w: Int, left: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, w - s.count))
        return left ? s + padding : padding + s
    }

    static func json(_ s: TraceStats) -> JSONObject {
        var o = JSONObject()
        o.add("events", s.events)
        o.add("span_s", s.spanSeconds)
        o.add("stalls", s.stalls)
        o.add("drops", s.drops)
        o.add("lookups", s.lookups)
        o.add("functions", raw: jsonArray(s.functions.values.sorted(by: { $0.function < $1.function }).map { f in
            var j = JSONObject()
            j.add("function", f.function.name)
            j.add("calls", f.calls)
            j.add("errors", f.errors)
            j.add("bytes", f.bytes)
            j.add("completions", f.completions)
            j.add("call_latency_ns", histogram(f.callLatency))
            j.add("operation_latency_ns", histogram(f.operationLatency))
            return j.text
        }))
        o.add("registrations_never_released", raw: jsonArray(s.neverReleased.map { r in
            var j = JSONObject()
            j.add("trace", r.trace)
            j.add("kind", r.kind)
            j.add("id", r.id)
            j.add("length", r.length)
            j.add("registered_seq", r.registeredSeq)
            j.add("registered_s", r.registeredSeconds)
            return j.text
        }))
        return o
    }

    static func histogram(_ h: LatencyHistogram) -> JSONObject {
        var j = JSONObject()
        j.add("count", h.count)
        if h.count > 0 {
            j.add("p50", h.percentile(50))
            j.add("p90", h.percentile(90))
            j.add("p99", h.percentile(99))
            j.add("p99_9", h.percentile(99.9))
            j.add("min", h.min)
            j.add("max", h.max)
            j.add("mean", h.mean)
        }
        return j
    }
}
