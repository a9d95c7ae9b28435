import SanTraceFormat

/// Pairs events with the event that started them: a LEAVE with its thread's open ENTER of the
/// same function (calls nest when an upcall re-enters), a COMPLETION with the ENTER its `start`
/// field names. Used by the event index, stats and dump. Flat per-thread stacks and an
/// open-addressing table: no allocation per event in the steady state. Public for the analysis
/// modules (SanDiff, SanReport).
public struct CallPairing {
    public struct Start: Sendable {
        public var sequence: UInt64
        public var threadSeq: UInt64
        public var tsc: UInt64
    }

    public init() {}

    struct Open {
        var function: FunctionID
        var start: Start
    }

    /// Open calls per thread capture id (index = thread).
    private var stacks: [[Open]] = []
    /// ENTERs of operation-starting calls, by (thread, thread sequence), until their completion.
    private var operations = OpenTable(empty: Start(sequence: 0, threadSeq: 0, tsc: 0), capacity: 512)
    /// Bound on remembered operations (a trace whose completions never come cannot grow it forever).
    static let maxOperations = 1 << 20
    private let roles = ShapeRoles.shared
    /// When set, LEAVEs and COMPLETIONs that found no start are kept in `unpaired` (a stats worker
    /// that starts mid-trace pairs them with the previous worker's open calls afterwards).
    var keepUnpaired = false
    private(set) var unpaired: [Unpaired] = []

    struct Unpaired {
        var kind: EventKind
        var thread: UInt32
        var function: FunctionID
        /// Key of the starting ENTER for a COMPLETION.
        var key: UInt64
        var tsc: UInt64
        var failed: Bool
    }

    static func key(_ thread: UInt32, _ seq: UInt64) -> UInt64 { UInt64(thread) << 44 | (seq & ((1 << 44) - 1)) }

    /// Feeds one event; returns the start it pairs with (for a LEAVE or COMPLETION).
    public mutating func observe(_ r: EventRecord) -> Start? {
        switch r.kind {
        case .enter:
            let s = Start(sequence: r.sequence, threadSeq: r.threadSeq, tsc: r.tsc)
            let t = Int(r.thread)
            if t >= self.stacks.count { self.stacks.append(contentsOf: repeatElement([], count: t + 1 - self.stacks.count)) }
            if self.stacks[t].count < 64 { self.stacks[t].append(Open(function: r.function, start: s)) }
            if self.roles.roles(r).startsOperation, self.operations.count < Self.maxOperations {
                self.operations.insert(Self.key(r.thread, r.threadSeq), s)
            }
            return nil
        case .leave:
            let t = Int(r.thread)
            guard t < self.stacks.count, let i = self.stacks[t].lastIndex(where: { $0.function == r.function }) else {
                if self.keepUnpaired {
                    let roles = self.roles.roles(r)
                    let failed = roles.startsOperation && roles.error >= 0 && isFailure(r.signed(Int(roles.error)))
                    self.unpaired.append(Unpaired(kind: .leave, thread: r.thread, function: r.function, key: 0, tsc: r.tsc,
                                                  failed: failed))
                }
                return nil
            }
            let start = self.stacks[t][i].start
            self.stacks[t].removeSubrange(i...)
            let roles = self.roles.roles(r)
            // A call that failed outright starts nothing: no completion will come.
            if roles.startsOperation, roles.error >= 0, isFailure(r.signed(Int(roles.error))) {
                _ = self.operations.remove(Self.key(r.thread, start.threadSeq))
            }
            return start
        case .completion:
            let roles = self.roles.roles(r)
            guard roles.start >= 0, let ref = r.callRef(Int(roles.start)), ref.thread != 0 else { return nil }
            let key = Self.key(ref.thread, ref.sequence)
            if let s = self.operations.remove(key) { return s }
            if self.keepUnpaired {
                self.unpaired.append(Unpaired(kind: .completion, thread: r.thread, function: r.subjectFunction(roles), key: key,
                                              tsc: r.tsc, failed: false))
            }
            return nil
        case .upcall, .lookup:
            return nil
        }
    }
}

extension CallPairing {
    /// Pairs an event the next worker could not pair with this (earlier) worker's open calls.
    mutating func pair(_ u: Unpaired) -> Start? {
        switch u.kind {
        case .leave:
            let t = Int(u.thread)
            guard t < self.stacks.count, let i = self.stacks[t].lastIndex(where: { $0.function == u.function }) else {
                return nil
            }
            let start = self.stacks[t][i].start
            self.stacks[t].removeSubrange(i...)
            if u.failed { _ = self.operations.remove(Self.key(u.thread, start.threadSeq)) }
            return start
        case .completion:
            return self.operations.remove(u.key)
        default:
            return nil
        }
    }
}
