import Foundation
import SanDiff
import SanTraceFormat
import SanTraceStore
import Testing

@testable import SanReport
import TraceTestSupport

@Suite struct CannedReportTests {
    /// Latencies by brute force from the events: (function, size class) → sorted ns.
    static func bruteForce(_ path: String) throws -> [String: [UInt64]] {
        let r = try TraceReader(path: path)
        let events = try r.events()
        var open: [UInt32: [(TraceEvent, UInt64)]] = [:]
        var ops: [String: (TraceEvent, UInt64)] = [:]
        var out: [String: [UInt64]] = [:]
        func size(_ e: TraceEvent) -> UInt64 {
            if case .buffers(let b)? = e["buffers"] { return b.reduce(0) { $0 + UInt64($1.length) } }
            if case .uint(let n)? = e["length"] { return n }
            return 0
        }
        func key(_ e: TraceEvent) -> String { "\(e.function.name) \(SizeClass.of(size(e)))" }
        for e in events {
            switch e.kind {
            case .enter:
                open[e.thread, default: []].append((e, 0))
                if Schema.function(e.function)?.startsOperation == true { ops["\(e.thread):\(e.threadSeq)"] = (e, 0) }
            case .leave:
                let (start, _) = open[e.thread]!.removeLast()
                var err: Int64 = 0
                if case .int(let v)? = e["err"] { err = v }
                if Schema.function(e.function)?.startsOperation == true && err == 997 { continue }
                out[key(start), default: []].append(UInt64(r.clock.nanoseconds(from: start.tsc, to: e.tsc)))
            case .completion:
                guard case .callRef(let t, let s)? = e["start"], let (start, _) = ops.removeValue(forKey: "\(t):\(s)") else { continue }
                out[key(start), default: []].append(UInt64(r.clock.nanoseconds(from: start.tsc, to: e.tsc)))
            default: break
            }
        }
        return out.mapValues { $0.sorted() }
    }

    @Test func latencyMatchesBruteForceAndTwoHalvesEqualOnePass() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, iterations: 3000)
        let exact = try Self.bruteForce(t)
        let hz = try TraceReader(path: t).clock.tscHz
        let one = try TraceScan.run(t, parallelFrom: .max) { Reports.LatencySink(hz: hz) }
        let two = try TraceScan.run(t, parallelFrom: 1) { Reports.LatencySink(hz: hz) }
        #expect(one.sorted.count == exact.count)
        for ((fn, size, h, _), (fn2, size2, h2, _)) in zip(one.sorted, two.sorted) {
            #expect(fn == fn2 && size == size2)
            #expect(h.count == h2.count && h.min == h2.min && h.max == h2.max && h.cdf.map(\.fraction) == h2.cdf.map(\.fraction))
            let samples = try #require(exact["\(fn.name) \(size)"])
            #expect(UInt64(samples.count) == h.count, "\(fn.name) \(size)")
            let median = samples[(samples.count + 1) / 2 - 1]
            #expect(abs(Double(h.percentile(50)) - Double(median)) <= Double(median) * 0.035 + 1, "\(fn.name)")
            #expect(h.max == samples.last!)
        }
    }

    @Test func topIsTheSlowest() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, iterations: 2000)
        let slowest = try Self.bruteForce(t).values.flatMap { $0 }.sorted(by: >)
        var o = CannedOptions()
        o.limit = 5
        o.human = false
        let table = try CannedReport.top.run(t, o)
        let column = try #require(table.columns.firstIndex(of: "latency_ns"))
        let got = table.rows.map { row -> UInt64 in
            if case .integer(let v) = row[column] { return UInt64(v) }
            return 0
        }
        #expect(got == Array(slowest.prefix(5)))
    }

    @Test func inflightErrorsAndLeaks() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, .writeBandwidth, iterations: 1000, variation: SyntheticVariation(timingSeed: 4, failRdmaWriteAt: 10))
        var o = CannedOptions()
        o.human = false
        o.bins = 10
        let inflight = try CannedReport.inflight.run(t, o)
        #expect(inflight.rows.count == 10)
        let last = inflight.rows.last!
        #expect(last[3] == .integer(15))  // the window still open at the end
        let started = inflight.rows.reduce(Int64(0)) { if case .integer(let v) = $1[1] { return $0 + v }; return $0 }
        #expect(started == 999)  // every write but the failed one went pending
        let errors = try CannedReport.errors.run(t, o)
        #expect(errors.rows.count == 1)
        #expect(errors.rows[0][0] == .text("WSPRdmaWrite") && errors.rows[0][2] == .text("WSAECONNRESET") && errors.rows[0][3] == .integer(1))
        let leaks = try CannedReport.leaks.run(t, o)
        // write_bw registers memory and an RDMA region and never releases them nor closes its socket.
        #expect(leaks.rows.map { if case .text(let s) = $0[0] { return s }; return "" }.sorted()
                == ["memory registration", "rdma registration", "socket never closed"])
    }
}

