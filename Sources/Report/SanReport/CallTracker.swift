import SanDiff
import SanTraceFormat
import SanTraceStore

/// A call or operation that finished, as the reports see it. Latency is enter → leave for a call
/// that did not go pending, start → completion for an operation that did (as `stats` and `diff`
/// pair them).
public struct FinishedCall: Sendable {
    public var function: FunctionID
    /// Bytes the call asked for (buffer lengths summed, or its `length` field) and their class.
    public var bytes: UInt64
    public var sizeClass: Int
    public var startTSC: UInt64
    public var endTSC: UInt64
    /// Global sequence of the ENTER and of the LEAVE or COMPLETION that finished it.
    public var startSeq: UInt64
    public var endSeq: UInt64
    public var thread: UInt32
    /// Socket capture id (0 when none).
    public var socket: UInt64
    /// The LEAVE's error or the completion's status.
    public var status: Int64
    /// True for start → completion.
    public var operation: Bool
    /// The thread's previous call and how long before this one started (ns), when known.
    public var previous: FunctionID
    public var previousGapTicks: UInt64
    /// Operations in flight on the same socket when this call started (itself not counted).
    public var inflightOnSocket: UInt32
}

/// What a report does with the tracker's output.
protocol CallSink {
    /// Whether finished calls need `previous`, `previousGapTicks` and `inflightOnSocket` (work
    /// per call that only `top` uses).
    static var wantsContext: Bool { get }
    mutating func finished(_ c: FinishedCall)
    /// An operation went pending (its LEAVE said WSA_IO_PENDING) or completed.
    mutating func operationStarted(tsc: UInt64, function: FunctionID)
    mutating func operationCompleted(tsc: UInt64, function: FunctionID)
    /// Every event the tracker reads (first and last time, counts).
    mutating func event(_ r: borrowing EventRecord, _ roles: ShapeRoles.Roles)
}

extension CallSink {
    static var wantsContext: Bool { false }
    mutating func operationStarted(tsc: UInt64, function: FunctionID) {}
    mutating func operationCompleted(tsc: UInt64, function: FunctionID) {}
    mutating func event(_ r: borrowing EventRecord, _ roles: ShapeRoles.Roles) {}
}

/// Pairs ENTERs with LEAVEs (per thread, calls nest) and operations with their completions (by
/// the completion's `start` reference), and hands each finished call to a ``CallSink`` once.
///
/// Read in two halves on two threads, the second half's tracker keeps what it could not pair
/// (`keepUnpaired`); ``resolve(_:into:)`` pairs it afterwards with the first half's open calls,
/// so the result equals a single pass.
struct CallTracker {
    struct Open {
        var function: FunctionID
        var seq: UInt64
        var threadSeq: UInt64
        var tsc: UInt64
        var bytes: UInt64
        var socket: UInt64
        var previous: FunctionID
        var gap: UInt64
        var inflight: UInt32
        /// The LEAVE was seen, and said WSA_IO_PENDING.
        var left = false
        var leftPending = false
    }

    struct Unpaired {
        var kind: EventKind
        var thread: UInt32
        var function: FunctionID
        var key: UInt64
        var tsc: UInt64
        var seq: UInt64
        var status: Int64
        var socket: UInt64
    }

    private var stacks: [[Open]] = []
    private var operations = OpenTable(empty: Open(function: .none, seq: 0, threadSeq: 0, tsc: 0, bytes: 0, socket: 0,
                                                   previous: .none, gap: 0, inflight: 0))
    /// Operations whose completion came before their call returned (an upcall racing the LEAVE).
    private var completedEarly: Set<UInt64> = []
    private var lastCall: [(FunctionID, UInt64)] = []
    private var inflight: [UInt32] = []
    private let roles = ShapeRoles.shared
    var keepUnpaired = false
    private(set) var unpaired: [Unpaired] = []

