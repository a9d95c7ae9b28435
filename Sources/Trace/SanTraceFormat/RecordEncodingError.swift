/// A writer was handed an event that does not fit the schema. These are bugs in the caller (the
/// interposer's drain thread, a generator): the event is not written, the segment stays valid.
public enum RecordEncodingError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No such (kind, function) shape in the schema (an UPCALL of a proc function, an unknown id).
    case unknownShape(kind: EventKind, function: FunctionID)
    /// Thread capture ids are 1 … TraceFormat.maxThreadID.
    case invalidThread(UInt32)
    /// Field `position` was written as `got` where the schema says `expected` (nil: past the end,
    /// or fields missing at the end when `got` is nil).
    case fieldMismatch(function: FunctionID, kind: EventKind, position: Int, expected: FieldType?, got: FieldType?)
    /// A list field's entries did not match its announced count, or a length exceeded its limit.
    case badList(function: FunctionID, kind: EventKind, position: Int, reason: String)

    public var description: String {
        switch self {
        case .unknownShape(let k, let f): return "no \(k) record for function \(f.rawValue) (\(f.name)) in the schema"
        case .invalidThread(let t): return "thread capture id \(t) outside 1…\(TraceFormat.maxThreadID)"
        case .fieldMismatch(let f, let k, let p, let e, let g):
            return "\(f.name) \(k) field \(p): expected \(e.map { "\($0)" } ?? "no more fields"), got \(g.map { "\($0)" } ?? "nothing")"
        case .badList(let f, let k, let p, let r): return "\(f.name) \(k) field \(p): \(r)"
        }
    }
}
