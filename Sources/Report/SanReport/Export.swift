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
    public static let eventColumns = ["pid", "seq", "t_ns", "kind", "function", "thread", "thread_seq", "socket", "ov", "ret",
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
            for p in paths { total += try ChromeTrace.write(p, to: out, first: &first, pids: &pids, progress: progress) }
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
    /// trace's pid, the kind and function by name, and the error by name.
    static func rows(_ path: String, csv: Bool, to out: OutputFile, progress: ((UInt64) -> Void)?) throws -> UInt64 {
        let reader = try TraceReader(path: path)
        let pid = reader.meta["pid"] ?? "0"
        let roles = ShapeRoles.shared
        var pairing = CallPairing()
        let first = reader.firstTSC
        var n: UInt64 = 0
        try reader.forEach { r in
            let ro = roles.roles(r)
            let start = pairing.observe(r)
            let fn = r.subjectFunction(ro)
            var ret = "", status = "", error = "", bytes = "", socket = "", ov = ""
            if ro.ret >= 0, let t = r.type(Int(ro.ret)) {
                ret = String(t == .i32 || t == .wsaError ? r.signed(Int(ro.ret)) : Int64(bitPattern: r.value(Int(ro.ret))))
            }
            if ro.error >= 0 {
                let e = r.signed(Int(ro.error))
                status = String(e)
                error = e == 0 ? "" : WSAError(Int32(truncatingIfNeeded: e)).name
            }
            if ro.bytes >= 0 {
                bytes = String(r.value(Int(ro.bytes)))
            } else if ro.buffers >= 0, let b = r.bufferTotals(Int(ro.buffers)) {
                bytes = String(b.bytes)
            }
            if ro.socket >= 0 { socket = String(r.value(Int(ro.socket))) }
            if ro.overlapped >= 0 { ov = String(r.value(Int(ro.overlapped))) }
            let values: [(String, String, Bool)] = [  // (key, value, quoted in JSON)
                ("pid", pid, false), ("seq", String(r.sequence), false),
                ("t_ns", String(reader.clock.nanoseconds(from: first, to: r.tsc)), false),
                ("kind", r.kind.description, true), ("function", fn == .none ? "" : fn.name, true),
                ("thread", String(r.thread), false), ("thread_seq", String(r.threadSeq), false), ("socket", socket, false),
                ("ov", ov, false), ("ret", ret, false), ("status", status, false), ("error", error, true), ("bytes", bytes, false),
                ("start_seq", start.map { String($0.sequence) } ?? "", false),
                ("latency_ns", start.map { String(reader.clock.nanoseconds(from: $0.tsc, to: r.tsc)) } ?? "", false),
            ]
            if csv {
                out.line(values.map(\.1).joined(separator: ","))
            } else {
                var o = "{"
                var firstKey = true
                for (k, v, q) in values {
                    if !firstKey { o += "," }
                    firstKey = false
                    o += "\"" + k + "\":" + (v.isEmpty ? "null" : (q ? jsonString(v) : v))
                }
                out.line(o + "}")
            }
            n += 1
            if n & 0xFFFF == 0 { progress?(0x10000) }
        }
        progress?(n & 0xFFFF)
        return n
    }
}