    static let lengthField: [Int8] = {
        var t = [Int8](repeating: -1, count: 128)
        for f in Schema.functions where f.id < 128 {
            if let i = f.enter.firstIndex(where: { $0.name == "length" && $0.type == .u32 }) { t[Int(f.id)] = Int8(i) }
        }
        return t
    }()

    @inline(__always)
    static func key(_ thread: UInt32, _ seq: UInt64) -> UInt64 { UInt64(thread) << 44 | (seq & ((1 << 44) - 1)) }

    /// `r` is `inout` only to be passed by address: a borrowed `var` is copied (192 bytes) per call.
    mutating func observe<S: CallSink>(_ r: inout EventRecord, into sink: inout S) {
        let ro = self.roles.roles(r)
        sink.event(r, ro)
        switch r.kind {
        case .enter: self.enter(r, ro, context: S.wantsContext)
        case .leave: self.leave(r, ro, into: &sink)
        case .completion: self.completion(r, ro, into: &sink)
        case .upcall, .lookup: break
        }
    }

    @inline(__always)
    private mutating func enter(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles, context: Bool) {
        let t = Int(r.thread)
        if t >= self.stacks.count {
            self.stacks.append(contentsOf: repeatElement([], count: t + 1 - self.stacks.count))
            self.lastCall.append(contentsOf: repeatElement((.none, 0), count: t + 1 - self.lastCall.count))
        }
        var bytes: UInt64 = 0
        if ro.buffers >= 0, let b = r.bufferTotals(Int(ro.buffers)) {
            bytes = b.bytes
        } else if r.function.rawValue < 128, Self.lengthField[Int(r.function.rawValue)] >= 0 {
            bytes = r.value(Int(Self.lengthField[Int(r.function.rawValue)]))
        }
        let socket = ro.socket >= 0 ? r.value(Int(ro.socket)) : 0
        var open = Open(function: r.function, seq: r.sequence, threadSeq: r.threadSeq, tsc: r.tsc, bytes: bytes, socket: socket,
                        previous: .none, gap: 0, inflight: 0)
        if context {
            let (prev, prevTSC) = self.lastCall[t]
            open.previous = prev
            let tsc = r.tsc
            open.gap = prev == .none || tsc < prevTSC ? 0 : tsc - prevTSC
            open.inflight = socket < UInt64(self.inflight.count) ? self.inflight[Int(socket)] : 0
            self.lastCall[t] = (r.function, r.tsc)
        }
        if self.stacks[t].count < 64 { self.stacks[t].append(open) }
        if ro.startsOperation, self.operations.count < 1 << 20 {
            self.operations.insert(Self.key(r.thread, r.threadSeq), open)
        }
    }

    private mutating func leave<S: CallSink>(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles, into sink: inout S) {
        let t = Int(r.thread)
        let status = ro.error >= 0 ? r.signed(Int(ro.error)) : 0
        let fn = r.function
        guard t < self.stacks.count, let i = self.stacks[t].lastIndex(where: { $0.function == fn }) else {
            if self.keepUnpaired {
                self.unpaired.append(Unpaired(kind: .leave, thread: r.thread, function: r.function, key: 0, tsc: r.tsc,
                                              seq: r.sequence, status: status, socket: 0))
            }
            return
        }
        let open = self.stacks[t][i]
        self.stacks[t].removeSubrange(i...)
        self.finishLeave(open, thread: r.thread, tsc: r.tsc, seq: r.sequence, status: status,
                         startsOperation: ro.startsOperation, into: &sink)
    }

