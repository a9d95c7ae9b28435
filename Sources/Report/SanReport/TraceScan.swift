import SanDiff
import SanTraceFormat
import SanTraceStore

/// A report's per-event state that two halves of a trace can each build and then combine.
protocol MergeableSink: CallSink {
    mutating func merge(_ later: Self)
}

/// One pass over a trace feeding a ``CallSink`` through a ``CallTracker``. Large traces are read
/// as two halves on two threads (one per core here); the calls that straddle the split are paired
/// afterwards, so the result equals a single pass.
enum TraceScan {
    /// Events from which the trace is read by two workers.
    static let parallelFrom: UInt64 = 1_000_000

    static func run<S: MergeableSink>(_ path: String, filter: TraceFilter = TraceFilter(), parallelFrom: UInt64 = parallelFrom,
                                      progress: ((UInt64) -> Void)? = nil, makeSink: () -> S) throws -> S {
        let reader = try TraceReader(path: path)
        let segments = try reader.candidateSegments(filter)
        let total = segments.reduce(UInt64(0)) { $0 + $1.events }
        var parts: [TraceFilter] = [filter]
        if total >= parallelFrom && segments.count >= 4 {
            var acc: UInt64 = 0
            for s in segments {
                acc += s.events
                if acc >= total / 2 {
                    var first = filter, second = filter
                    first.toSequence = min(filter.toSequence ?? .max, s.lastSeq)
                    second.fromSequence = max(filter.fromSequence ?? 0, s.lastSeq + 1)
                    parts = [first, second]
                    break
                }
            }
        }
        let sinks = (0..<parts.count).map { _ in makeSink() }
        let results = try parallelMap(parts.count) { i -> (S, CallTracker) in
            let r = i == 0 ? reader : try TraceReader(path: path)
            var sink = sinks[i]
            var tracker = CallTracker()
            tracker.keepUnpaired = i > 0
            let cursor = try r.cursor(parts[i])
            var e = EventRecord()
            var n: UInt64 = 0
            while try cursor.next(into: &e) {
                tracker.observe(&e, into: &sink)
                n &+= 1
                if n & 0xFFFF == 0 { progress?(0x10000) }
            }
            progress?(n & 0xFFFF)
            return (sink, tracker)
        }
        var (sink, tracker) = results[0]
        if results.count > 1 {
            var later = results[1].0
            tracker.resolve(results[1].1.unpaired, into: &later)
            sink.merge(later)
        }
        return sink
    }
}
