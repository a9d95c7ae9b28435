import SanCore
import SanTraceFormat

/// Compares the call streams of paired endpoints (Docs/Diff.md §Semantic).
///
/// Per endpoint pair, threads are paired by rank; per thread pair the calls are aligned on
/// (function, normalized socket) (``Alignment``), then every aligned pair is compared field by
/// field, and its completion with it. Calls only in A or only in B are missing or extra calls.
/// Completions are then checked for order: operations of one function on one socket must
/// complete in the same relative order.
struct SemanticDiff {
    let maxDetails: Int
    let maxEdits: Int
    private(set) var report = SemanticReport()
    /// Details gathered before the final sort (bounded: past it only counts grow).
    private var gathered: [Divergence] = []
    private static let gatherLimit = 20_000

    init(maxDetails: Int, maxEdits: Int) {
        self.maxDetails = maxDetails
        self.maxEdits = maxEdits
    }

    mutating func finish() -> SemanticReport {
        self.gathered.sort { ($0.endpointIndex, $0.orderKey, $0.kind) < ($1.endpointIndex, $1.orderKey, $1.kind) }
        self.report.details = Array(self.gathered.prefix(self.maxDetails))
        return self.report
    }

    private mutating func add(_ d: Divergence) {
        self.report.counts[d.kind, default: 0] += 1
        if self.gathered.count < Self.gatherLimit { self.gathered.append(d) }
    }

    // MARK: Endpoints

    mutating func missingEndpoint(_ e: Endpoint, index: Int, inA: Bool) {
        self.add(Divergence(kind: inA ? .missingEndpoint : .extraEndpoint, endpoint: e.name, endpointIndex: index, thread: 0,
                            function: "-", seqA: nil, seqB: nil, threadA: nil, threadB: nil,
                            a: inA ? "\(e.path): \(e.events) events" : "-", b: inA ? "-" : "\(e.path): \(e.events) events",
                            orderKey: 0))
    }

    mutating func compare(_ a: EndpointStream, _ b: EndpointStream, index: Int) {
        let name = a.endpoint.name
        var alignments: [Alignment] = []
        for t in 0..<max(a.threads.count, b.threads.count) {
            let ta = t < a.threads.count ? a.threads[t] : ThreadStream(thread: 0)
            let tb = t < b.threads.count ? b.threads[t] : ThreadStream(thread: 0)
            let al = Self.align(ta.items, tb.items, maxEdits: self.maxEdits)
            if al.gaveUp {
                self.report.notes.append("\(name) thread \(t + 1): more than \(self.maxEdits) calls differ; the rest of the thread was compared position by position")
            }
            self.compareThread(a, b, ta, tb, al, thread: t + 1, endpoint: name, index: index)
            alignments.append(al)
        }
        let pa = Self.align(a.process.items, b.process.items, maxEdits: self.maxEdits)
        self.compareThread(a, b, a.process, b.process, pa, thread: 0, endpoint: name, index: index)
        self.completionOrder(a, b, alignments, endpoint: name, index: index)
        self.notes(a, b, endpoint: name)
    }

    static func align(_ a: [CallItem], _ b: [CallItem], maxEdits: Int) -> Alignment {
        if a.count == b.count {
            var same = true
            for i in 0..<a.count where a[i].key != b[i].key {
                same = false
                break
            }
            if same { return Alignment(matchA: nil) }
        }
        let ka = a.map(\.key), kb = b.map(\.key)
        return ka.withUnsafeBufferPointer { pa in
            kb.withUnsafeBufferPointer { pb in Alignment.align(pa, pb, maxEdits: maxEdits) }
        }
    }

    // MARK: Calls

