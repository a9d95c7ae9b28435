import SanTraceFormat

/// Anything events can be appended to with the allocation-free field-writer API: a
/// ``TraceWriter`` (a real trace) or a ``SegmentBuilder`` (encoding only, for benchmarks).
public protocol EventSink: AnyObject {
    func append(_ kind: EventKind, _ function: FunctionID, thread: UInt32, threadSeq: UInt64, tsc: UInt64,
                fields: (inout EventFieldWriter) throws -> Void) throws
}

extension TraceWriter: EventSink {}
extension SegmentBuilder: EventSink {}
