import SanTraceFormat

/// Decides where every replayed byte is checked, from the traces of both sides (every endpoint
/// has the whole set, so no payload is ever exchanged):
///
/// - a **message**: the k-th receive that completed on a socket holds the k-th send of the peer
///   socket (messages on a connection are FIFO, one per posted receive);
/// - an **RDMA write**: its bytes are in the target region once the writer's next message on the
///   same connection arrives (the write was posted before that send, on the same thread; the
///   transport keeps the order). The last write covering a byte wins. A write is checked only if
///   no later overlapping write can land before the check: the writer must have learned (a
///   message back) that the target saw the first one;
/// - an **RDMA read**: the local buffer holds the target region's initial content, when nothing
///   ever writes that part of the region.
struct DataLinker {
    var plans: [EndpointPlan]
    let facts: [PlanFacts]
    let pairing: Pairing
    /// Checks per (endpoint, operation), materialized at the end.
    private var pending: [[Int32: [DataCheck]]]
    /// Ranges RDMA writes reach, per target endpoint.
    private var written: [[(block: Int32, start: UInt64, end: UInt64)]]

    init(plans: [EndpointPlan], facts: [PlanFacts], pairing: Pairing) {
        self.plans = plans
        self.facts = facts
        self.pairing = pairing
        self.pending = Array(repeating: [:], count: plans.count)
        self.written = Array(repeating: [], count: plans.count)
    }

    mutating func link() {
        self.linkMessages()
        self.linkWrites()
        self.linkReads()
        self.materialize()
    }

    /// Sends that delivered a message (not those that completed with an error).
    func messagesOut(_ e: Int, _ socket: UInt64) -> [Int32] {
        (self.facts[e].messagesOut[socket] ?? []).filter {
            let op = self.plans[e].ops[Int($0)]
            return !op.hasCompletion || op.status == 0
        }
    }

    private func peerSocket(_ e: Int, _ socket: UInt64) -> SocketKey? {
        if case .socket(let k)? = self.pairing.peer(SocketKey(endpoint: e, socket: socket)) { return k }
        return nil
    }

    private mutating func note(_ e: Int, _ reason: String) { self.plans[e].uncheckable[reason, default: 0] += 1 }

    /// Copies a content into endpoint `e`'s plan (recorded bytes live in the plan that checks).
    private func localContent(_ c: Content, from source: Int, into e: Int) -> Content {
        guard c.kind == .recorded, source != e else { return c }
        var out = c
        self.plans[e].recorded.append(self.plans[source].recorded[Int(c.recorded)])
        out.recorded = Int32(self.plans[e].recorded.count - 1)
        return out
    }

    // MARK: Messages

    private mutating func linkMessages() {
        for (a, f) in self.facts.enumerated() {
            for (socket, _) in f.messagesOut {
                guard let peer = self.peerSocket(a, socket) else { continue }
                let sends = self.messagesOut(a, socket)
                let recvs = self.facts[peer.endpoint].messagesIn[peer.socket] ?? []
                for m in 0..<min(sends.count, recvs.count) {
                    let send = self.plans[a].ops[Int(sends[m])]
                    let recvIndex = recvs[m]
                    let recv = self.plans[peer.endpoint].ops[Int(recvIndex)]
                    guard send.content.kind != .unknown else {
                        self.note(peer.endpoint, "message whose source buffer changed while a send was in flight")
                        continue
                    }
                    guard UInt64(recv.bytes) == send.length else {
                        self.note(peer.endpoint, "message whose recorded length differs from its send")
                        continue
                    }
                    let check = DataCheck(what: .receive, op: recvIndex, length: send.length,
                                          content: self.localContent(send.content, from: a, into: peer.endpoint),
                                          sourceEndpoint: Int32(a), sourceOrigin: send.origin)
                    self.pending[peer.endpoint][recvIndex, default: []].append(check)
                }
            }
        }
    }

    // MARK: RDMA writes

    private struct Write {
        var writer: Int
        var op: Int32
        var block: Int32
        var start: UInt64
        var length: UInt64
    }

