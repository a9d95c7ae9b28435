import ArgumentParser
import JSONText
import SanTraceStore

extension SanReplay {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a trace: segment checksums, records, sequence continuity, index consistency.",
            discussion: """
                Reports exactly what is intact after a crash or a truncation, e.g. "segments
                0–41 intact (1 203 340 events, 0–1 203 339, up to t=4.180 s)" followed by what
                is wrong with the rest. Exit 0 when everything is intact, 2 when anything is
                damaged (also after --repair: the repair is reported, the loss stays visible).

                --repair copies the intact segments into a fresh file, rebuilds every index
                table from them, records the lost event ranges (meta lost_sequences) and puts
                it in place of TRACE; the original is kept as TRACE.damaged.

                EXAMPLES
                  sanreplay verify run/client.santrace
                  sanreplay verify --repair run/client.santrace
                  sanreplay verify run/client.santrace
                """)

        @OptionGroup var input: TraceInputOptions
        @OptionGroup var output: OutputOptions
        @Flag(name: .long, help: "Rebuild the trace from its intact segments (original kept as TRACE.damaged).")
        var repair = false

        func run() throws {
            let report = try TraceVerifier.verify(path: self.input.trace)
            let out = Output()
            if self.output.json {
                out.line(VerifyJSON.text(report))
            } else {
                for l in report.lines { out.line(l) }
            }
            if self.repair && !report.isIntact {
                let result = try TraceRepair.repair(path: self.input.trace, report: report)
                let lost = result.lost.map { "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", ")
                out.line("repaired: kept \(result.segmentsKept) segments (\(formatCount(result.eventsKept)) events)"
                         + (lost.isEmpty ? "" : ", lost events \(lost)") + "; original kept as \(result.damagedCopy)")
            }
            out.flush()
            if !report.isIntact {
                printError("sanreplay: \(self.input.trace): damaged (\(report.problems.count) damaged part(s), \(report.indexProblems.count) index mismatch(es))")
                throw SanReplayExit.damagedTrace.exitCode
            }
        }
    }
}

enum VerifyJSON {
    static func text(_ r: VerifyReport) -> String {
        var o = JSONObject()
        o.add("trace", r.path)
        o.add("intact", r.isIntact)
        o.add("closed", r.closedCleanly)
        o.add("segments", r.segmentsSeen.count)
        o.add("intact_segments", raw: jsonArray(r.intactSegments.map { String($0.id) }))
        o.add("intact_events", r.intactSegments.reduce(UInt64(0)) { $0 + $1.events })
        o.add("intact_until_s", r.intactUntilSeconds)
        o.add("problems", raw: jsonArray(r.problems.map { p in
            var j = JSONObject()
            if let s = p.segment { j.add("segment", s) }
            j.add("kind", p.kind.rawValue)
            j.add("what", p.what)
            return j.text
        }))
        o.add("index_problems", raw: jsonArray(r.indexProblems.map { jsonString($0.description) }))
        o.add("thread_gaps", raw: jsonArray(r.threadGaps.map { g in
            var j = JSONObject()
            j.add("thread", UInt64(g.thread))
            j.add("after", g.after)
            j.add("missing", g.missing)
            return j.text
        }))
        return o.text
    }
}
