import SanTraceFormat

/// A peer the trace set lacks (only one side of the connection was recorded), derived from the
/// side that was: it accepts or connects as recorded, posts a receive for every message the
/// recorded side sent (and checks it), sends the messages the recorded side received (each once
/// the recorded side has sent what it had sent before that receive completed), and exposes
/// regions of the right size and access for the descriptors the recorded side used.
struct SyntheticPlan {
    struct Incoming {
        var length: UInt64
        var content: Content
        var origin: Int32
        /// RDMA writes of the recorded side checked when this message arrives.
        var writeChecks: [DataCheck] = []
    }
    struct Outgoing {
        var length: UInt32
        var content: Content
        /// Messages to receive before sending this one.
        var after: Int
    }
    struct Region {
        var key: String
        var length: UInt64
        var access: UInt32
        var seed: UInt64
    }

    var peer: SyntheticPeer
    /// Index in the replay (after the recorded endpoints).
    var endpoint: Int
    var name: String
    var recordedEndpoint: Int
    var family: Int32
    var incoming: [Incoming] = []
    var outgoing: [Outgoing] = []
    var regions: [Region] = []
    /// Recorded bytes the peer sends (`full` traces).
    var recorded: [[UInt8]] = []
    var uncheckable: [String: Int] = [:]

    /// Builds the peer of `peer.recorded` and adds the checks of what it sends to the recorded
    /// side's plan.
    static func build(_ peer: SyntheticPeer, endpoint: Int, plan: EndpointPlan, facts: PlanFacts,
                      pairing: Pairing) -> SyntheticPlan {
        let t = plan.trace
        let socket = peer.recorded.socket
        var sp = SyntheticPlan(peer: peer, endpoint: endpoint, name: "synthetic-peer-\(peer.index)-of-\(t.name)",
                               recordedEndpoint: t.index, family: Self.family(t, socket))
        // What the recorded side sent: the peer receives and checks it.
        let sends = (facts.messagesOut[socket] ?? []).filter {
            let op = plan.ops[Int($0)]
            return !op.hasCompletion || op.status == 0
        }
        for s in sends {
            let op = plan.ops[Int(s)]
            var content = op.content
            if content.kind == .recorded {
                sp.recorded.append(plan.recorded[Int(content.recorded)])
                content.recorded = Int32(sp.recorded.count - 1)
            }
            sp.incoming.append(Incoming(length: op.length, content: content, origin: op.origin))
        }
        // What it received: the peer sends it, after the messages sent before it arrived.
        let recvs = facts.messagesIn[socket] ?? []
        let sendSeqs = sends.map { plan.origins[Int(plan.ops[Int($0)].origin)].seq }
        for (k, r) in recvs.enumerated() {
            let op = plan.ops[Int(r)]
            var content = Content.generated(Seeds.synthetic(peer.index, k))
            if let bytes = Self.recordedPayload(t, plan, r) {
                plan.recorded.append(bytes)
                sp.recorded.append(bytes)
                content = Content(kind: .recorded, seed: content.seed, recorded: Int32(sp.recorded.count - 1))
            }
            let after = sendSeqs.filter { $0 < op.completionSeq }.count
            sp.outgoing.append(Outgoing(length: op.bytes, content: content, after: after))
            var check = DataCheck(what: .receive, op: r, length: UInt64(op.bytes), content: content,
                                  sourceEndpoint: Int32(endpoint), sourceOrigin: -1)
            if content.kind == .recorded { check.content.recorded = Int32(plan.recorded.count - 1) }
            Self.add(check, to: r, plan)
        }
        sp.addRegions(plan, facts, pairing)
        return sp
    }

    private static func family(_ t: EndpointTrace, _ socket: UInt64) -> Int32 {
        for c in t.calls where c.function == .WSPSocket && c.retObject == socket { return Int32(c.p0) }
        return 2
    }

    /// The bytes a `full` trace recorded for a receive's completion.
    private static func recordedPayload(_ t: EndpointTrace, _ plan: EndpointPlan, _ op: Int32) -> [UInt8]? {
        let call = plan.ops[Int(op)].call
        guard t.payloadPolicy == .full, call >= 0 else { return nil }
        let c = t.calls[Int(call)]
        guard c.completion >= 0 else { return nil }
        let p = t.completions[Int(c.completion)].payload
        guard p >= 0, case .full(let chunks) = t.payloads[Int(p)] else { return nil }
        return Array(chunks.joined())
    }

    private static func add(_ check: DataCheck, to op: Int32, _ plan: EndpointPlan) {
        // Checks of one operation are contiguous: append a copy of its list with the new one.
        let o = plan.ops[Int(op)]
        let old = o.checkCount > 0 ? Array(plan.checks[Int(o.checks)..<Int(o.checks + o.checkCount)]) : []
        plan.ops[Int(op)].checks = Int32(plan.checks.count)
        plan.ops[Int(op)].checkCount = Int32(old.count + 1)
        plan.checks.append(contentsOf: old + [check])
    }