    /// The target range of an RDMA operation registered by an endpoint of the set.
    private func target(_ e: Int, _ op: Int32) -> (endpoint: Int, block: Int32, start: UInt64, regionEnd: UInt64)? {
        guard let r = self.facts[e].rdma[op],
              case .registered(let owner)? = self.pairing.descriptors[DescriptorKey(endpoint: e, descriptor: r.descriptor)],
              let region = self.plans[owner.endpoint].regions[owner.descriptor] else { return nil }
        return (owner.endpoint, region.block, region.offset + r.offset, region.offset + region.length)
    }

    private struct WriterBlock: Hashable {
        var writer: Int
        var block: Int32
        var target: Int
    }

    private mutating func linkWrites() {
        // Check point of each write: the receive of the writer's next message on the connection.
        var atReceive: [Int: [Int32: [Write]]] = [:]
        var attached: [Int: [Int32: Int32]] = [:]
        var sequences: [WriterBlock: [Write]] = [:]
        for (a, f) in self.facts.enumerated() {
            var sendsBySocket: [UInt64: [Int32]] = [:]
            var cursor: [UInt64: Int] = [:]
            for (op, r) in f.rdma.sorted(by: { $0.key < $1.key }) where self.plans[a].ops[Int(op)].kind == .rdmaWrite {
                guard let t = self.target(a, op) else { continue }
                let length = self.plans[a].ops[Int(op)].length
                let w = Write(writer: a, op: op, block: t.block, start: t.start, length: length)
                self.written[t.endpoint].append((t.block, t.start, t.start + length))
                sequences[WriterBlock(writer: a, block: t.block, target: t.endpoint), default: []].append(w)
                guard let peer = self.peerSocket(a, r.socket), peer.endpoint == t.endpoint,
                      let place = f.startedAt[op] else {
                    self.note(t.endpoint, "RDMA write with no later message on its connection")
                    continue
                }
                if sendsBySocket[r.socket] == nil { sendsBySocket[r.socket] = self.messagesOut(a, r.socket) }
                let sends = sendsBySocket[r.socket]!
                // Sends are in recorded order, and so are the writes: the cursor only moves on.
                var m = cursor[r.socket] ?? 0
                while m < sends.count, sends[m] < op { m += 1 }
                cursor[r.socket] = m
                while m < sends.count, let p = f.startedAt[sends[m]], p.thread != place.thread || p.step <= place.step {
                    m += 1
                }
                guard m < sends.count else {
                    self.note(t.endpoint, "RDMA write with no later message on its connection")
                    continue
                }
                let recvs = self.facts[peer.endpoint].messagesIn[peer.socket] ?? []
                guard m < recvs.count else {
                    self.note(t.endpoint, "RDMA write whose following message was never received")
                    continue
                }
                atReceive[t.endpoint, default: [:]][recvs[m], default: []].append(w)
                attached[a, default: [:]][op] = recvs[m]
            }
        }
        var position: [Int: [Int32: (WriterBlock, Int)]] = [:]
        for (k, list) in sequences {
            for (i, w) in list.enumerated() { position[w.writer, default: [:]][w.op] = (k, i) }
        }
        for (b, list) in atReceive {
            for (recv, writes) in list {
                self.checkWrites(writes, at: recv, target: b) { w in
                    // The first later overlapping write by the same writer not posted before this
                    // check's message.
                    guard let (k, i) = position[w.writer]?[w.op], let seq = sequences[k] else { return nil }
                    for x in seq[(i + 1)...] where x.start < w.start + w.length && w.start < x.start + x.length {
                        if attached[x.writer]?[x.op] != recv { return x }
                    }
                    return nil
                }
            }
        }
    }

