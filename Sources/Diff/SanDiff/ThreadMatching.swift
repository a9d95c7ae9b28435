import SanTraceFormat
import SanTraceStore

/// Pairs the threads of two runs of an endpoint before their streams are built, and gives each
/// pair one rank, used both to pair the threads and inside normalized capture ids
/// (``IdNormalizer``): so the pairing cannot depend on which thread happened to call first.
///
/// A thread's *signature* is the sequence of functions of its first 64 calls and the bytes each
/// asks for (other arguments not; startup, cleanup and extension look-ups, which form the process
/// stream, not either). Threads of A and B with the same signature are paired, in the order
/// their first calls appear; the threads left over are paired in that order too; a thread with
/// no counterpart gets a rank of its own. Ranks follow A's order. Two threads whose first calls
/// race (a loop-back client and server in one process) are thereby told apart by what they do.
/// Threads that never make a call (a provider's progress thread making upcalls) are not ranked.
public enum ThreadMatching {
    public struct Thread: Sendable, Equatable {
        public var thread: UInt32
        public var firstSeq: UInt64
        public var signature: UInt64
    }

    static let signatureCalls = 64

    /// The calling threads of a trace in the order of their first call, with their signatures.
    public static func threads(_ path: String) throws -> [Thread] {
        let reader = try TraceReader(path: path)
        let db = try SQLiteConnection(path: path, readOnly: true)
        var candidates: [(UInt32, UInt64)] = []
        let q = try db.prepare("SELECT id, coalesce(first_seq, 0) FROM threads ORDER BY first_seq, id")
        while try q.step() { candidates.append((UInt32(truncatingIfNeeded: q.int(0)), UInt64(max(0, q.int(1))))) }
        var out: [Thread] = []
        for (t, first) in candidates {
            var f = TraceFilter()
            f.threads = [t]
            f.kinds = [.enter, .lookup]
            f.fromSequence = first
            let cursor = try reader.cursor(f)
            var r = EventRecord()
            var h: UInt64 = 0x5349_474E
            var n = 0
            var firstCall: UInt64?
            while n < Self.signatureCalls, try cursor.next(into: &r) {
                // Startup, cleanup and look-ups belong to the process stream, not to a thread.
                if r.kind == .lookup || StreamBuilder.isProcessScope(r) { continue }
                if firstCall == nil { firstCall = r.sequence }
                h = mix(h, UInt64(r.function.rawValue))
                h = mix(h, Self.size(r))
                n += 1
            }
            if let s = firstCall { out.append(Thread(thread: t, firstSeq: s, signature: mix(h, UInt64(n)))) }
        }
        return out.sorted { ($0.firstSeq, $0.thread) < ($1.firstSeq, $1.thread) }
    }

    /// Bytes a call asks for (its buffer lengths summed, or its `length` field): part of the
    /// signature, so two threads running the same calls on different sizes are told apart.
    static func size(_ r: borrowing EventRecord) -> UInt64 {
        for i in 0..<r.fieldCount {
            switch r.type(i) {
            case .bufferList?, .bufferListEx?: return r.bufferTotals(i)?.bytes ?? 0
            default: continue
            }
        }
        if let i = r.index(of: "length"), r.type(i) == .u32 { return r.value(i) }
        return 0
    }

    /// Ranks (1, 2, …) for the threads of A and of B.
    public static func plan(_ a: [Thread], _ b: [Thread]) -> (a: [UInt32: Int], b: [UInt32: Int]) {
        var queues: [UInt64: [UInt32]] = [:]
        for t in b { queues[t.signature, default: []].append(t.thread) }
        var partner: [UInt32: UInt32] = [:]
        var pairedB = Set<UInt32>()
        for t in a {
            if var q = queues[t.signature], !q.isEmpty {
                let other = q.removeFirst()
                queues[t.signature] = q
                partner[t.thread] = other
                pairedB.insert(other)
            }
        }
        var leftoverB = b.filter { !pairedB.contains($0.thread) }.map(\.thread)[...]
        var ra: [UInt32: Int] = [:], rb: [UInt32: Int] = [:]
        var rank = 0
        for t in a {
            rank += 1
            ra[t.thread] = rank
            if let p = partner[t.thread] {
                rb[p] = rank
            } else if let p = leftoverB.popFirst() {
                rb[p] = rank
            }
        }
        for t in leftoverB {
            rank += 1
            rb[t] = rank
        }
        return (ra, rb)
    }
}