    private mutating func compareThread(_ ea: EndpointStream, _ eb: EndpointStream, _ a: ThreadStream, _ b: ThreadStream,
                                        _ al: Alignment, thread: Int, endpoint: String, index: Int) {
        func divergence(_ kind: Divergence.Kind, _ ia: Int?, _ ib: Int?, _ sa: String, _ sb: String,
                        seqA: UInt64? = nil, seqB: UInt64? = nil, order: UInt64? = nil) -> Divergence {
            let ca = ia.map { a.items[$0] }, cb = ib.map { b.items[$0] }
            return Divergence(kind: kind, endpoint: endpoint, endpointIndex: index, thread: thread,
                              function: Self.functionName(ca ?? cb!), seqA: seqA ?? ca?.seq, seqB: seqB ?? cb?.seq,
                              threadA: ca != nil || order != nil ? a.thread : nil, threadB: cb != nil ? b.thread : nil,
                              a: sa, b: sb, orderKey: order ?? ca?.seq ?? 0)
        }
        for i in al.onlyA { self.add(divergence(.missingCall, Int(i), nil, Self.describe(a.items[Int(i)], ea), "-")) }
        // An extra B call is placed, in A's order, before the first A call matched after it.
        var next = 0
        let afterLast = (a.items.last?.seq).map { $0 + 1 } ?? 0
        for j in al.onlyB {
            while next < a.items.count && al.b(for: next) < Int(j) { next += 1 }
            let order = next < a.items.count ? a.items[next].seq : afterLast
            self.add(divergence(.extraCall, nil, Int(j), "-", Self.describe(b.items[Int(j)], eb), order: order))
        }
        for i in 0..<a.items.count {
            let j = al.b(for: i)
            guard j >= 0 else { continue }
            let x = a.items[i], y = b.items[j]
            self.report.callsCompared += 1
            if x.startsOperation || y.startsOperation {
                let (found, linked) = Self.compareOperation(ea, eb, x, y)
                if linked { self.report.completionsCompared += 1 }
                for (kind, sa, sb, seqA, seqB) in found { self.add(divergence(kind, i, j, sa, sb, seqA: seqA, seqB: seqB)) }
            } else {
                if x.err != y.err || x.ret != y.ret {
                    self.add(divergence(.status, i, j, Self.outcome(x), Self.outcome(y)))
                }
                if x.bytes != y.bytes || x.resultBytes != y.resultBytes {
                    self.add(divergence(.bytes, i, j, Self.byteCounts(x), Self.byteCounts(y)))
                }
                if Self.payloadsDiffer(x.resultPayload, x.resultPayloadKind, y.resultPayload, y.resultPayloadKind) {
                    self.add(divergence(.payload, i, j, Self.hex(x.resultPayload), Self.hex(y.resultPayload)))
                }
            }
            if Self.payloadsDiffer(x.payload, x.flags, y.payload, y.flags) {
                self.add(divergence(.payload, i, j, Self.hex(x.payload), Self.hex(y.payload)))
            }
            if x.args != y.args || x.result != y.result {
                self.add(divergence(.arguments, i, j, x.args != y.args ? "arguments #\(Self.hex(x.args))" : "results #\(Self.hex(x.result))",
                                    x.args != y.args ? "arguments #\(Self.hex(y.args))" : "results #\(Self.hex(y.result))"))
            }
        }
    }

    /// How an operation ended: its completion; else, when the call succeeded at once, what the
    /// call returned; nil while it never completed (pending at the end of the trace).
    struct Outcome: Equatable {
        var status: Int32
        var bytes: UInt32
        var payload: UInt64
        var payloadKind: UInt8
        var seq: UInt64?
    }

    static func describe(_ o: Outcome) -> String {
        if o.seq != nil { return "completed: " + Self.error(o.status) + ", \(o.bytes) bytes" }
        return o.status == 0 ? "completed at once: \(o.bytes) bytes" : "failed at the call: " + Self.error(o.status)
    }

    static func outcome(_ x: CallItem, _ e: EndpointStream) -> Outcome? {
        if x.completion >= 0 {
            let c = e.completions[Int(x.completion)]
            return Outcome(status: c.status, bytes: c.bytes, payload: c.payload, payloadKind: c.payloadKind, seq: c.seq)
        }
        if x.isPending { return nil }
        if x.err == 0 {
            return Outcome(status: 0, bytes: x.resultBytes, payload: x.resultPayload, payloadKind: x.resultPayloadKind, seq: nil)
        }
        return Outcome(status: x.err, bytes: 0, payload: 0, payloadKind: 0, seq: nil)
    }