    /// Regions for the descriptors the recorded side used on this connection, and the checks of
    /// what it wrote and read there.
    private mutating func addRegions(_ plan: EndpointPlan, _ facts: PlanFacts, _ pairing: Pairing) {
        var uses: [Int: (length: UInt64, access: UInt32, writes: [(Int32, UInt64)], reads: [(Int32, UInt64)])] = [:]
        for (op, r) in facts.rdma.sorted(by: { $0.key < $1.key }) {
            guard case .synthetic(let peer, let region)? =
                    pairing.descriptors[DescriptorKey(endpoint: plan.endpoint, descriptor: r.descriptor)],
                  peer == self.peer.index else { continue }
            let o = plan.ops[Int(op)]
            var u = uses[region] ?? (0, 0, [], [])
            u.length = max(u.length, r.offset + o.length)
            if o.kind == .rdmaWrite {
                u.access |= 2
                u.writes.append((op, r.offset))
            } else {
                u.access |= 1
                u.reads.append((op, r.offset))
            }
            uses[region] = u
        }
        let count = (uses.keys.max() ?? -1) + 1
        for n in 0..<count {
            let u = uses[n] ?? (1, 3, [], [])
            let seed = Seeds.syntheticRegion(self.peer.index, n)
            self.regions.append(Region(key: Pairing.syntheticRegionKey(self.peer.index, n), length: max(u.length, 1),
                                       access: u.access == 0 ? 3 : u.access, seed: seed))
            // Reads see the region's initial content unless the recorded side also writes it.
            for (op, offset) in u.reads {
                if u.writes.isEmpty {
                    Self.add(DataCheck(what: .rdmaRead, op: op, length: plan.ops[Int(op)].length, content: .generated(seed),
                                       position: offset, sourceEndpoint: Int32(self.endpoint), sourceOrigin: -1),
                             to: op, plan)
                } else {
                    plan.uncheckable["RDMA read of memory the target also writes", default: 0] += 1
                }
            }
            self.checkWrites(u.writes, region: n, plan, facts)
        }
    }

    /// A write is checked in the region when the recorded side's next message arrives. A later
    /// overlapping write must be ordered after that check: the recorded side posted it after
    /// receiving a message the peer sends only once it got (and checked) that message.
    private mutating func checkWrites(_ writes: [(Int32, UInt64)], region: Int, _ plan: EndpointPlan, _ facts: PlanFacts) {
        let sends = (facts.messagesOut[self.peer.recorded.socket] ?? [])
        let recvs = facts.messagesIn[self.peer.recorded.socket] ?? []
        func message(after op: Int32) -> Int? {
            guard let place = facts.startedAt[op] else { return nil }
            return sends.firstIndex(where: { s in
                guard let p = facts.startedAt[s] else { return false }
                return p.thread == place.thread && p.step > place.step
            })
        }
        for (i, (op, offset)) in writes.enumerated() {
            let o = plan.ops[Int(op)]
            guard o.content.kind != .unknown else {
                self.uncheckable["RDMA write whose source buffer changed while it was in flight", default: 0] += 1
                continue
            }
            guard let m = message(after: op), m < self.incoming.count else {
                self.uncheckable["RDMA write with no later message on its connection", default: 0] += 1
                continue
            }
            let later = writes[(i + 1)...].first {
                $0.1 < offset + o.length && offset < $0.1 + plan.ops[Int($0.0)].length && message(after: $0.0) != m
            }
            let coveredBefore = writes[(i + 1)...].contains {
                message(after: $0.0) == m && $0.1 <= offset && offset + o.length <= $0.1 + plan.ops[Int($0.0)].length
            }
            if coveredBefore { continue }  // a later write before the same message holds these bytes
            if let later, let place = facts.startedAt[later.0] {
                let ordered = self.outgoing.indices.contains { k in
                    guard self.outgoing[k].after > m, k < recvs.count, let seen = facts.observedAt[recvs[k]] else { return false }
                    return seen.thread == place.thread && seen.step < place.step
                }
                guard ordered else {
                    self.uncheckable["RDMA write overwritten by a later write the application did not order after the check", default: 0] += 1
                    continue
                }
            }
            var content = o.content
            if content.kind == .recorded {
                self.recorded.append(plan.recorded[Int(content.recorded)])
                content.recorded = Int32(self.recorded.count - 1)
            }
            self.incoming[m].writeChecks.append(DataCheck(what: .rdmaWriteTarget, op: -1, block: Int32(region),
                                                          blockOffset: offset, length: o.length, content: content,
                                                          position: 0, sourceEndpoint: Int32(plan.endpoint),
                                                          sourceOrigin: o.origin))
        }
    }
}
