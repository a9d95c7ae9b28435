import JSONText
import SanCore
import SanDiff
import SanTraceFormat
import SanTraceStore

/// Export formats (`sanreplay export`; columns and keys documented in Docs/Analysis.md and kept
/// stable).
public enum ExportFormat: String, CaseIterable, Sendable {
    /// Chrome trace-event JSON: opens in ui.perfetto.dev and chrome://tracing.
    case chrome
    /// One JSON object per event.
    case jsonl
    /// One CSV row per event, with a header.
    case csv
}

/// Writes traces in other tools' formats, one pass per trace, streaming.
public enum Exporter {
    /// The columns of `csv` and the keys of `jsonl`, in order.
    public static let eventColumns: [String] = columnKeys.map { "\($0)" }
    static let columnKeys: [StaticString] = ["pid", "seq", "t_ns", "kind", "function", "thread", "thread_seq", "socket", "ov", "ret",
                                      "status", "error", "bytes", "start_seq", "latency_ns"]

    /// Exports every trace of `paths` (a trace set) into `out`; returns the events read.
    @discardableResult
    public static func export(_ paths: [String], format: ExportFormat, to out: OutputFile,
                              progress: ((UInt64) -> Void)? = nil) throws -> UInt64 {
        var total: UInt64 = 0
        switch format {
        case .chrome:
            out.write("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")
            var first = true
            var pids = Set<Int64>()
            // The processes of a set share one time line: their wall clocks.
            let starts = try paths.map { try ChromeTrace.wallClockStart(TraceReader(path: $0)) }
            let origin = starts.min() ?? 0
            for (p, start) in zip(paths, starts) {
                total += try ChromeTrace.write(p, offsetNs: start - origin, to: out, first: &first, pids: &pids, progress: progress)
            }
            out.write("\n],\"otherData\":{\"generator\":\"sanreplay export\",\"traces\":"
                      + jsonArray(paths.map(jsonString)) + "}}\n")
        case .csv:
            out.line(self.eventColumns.joined(separator: ","))
            for p in paths { total += try self.rows(p, csv: true, to: out, progress: progress) }
        case .jsonl:
            for p in paths { total += try self.rows(p, csv: false, to: out, progress: progress) }
        }
        try out.close()
        return total
    }

    /// One row per event: the columns of the `events` table (Docs/TraceFormat.md §8) plus the
    /// trace's pid, the kind and function by name, and the error by name. Written straight into
    /// the output buffer (millions of rows).
    static func rows(_ path: String, csv: Bool, to out: OutputFile, progress: ((UInt64) -> Void)?) throws -> UInt64 {
        let reader = try TraceReader(path: path)
        let pid = reader.meta["pid"].flatMap { Int64($0) } ?? 0
        let roles = ShapeRoles.shared
        var pairing = CallPairing()
        let first = reader.firstTSC
        let names = Self.functionNames()
        var errorNames: [Int64: String] = [:]
        var n: UInt64 = 0
        try reader.forEach { r in
            let ro = roles.roles(r)
            let start = pairing.observe(r)
            let fn = r.subjectFunction(ro)
            var key = 0
            // Opens field `key` (JSON: `"key":`; CSV: a comma before all but the first).
            func field() {
                if csv {
                    if key > 0 { out.byte(44) }
                } else {
                    out.write(key == 0 ? "{\"" : ",\"")
                    out.write(Self.columnKeys[key])
                    out.write("\":")
                }
                key += 1
            }
            func null() { if !csv { out.write("null") } }
            func text(_ s: String) {
                if csv { out.write(s) } else { out.write(jsonString(s)) }
            }
            field(); out.write(pid)
            field(); out.write(r.sequence)
            field(); out.write(reader.clock.nanoseconds(from: first, to: r.tsc))
            field(); text(r.kind.description)
            field(); if fn == .none { null() } else { text(fn.rawValue < 128 ? names[Int(fn.rawValue)] : fn.name) }
            field(); out.write(UInt64(r.thread))
            field(); out.write(r.threadSeq)
            field(); if ro.socket >= 0 { out.write(r.value(Int(ro.socket))) } else { null() }
            field(); if ro.overlapped >= 0 { out.write(r.value(Int(ro.overlapped))) } else { null() }
            field()
            if ro.ret >= 0, let t = r.type(Int(ro.ret)) {
                out.write(t == .i32 || t == .wsaError ? r.signed(Int(ro.ret)) : Int64(bitPattern: r.value(Int(ro.ret))))
            } else {
                null()
            }
            let e = ro.error >= 0 ? r.signed(Int(ro.error)) : 0
            field(); if ro.error >= 0 { out.write(e) } else { null() }
            field()
            if e == 0 {
                null()
            } else {
                if errorNames[e] == nil { errorNames[e] = WSAError(Int32(truncatingIfNeeded: e)).name }
                text(errorNames[e]!)
            }
            field()
            if ro.bytes >= 0 {
                out.write(r.value(Int(ro.bytes)))
            } else if ro.buffers >= 0, let b = r.bufferTotals(Int(ro.buffers)) {
                out.write(b.bytes)
            } else {
                null()
            }
            field(); if let s = start { out.write(s.sequence) } else { null() }
            field(); if let s = start { out.write(reader.clock.nanoseconds(from: s.tsc, to: r.tsc)) } else { null() }
            if !csv { out.byte(125) }  // "}"
            out.newline()
            n += 1
            if n & 0xFFFF == 0 { progress?(0x10000) }
        }
        progress?(n & 0xFFFF)
        return n
    }

    /// Function names by id (looked up once, not per event).
    static func functionNames() -> [String] { (0..<128).map { FunctionID(UInt16($0)).name } }
}