    /// The latest write covering a byte is what the target holds: checks the uncovered part of
    /// each write, latest first, when no later overlapping write can land before the check.
    private mutating func checkWrites(_ writes: [Write], at recv: Int32, target b: Int, nextOverlap: (Write) -> Write?) {
        var covered: [(block: Int32, start: UInt64, end: UInt64)] = []
        for w in writes.reversed() {
            let op = self.plans[w.writer].ops[Int(w.op)]
            let pieces = Self.subtract((w.block, w.start, w.start + w.length), covered)
            covered.append((w.block, w.start, w.start + w.length))
            if pieces.isEmpty { continue }
            guard op.content.kind != .unknown else {
                self.note(b, "RDMA write whose source buffer changed while it was in flight")
                continue
            }
            if let later = nextOverlap(w), !self.ordered(later, after: recv, target: b) {
                self.note(b, "RDMA write overwritten by a later write the application did not order after the check")
                continue
            }
            let content = self.localContent(op.content, from: w.writer, into: b)
            for p in pieces {
                self.pending[b][recv, default: []].append(
                    DataCheck(what: .rdmaWriteTarget, op: -1, block: p.block, blockOffset: p.start, length: p.end - p.start,
                              content: content, position: p.start - w.start, sourceEndpoint: Int32(w.writer),
                              sourceOrigin: op.origin))
            }
        }
    }

    /// True when the write `later` is causally after the check at `recv`: the target answered
    /// (a message sent after observing `recv`) and the writer observed that answer before
    /// posting `later`.
    private func ordered(_ later: Write, after recv: Int32, target b: Int) -> Bool {
        guard let seen = self.facts[b].observedAt[recv],
              let place = self.facts[later.writer].startedAt[later.op],
              let rdma = self.facts[later.writer].rdma[later.op],
              let peer = self.peerSocket(later.writer, rdma.socket) else { return false }
        let answers = self.messagesOut(b, peer.socket)
        let back = self.facts[later.writer].messagesIn[rdma.socket] ?? []
        for (m2, s2) in answers.enumerated() where m2 < back.count {
            guard let sent = self.facts[b].startedAt[s2], sent.thread == seen.thread, sent.step > seen.step else { continue }
            guard let got = self.facts[later.writer].observedAt[back[m2]] else { continue }
            return got.thread == place.thread && got.step < place.step
        }
        return false
    }

    static func subtract(_ r: (block: Int32, start: UInt64, end: UInt64),
                         _ covered: [(block: Int32, start: UInt64, end: UInt64)]) -> [(block: Int32, start: UInt64, end: UInt64)] {
        var pieces = [r]
        for c in covered where c.block == r.block {
            var next: [(block: Int32, start: UInt64, end: UInt64)] = []
            for p in pieces {
                if c.end <= p.start || c.start >= p.end {
                    next.append(p)
                    continue
                }
                if c.start > p.start { next.append((p.block, p.start, c.start)) }
                if c.end < p.end { next.append((p.block, c.end, p.end)) }
            }
            pieces = next
            if pieces.isEmpty { break }
        }
        return pieces
    }

    // MARK: RDMA reads

    private mutating func linkReads() {
        for (a, f) in self.facts.enumerated() {
            for (op, _) in f.rdma.sorted(by: { $0.key < $1.key }) where self.plans[a].ops[Int(op)].kind == .rdmaRead {
                let read = self.plans[a].ops[Int(op)]
                guard let t = self.target(a, op) else { continue }
                let range = (block: t.block, start: t.start, end: t.start + read.length)
                let touched = (self.facts[t.endpoint].modified + self.written[t.endpoint]).contains {
                    $0.block == range.block && $0.start < range.end && range.start < $0.end
                }
                guard !touched else {
                    self.note(a, "RDMA read of memory the target also writes")
                    continue
                }
                let seed = self.plans[t.endpoint].blocks[Int(t.block)].seed
                self.pending[a][op, default: []].append(
                    DataCheck(what: .rdmaRead, op: op, length: read.length, content: .generated(seed), position: t.start,
                              sourceEndpoint: Int32(t.endpoint), sourceOrigin: -1))
            }
        }
    }

    // MARK: Output

    private mutating func materialize() {
        for (e, list) in self.pending.enumerated() {
            for (op, checks) in list.sorted(by: { $0.key < $1.key }) {
                self.plans[e].ops[Int(op)].checks = Int32(self.plans[e].checks.count)
                self.plans[e].ops[Int(op)].checkCount = Int32(checks.count)
                self.plans[e].checks.append(contentsOf: checks)
            }
        }
    }
}
