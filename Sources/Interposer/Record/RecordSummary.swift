import SanTraceFormat
import SanTraceStore

#if canImport(Glibc)
import Glibc
#endif

/// What a recording produced: the traces of the run (found by the run label the interposer
/// stores in each, so a folder shared with other runs is fine) and their statistics.
public struct RecordSummary: Sendable {
    public struct Process: Sendable {
        public var path: String
        public var program: String
        public var pid: Int32
        public var events: UInt64
        public var closed: Bool
    }

    public var directory: String
    public var processes: [Process] = []
    /// Traces of the run that could not be read, with the reason.
    public var unreadable: [(path: String, reason: String)] = []
    public var stats = TraceStats()

    /// Reads every `*.santrace` in `directory` whose `option.run_id` is `runID`; a file that
    /// cannot be read is reported when it changed at or after `since` (seconds since the epoch).
    public static func collect(directory: String, runID: String, since: Int = 0) -> RecordSummary {
        var s = RecordSummary(directory: directory)
        guard let paths = try? TraceSet.paths(directory) else { return s }
        for path in paths {
            do {
                let reader = try TraceReader(path: path)
                guard reader.meta["option.run_id"] == runID else { continue }
                let stats = try TraceStats.compute(reader)
                s.stats.merge(stats)
                s.processes.append(Process(path: path, program: reader.meta["option.program"] ?? "?",
                                           pid: Int32(reader.meta["pid"] ?? "") ?? 0, events: stats.events,
                                           closed: reader.isClosed))
            } catch {
                // Its run label is unknown: report it when it was written during this run.
                var st = stat()
                if stat(path, &st) == 0, st.st_mtim.tv_sec >= since { s.unreadable.append((path, "\(error)")) }
            }
        }
        return s
    }

    /// One paragraph: processes, events, span, calls per function, errors, stalls and drops.
    public var paragraph: String {
        guard !self.processes.isEmpty else {
            return "no trace was written into \(self.directory): the command made no SAN call through the switch"
                + " (a program linked directly with a provider needs --preload)"
        }
        let n = self.processes.count
        var out = "\(n) process\(n == 1 ? "" : "es") recorded into \(self.directory): "
        out += self.processes.map { p in
            "\(p.program) (pid \(p.pid), \(formatCount(p.events)) events\(p.closed ? "" : ", not closed cleanly"))"
        }.joined(separator: ", ")
        out += ". \(formatCount(self.stats.events)) events over \(formatSeconds(self.stats.spanSeconds)); calls: "
        let calls = self.stats.functions.values.filter { $0.calls > 0 }
            .sorted { ($0.calls, $1.function.name) > ($1.calls, $0.function.name) }
        out += calls.isEmpty ? "none" : calls.map { "\($0.function.name) \(formatCount($0.calls))" }.joined(separator: ", ")
        let errors = self.stats.functions.values.reduce(UInt64(0)) { $0 + $1.errors }
        out += "; \(formatCount(errors)) error\(errors == 1 ? "" : "s"); \(formatCount(self.stats.stalls)) stalls, "
            + "\(formatCount(self.stats.drops)) drops."
        return out
    }
}
