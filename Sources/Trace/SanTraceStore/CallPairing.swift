import SanTraceFormat

/// Pairs events with the event that started them: a LEAVE with its thread's open ENTER of the
/// same function (calls nest when an upcall re-enters), a COMPLETION with the ENTER its `start`
/// field names. Used by the event index and by stats.
struct CallPairing {
    struct Start {
        var sequence: UInt64
        var threadSeq: UInt64
        var tsc: UInt64
    }

    private var open: [UInt32: [(function: FunctionID, start: Start)]] = [:]
    /// ENTERs of operation-starting calls, by (thread, thread sequence), until their completion.
    private var operations: [UInt64: Start] = [:]
    /// Bound on remembered operations (a trace whose completions never come cannot grow it forever).
    static let maxOperations = 1 << 20
    private let roles = ShapeRoles.shared

    static func key(_ thread: UInt32, _ seq: UInt64) -> UInt64 { UInt64(thread) << 44 | (seq & ((1 << 44) - 1)) }

    /// Feeds one event; returns the start it pairs with (for a LEAVE or COMPLETION).
    mutating func observe(_ r: EventRecord) -> Start? {
        switch r.kind {
        case .enter:
            let s = Start(sequence: r.sequence, threadSeq: r.threadSeq, tsc: r.tsc)
            self.open[r.thread, default: []].append((r.function, s))
            if self.roles.roles(r).startsOperation, self.operations.count < Self.maxOperations {
                self.operations[Self.key(r.thread, r.threadSeq)] = s
            }
            return nil
        case .leave:
            guard var stack = self.open[r.thread], let i = stack.lastIndex(where: { $0.function == r.function }) else {
                return nil
            }
            let start = stack[i].start
            stack.removeSubrange(i...)
            self.open[r.thread] = stack
            let roles = self.roles.roles(r)
            // A call that failed outright starts nothing: no completion will come.
            if roles.startsOperation, roles.error >= 0, isFailure(r.signed(Int(roles.error))) {
                self.operations[Self.key(r.thread, start.threadSeq)] = nil
            }
            return start
        case .completion:
            let roles = self.roles.roles(r)
            guard roles.start >= 0, let ref = r.callRef(Int(roles.start)), ref.thread != 0 else { return nil }
            return self.operations.removeValue(forKey: Self.key(ref.thread, ref.sequence))
        case .upcall, .lookup:
            return nil
        }
    }
}