    /// Compares two calls that start operations by their outcome: whether the call returned
    /// WSA_IO_PENDING or completed at once is a matter of timing, what the operation did is not.
    /// Returns the divergences, and whether both had a completion event.
    static func compareOperation(_ ea: EndpointStream, _ eb: EndpointStream, _ x: CallItem, _ y: CallItem)
        -> ([(Divergence.Kind, String, String, UInt64?, UInt64?)], Bool) {
        var out: [(Divergence.Kind, String, String, UInt64?, UInt64?)] = []
        var linked = false
        func report(_ k: Divergence.Kind, _ a: String, _ b: String, _ sa: UInt64?, _ sb: UInt64?) { out.append((k, a, b, sa, sb)) }
        if x.bytes != y.bytes { report(.bytes, Self.byteCounts(x), Self.byteCounts(y), nil, nil) }
        switch (Self.outcome(x, ea), Self.outcome(y, eb)) {
        case let (p?, q?):
            linked = p.seq != nil && q.seq != nil
            if p.status != q.status { report(.status, Self.describe(p), Self.describe(q), p.seq, q.seq) }
            if p.bytes != q.bytes { report(.bytes, Self.describe(p), Self.describe(q), p.seq, q.seq) }
            if Self.payloadsDiffer(p.payload, p.payloadKind, q.payload, q.payloadKind) {
                report(.payload, Self.describe(p) + " #" + Self.hex(p.payload), Self.describe(q) + " #" + Self.hex(q.payload), p.seq, q.seq)
            }
        case let (p?, nil):
            report(.missingCompletion, Self.describe(p), "never completed", p.seq, nil)
        case let (nil, q?):
            report(.extraCompletion, "never completed", Self.describe(q), nil, q.seq)
        case (nil, nil): break
        }
        return (out, linked)
    }

    // MARK: Completion order

    private mutating func completionOrder(_ a: EndpointStream, _ b: EndpointStream, _ alignments: [Alignment],
                                          endpoint: String, index: Int) {
        var last: [UInt64: Int32] = [:]
        for p in a.completions {
            let t = Int(p.rank) - 1
            guard t < b.threads.count, t < alignments.count else { continue }
            let j = alignments[t].b(for: Int(p.index))
            guard j >= 0, j < b.threads[t].items.count else { continue }
            let y = b.threads[t].items[j]
            guard y.completion >= 0 else { continue }
            let x = a.threads[t].items[Int(p.index)]
            let group = x.key
            if let prev = last[group], y.completion < prev {
                let q = b.completions[Int(y.completion)]
                self.add(Divergence(kind: .completionOrder, endpoint: endpoint, endpointIndex: index, thread: t + 1,
                                    function: Self.functionName(x), seqA: p.seq, seqB: q.seq, threadA: nil, threadB: nil,
                                    a: "completed after the operation before it", b: "completed before an operation started earlier",
                                    orderKey: p.seq))
            }
            last[group] = max(last[group] ?? -1, y.completion)
        }
    }

    // MARK: Notes

    private mutating func notes(_ a: EndpointStream, _ b: EndpointStream, endpoint: String) {
        for f in Set(a.upcalls.keys).union(b.upcalls.keys).sorted() {
            let x = a.upcalls[f] ?? 0, y = b.upcalls[f] ?? 0
            if x != y { self.report.notes.append("\(endpoint): \(FunctionID(f).name) upcalls: A \(x), B \(y) (timing-dependent, not a divergence)") }
        }
        if a.unlinkedCompletions != b.unlinkedCompletions {
            self.report.notes.append("\(endpoint): completions with no known starting call: A \(a.unlinkedCompletions), B \(b.unlinkedCompletions)")
        }
        if a.orphanLeaves != b.orphanLeaves {
            self.report.notes.append("\(endpoint): returns with no recorded call: A \(a.orphanLeaves), B \(b.orphanLeaves)")
        }
    }

    // MARK: Text

    static func functionName(_ c: CallItem) -> String { c.isLookup ? "lookup" : c.function.name }

    static func error(_ e: Int32) -> String { e == 0 ? "ok" : WSAError(e).name }

    static func outcome(_ c: CallItem) -> String { "ret=\(c.ret) err=" + (c.err == 0 ? "0" : WSAError(c.err).name) }

    static func byteCounts(_ c: CallItem) -> String { "\(c.bytes) bytes asked, \(c.resultBytes) returned" }

    static func hex(_ v: UInt64) -> String { String(v, radix: 16) }

    static func socket(_ s: UInt32) -> String { s == 0 ? "-" : "s\(s >> 24).\(s & 0xFF_FFFF)" }

    /// One line for a call only one side made.
    static func describe(_ c: CallItem, _ e: EndpointStream) -> String {
        var s = functionName(c)
        if c.socket != 0 { s += " socket " + socket(c.socket) }
        if c.bytes != 0 { s += ", \(c.bytes) bytes" }
        s += " → " + outcome(c)
        if c.completion >= 0 { s += ", completed " + error(e.completions[Int(c.completion)].status) }
        return s
    }

    static func payloadsDiffer(_ a: UInt64, _ fa: UInt8, _ b: UInt64, _ fb: UInt8) -> Bool {
        let kinds = CallItem.payloadHash | CallItem.payloadFull
        let ka = fa & kinds, kb = fb & kinds
        return ka != 0 && ka == kb && a != b
    }
}