    private mutating func finishLeave<S: CallSink>(_ open: Open, thread: UInt32, tsc: UInt64, seq: UInt64, status: Int64,
                                                   startsOperation: Bool, into sink: inout S) {
        let key = Self.key(thread, open.threadSeq)
        if startsOperation, !self.completedEarly.isEmpty, self.completedEarly.remove(key) != nil { return }
        if startsOperation && status == 997 {
            if var op = self.operations.remove(key) {
                op.left = true
                op.leftPending = true
                self.operations.insert(key, op)
                self.bumpInflight(op.socket, +1)
            }
            sink.operationStarted(tsc: tsc, function: open.function)
            return
        }
        if startsOperation, var op = self.operations.remove(key), !isFailure(status) {
            op.left = true  // an immediate success: a completion may still be reported, and is ignored
            self.operations.insert(key, op)
        }
        sink.finished(Self.finished(open, thread: thread, endTSC: tsc, endSeq: seq, status: status, operation: false))
    }

    private mutating func completion<S: CallSink>(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles, into sink: inout S) {
        guard ro.start >= 0, let ref = r.callRef(Int(ro.start)), ref.thread != 0 else { return }
        let key = Self.key(ref.thread, ref.sequence)
        let status = ro.error >= 0 ? r.signed(Int(ro.error)) : 0
        guard let op = self.operations.remove(key) else {
            if self.keepUnpaired {
                self.unpaired.append(Unpaired(kind: .completion, thread: ref.thread, function: r.subjectFunction(ro), key: key,
                                              tsc: r.tsc, seq: r.sequence, status: status, socket: 0))
            }
            return
        }
        self.finishCompletion(op, thread: ref.thread, tsc: r.tsc, seq: r.sequence, status: status, into: &sink)
    }

    private mutating func finishCompletion<S: CallSink>(_ op: Open, thread: UInt32, tsc: UInt64, seq: UInt64, status: Int64,
                                                        into sink: inout S) {
        // Operations that went pending finish here; an immediate success finished at its LEAVE; a
        // completion before the LEAVE finishes the operation, and its LEAVE is then skipped.
        if !op.left {
            self.completedEarly.insert(Self.key(thread, op.threadSeq))
        } else {
            guard op.leftPending else { return }
            self.bumpInflight(op.socket, -1)
            sink.operationCompleted(tsc: tsc, function: op.function)
        }
        sink.finished(Self.finished(op, thread: thread, endTSC: tsc, endSeq: seq, status: status, operation: true))
    }

    private mutating func bumpInflight(_ socket: UInt64, _ d: Int32) {
        guard socket < 1 << 20 else { return }
        let s = Int(socket)
        if s >= self.inflight.count { self.inflight.append(contentsOf: repeatElement(0, count: s + 1 - self.inflight.count)) }
        self.inflight[s] = UInt32(max(0, Int32(bitPattern: self.inflight[s]) + d))
    }

    static func finished(_ o: Open, thread: UInt32, endTSC: UInt64, endSeq: UInt64, status: Int64, operation: Bool) -> FinishedCall {
        FinishedCall(function: o.function, bytes: o.bytes, sizeClass: SizeClass.of(o.bytes), startTSC: o.tsc, endTSC: endTSC,
                     startSeq: o.seq, endSeq: endSeq, thread: thread, socket: o.socket, status: status, operation: operation,
                     previous: o.previous, previousGapTicks: o.gap, inflightOnSocket: o.inflight)
    }

    /// Pairs what a later part's tracker could not (in its order) with this tracker's open calls.
    mutating func resolve<S: CallSink>(_ list: [Unpaired], into sink: inout S) {
        for u in list {
            switch u.kind {
            case .leave:
                let t = Int(u.thread)
                guard t < self.stacks.count, let i = self.stacks[t].lastIndex(where: { $0.function == u.function }) else { continue }
                let open = self.stacks[t][i]
                self.stacks[t].removeSubrange(i...)
                let starts = Schema.function(u.function)?.startsOperation ?? false
                self.finishLeave(open, thread: u.thread, tsc: u.tsc, seq: u.seq, status: u.status, startsOperation: starts, into: &sink)
            case .completion:
                guard let op = self.operations.remove(u.key) else { continue }
                self.finishCompletion(op, thread: u.thread, tsc: u.tsc, seq: u.seq, status: u.status, into: &sink)
            default: break
            }
        }
    }
}