@Suite struct ExportTests {
    static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func chromeTraceHasSlicesAndFlows() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace"), out = dir.file("t.json")
        try Traces.synthetic(t, iterations: 300)
        try Exporter.export([t], format: .chrome, to: OutputFile(path: out))
        let root = try #require(try Self.json(out) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let source = try TraceReader(path: t).events()
        let slices = events.filter { $0["ph"] as? String == "X" && $0["cat"] as? String == "call" }
        #expect(slices.count == source.filter { $0.kind == .leave }.count)
        let completions = events.filter { $0["cat"] as? String == "completion" }
        #expect(completions.count == source.filter { $0.kind == .completion }.count)
        let starts = Set(events.filter { $0["ph"] as? String == "s" }.compactMap { $0["id"] as? Int })
        let ends = events.filter { $0["ph"] as? String == "f" }.compactMap { $0["id"] as? Int }
        #expect(ends.count == completions.count)
        #expect(ends.allSatisfy { starts.contains($0) })
        for e in events where e["ph"] as? String != "M" {
            #expect(e["ts"] is Double || e["ts"] is Int)
            #expect(e["pid"] != nil && e["tid"] != nil)
        }
        // Slices on one thread nest (what the viewers require).
        var byThread: [Int: [(Double, Double)]] = [:]
        for s in slices {
            let ts = (s["ts"] as! NSNumber).doubleValue, dur = (s["dur"] as! NSNumber).doubleValue
            byThread[s["tid"] as! Int, default: []].append((ts, ts + dur))
        }
        for (_, list) in byThread {
            let sorted = list.sorted { $0.0 < $1.0 }
            for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(b.0 >= a.1 - 1e-9 || b.1 <= a.1 + 1e-9) }
        }
    }

    @Test func jsonLinesAndCSVHaveOneRecordPerEvent() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, iterations: 200)
        let n = Int(try TraceReader(path: t).eventCount)
        try Exporter.export([t], format: .jsonl, to: OutputFile(path: dir.file("t.jsonl")))
        let lines = try String(contentsOfFile: dir.file("t.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == n)
        for l in lines.prefix(500) {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
            #expect(Set(o.keys) == Set(Exporter.eventColumns))
        }
        try Exporter.export([t], format: .csv, to: OutputFile(path: dir.file("t.csv")))
        let rows = try String(contentsOfFile: dir.file("t.csv"), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(rows[0] == Substring(Exporter.eventColumns.joined(separator: ",")))
        #expect(rows.filter { !$0.isEmpty }.count == n + 1)
        #expect(rows.filter { !$0.isEmpty }.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == Exporter.eventColumns.count })
    }
}

@Suite struct HTMLReportTests {
    @Test func selfContainedWithRegressionsHighlighted() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace")
        try Traces.synthetic(a, .writeBandwidth, iterations: 2000, variation: SyntheticVariation(timingSeed: 1))
        try Traces.synthetic(b, .writeBandwidth, iterations: 2000, variation: SyntheticVariation(timingSeed: 2, slowdown: [.WSPRdmaWrite: 1.5]))
        let page = HTMLReport.render(try RunData.gather(a, label: "A"), try RunData.gather(b, label: "B"),
                                     diff: try TraceDiff.run(a: a, b: b))
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(!page.contains("<script") && !page.contains("src=") && !page.contains("href=") && !page.contains("@import"))
        // The only URL is the SVG namespace (an identifier, never fetched).
        #expect(page.components(separatedBy: "http").count - 1 == page.components(separatedBy: "http://www.w3.org/2000/svg").count - 1)
        #expect(page.components(separatedBy: "<svg").count - 1 >= 5)  // CDFs of 3 functions, throughput, calls, outstanding
        let regressed = try #require(page.components(separatedBy: "<tr class=\"reg\">").dropFirst().first)
        #expect(regressed.hasPrefix("<td class=\"l\">WSPRdmaWrite</td>"))
        #expect(page.contains("regression"))
        let single = HTMLReport.render(try RunData.gather(a, label: "A"), nil, diff: nil)
        #expect(!single.contains("id=\"diff\"") && single.contains("id=\"latency\"") && single.contains("id=\"time\""))
    }
}
