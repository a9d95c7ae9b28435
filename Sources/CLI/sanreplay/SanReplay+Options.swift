import ArgumentParser
import SanTraceFormat
import SanTraceStore

/// One trace file to read.
struct TraceInputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The trace (.santrace file).", valueName: "TRACE"))
    var trace: String
}

/// A trace or a trace set.
struct TraceSetInputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("A trace, or a folder of traces (every *.santrace in it).", valueName: "TRACE|DIR"))
    var trace: String
}

/// Output format.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Machine-readable output: JSON (JSON Lines for event streams).")
    var json = false
}

/// Event filters shared by commands that read events (pushed down to the segment index).
struct EventFilterOptions: ParsableArguments {
    @Option(name: .customLong("fn"), help: ArgumentHelp("Only this function (name like WSPRdmaWrite or RdmaWrite, or id); repeatable.", valueName: "F"))
    var functions: [String] = []

    @Option(name: .long, help: ArgumentHelp("Only events on this socket (capture id); repeatable.", valueName: "S"))
    var socket: [UInt64] = []

    @Option(name: .long, help: ArgumentHelp("Only this thread (capture id); repeatable.", valueName: "T"))
    var thread: [UInt32] = []

    @Option(name: .long, help: ArgumentHelp("Start of the time window since the first event (1.5, 1.5s, 200ms, 30us).", valueName: "TIME"))
    var from: String?

    @Option(name: .long, help: ArgumentHelp("End of the time window (inclusive).", valueName: "TIME"))
    var to: String?

    @Flag(name: .long, help: "Only calls and completions that report a failure.")
    var errors = false

    func validate() throws {
        for f in self.functions where FunctionID(name: f) == nil {
            throw ValidationError("unknown function '\(f)'")
        }
        for t in [self.from, self.to].compactMap({ $0 }) where parseSeconds(t) == nil {
            throw ValidationError("cannot read the time '\(t)' (examples: 1.5, 1.5s, 200ms, 30us)")
        }
    }

    /// The filter for `reader`'s clock.
    func filter(for reader: TraceReader) -> TraceFilter {
        var f = TraceFilter()
        if !self.functions.isEmpty { f.functions = Set(self.functions.compactMap { FunctionID(name: $0) }) }
        if !self.socket.isEmpty { f.sockets = Set(self.socket) }
        if !self.thread.isEmpty { f.threads = Set(self.thread) }
        let first = reader.firstTSC
        if let s = self.from.flatMap(parseSeconds) {
            f.fromTSC = first &+ UInt64(max(0, reader.clock.ticks(nanoseconds: saturatingInt64(s * 1e9))))
        }
        if let s = self.to.flatMap(parseSeconds) {
            f.toTSC = first &+ UInt64(max(0, reader.clock.ticks(nanoseconds: saturatingInt64(s * 1e9))))
        }
        f.errorsOnly = self.errors
        return f
    }
}

/// Seconds from `1.5`, `1.5s`, `200ms`, `30us`, `100ns`.
func parseSeconds(_ text: String) -> Double? {
    let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1)]
    var value: Double?
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        value = Double(text.dropLast(suffix.count)).map { $0 * scale }
        break
    }
    if value == nil { value = Double(text) }
    guard let v = value, v.isFinite, v >= 0 else { return nil }
    return v
}
