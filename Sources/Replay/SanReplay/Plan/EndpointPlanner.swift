import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// What the planner learned about an endpoint's operations that the cross-endpoint data linker
/// needs: messages per socket, where operations start and are observed, RDMA targets, and the
/// memory the endpoint's own operations modify.
struct PlanFacts {
    /// Recorded socket → send operations in start order (messages out), and receives that
    /// completed successfully (messages in).
    var messagesOut: [UInt64: [Int32]] = [:]
    var messagesIn: [UInt64: [Int32]] = [:]
    /// Operation → (thread, step) where it starts, and where the replay observes it complete.
    var startedAt = PlaceTable()
    var observedAt = PlaceTable()
    /// RDMA operations: op → (recorded socket, recorded target descriptor, target offset).
    var rdma: [Int32: (socket: UInt64, descriptor: UInt64, offset: UInt64)] = [:]
    /// Ranges this endpoint's own operations write (receives, RDMA read destinations, fills).
    var modified: [(block: Int32, start: UInt64, end: UInt64)] = []
}

/// (thread, step) per operation, in a flat array (millions of operations in a long trace).
struct PlaceTable {
    private var places: [Int32] = []

    subscript(op: Int32) -> (thread: Int, step: Int)? {
        get {
            let i = Int(op) * 2
            guard op >= 0, i + 1 < self.places.count, self.places[i] >= 0 else { return nil }
            return (Int(self.places[i]), Int(self.places[i + 1]))
        }
        set {
            guard op >= 0 else { return }
            let i = Int(op) * 2
            if i + 1 >= self.places.count {
                self.places.append(contentsOf: repeatElement(-1, count: max(i + 2 - self.places.count, self.places.count)))
            }
            self.places[i] = Int32(newValue?.thread ?? -1)
            self.places[i + 1] = Int32(newValue?.step ?? -1)
        }
    }
}

/// Compiles one endpoint's trace into an ``EndpointPlan``: every recorded call becomes a step
/// (or is counted as timing, startup or unsupported), capture ids become dense live slots,
/// addresses become (block, offset) entries, and the waits that reproduce the recorded
/// completion order are attached to the steps.
struct EndpointPlanner {
    let trace: EndpointTrace
    let pairing: Pairing
    let plan: EndpointPlan
    let layout: BufferLayout
    var facts = PlanFacts()

    private var sockets: [UInt64: Int32] = [:]
    private var handles: [UInt64: Int32] = [:]
    private var descriptors: [UInt64: Int32] = [:]
    private var overlapped: [UInt64: Int32] = [:]
    private var events: [UInt64: Int32] = [:]
    private var threadIndex: [UInt32: Int] = [:]
    private var lastTSC: [UInt64] = []
    /// Operation each recorded call started (-1 none), by call index.
    private var opOfCall: [Int32] = []
    /// Latest operation started on each overlapped slot.
    private var lastOpOnOverlapped: [Int32: Int32] = [:]
    /// Listener sockets whose address is published at a later WSPGetSockName instead of WSPListen.
    private var publishAtGetSockName: Set<UInt64> = []
    private var probeAssigned = false
    private var sources = SourceTracker()

    init(trace: EndpointTrace, pairing: Pairing) throws(ReplayError) {
        self.trace = trace
        self.pairing = pairing
        self.plan = EndpointPlan(endpoint: trace.index, name: trace.name, trace: trace)
        self.layout = try BufferLayout(trace)
        for (i, _) in self.layout.blocks.enumerated() {
            self.plan.blocks.append(BlockPlan(size: self.layout.size(i), seed: Seeds.block(trace.index, i)))
        }
        self.opOfCall = [Int32](repeating: -1, count: trace.calls.count)
        self.plan.origins.reserveCapacity(trace.calls.count)
        for (i, th) in trace.threads.enumerated() {
            self.threadIndex[th.id] = i
            var steps: [Step] = []
            steps.reserveCapacity(th.calls.count + 1)
            self.plan.threads.append(ThreadPlan(thread: th.id, steps: steps))
            let first = th.calls.first.map { trace.calls[Int($0)].enterTSC } ?? 0
            self.plan.threadStartRealtime.append(trace.realtime(first))
            self.lastTSC.append(first)
        }
        self.findLateListenerPublications()
    }

    /// Plans every call, then the waits for upcall completions and the end of each thread.
    mutating func build() -> (EndpointPlan, PlanFacts) {
        for i in self.trace.calls.indices { self.plan(call: Int32(i)) }
        self.addCompletionWaits()
        self.plan.socketCount = self.sockets.count
        self.plan.handleCount = self.handles.count
        self.plan.overlappedCount = self.overlapped.count
        self.plan.eventCount = self.events.count
        self.findOrphans()
        return (self.plan, self.facts)
    }

    /// Slots that steps use but no step creates.
    private mutating func findOrphans() {
        var sockets = Set<Int32>(), handles = Set<Int32>(), descriptors = Set<Int32>()
        for th in self.plan.threads {
            for s in th.steps where s.result >= 0 {
                switch s.kind {
                case .socket, .accept: sockets.insert(s.result)
                case .registerMemory: handles.insert(s.result)
                case .registerRdmaMemory: descriptors.insert(s.result)
                default: break
                }
            }
        }
        self.plan.orphanSockets = (0..<Int32(self.sockets.count)).filter { !sockets.contains($0) }
        self.plan.orphanHandles = (0..<Int32(self.handles.count)).filter { !handles.contains($0) }
        self.plan.orphanDescriptors = self.plan.descriptors.indices.map { Int32($0) }.filter {
            self.plan.descriptors[Int($0)].remoteKey == nil && !descriptors.contains($0)
        }
        let n = self.plan.orphanSockets.count + self.plan.orphanHandles.count + self.plan.orphanDescriptors.count
        if n > 0 {
            self.plan.notes.append("\(self.trace.name): \(self.plan.orphanSockets.count) socket(s), \(self.plan.orphanHandles.count) memory handle(s) and \(self.plan.orphanDescriptors.count) descriptor(s) are used but never created in the trace; the replay passes INVALID_SOCKET / NULL / an empty descriptor for them")
        }
    }

    // MARK: Slots

    private static func slot(_ table: inout [UInt64: Int32], _ id: UInt64) -> Int32 {
        if id == 0 { return -1 }
        if let s = table[id] { return s }
        let s = Int32(table.count)
        table[id] = s
        return s
    }

    private mutating func socketSlot(_ id: UInt64) -> Int32 { Self.slot(&self.sockets, id) }

    /// A descriptor slot: registered here, or another endpoint's / the synthetic peer's.
    private mutating func descriptorSlot(_ id: UInt64, recordedLength: UInt32) -> Int32 {
        if id == 0 { return -1 }
        if let s = self.descriptors[id] { return s }
        let s = Int32(self.plan.descriptors.count)
        self.descriptors[id] = s
        let me = DescriptorKey(endpoint: self.trace.index, descriptor: id)
        var slot = DescriptorSlot(remoteKey: nil, publishKey: Pairing.descriptorKey(me), recordedLength: recordedLength)
        switch self.pairing.descriptors[me] {
        case .registered(let owner)? where owner != me:
            slot.remoteKey = Pairing.descriptorKey(owner)
            slot.publishKey = nil
        case .synthetic(let peer, let region)?:
            slot.remoteKey = Pairing.syntheticRegionKey(peer, region)
            slot.publishKey = nil
        default:
            break
        }
        self.plan.descriptors.append(slot)
        return s
    }

    /// Arena entries for a call's buffers (plain or EX; the handle slot is used for EX).
    private mutating func entries(_ c: RecordedCall) -> (Int32, Int32) {
        let start = Int32(self.plan.arena.count)
        for b in self.trace.bufferList(c) {
            let (block, offset) = self.layout.locate(b)
            let h = b.handle == 0 ? -1 : Self.slot(&self.handles, b.handle)
            self.plan.arena.append(ArenaEntry(block: block, offset: offset, length: b.length, handle: h))
        }
        return (start, Int32(self.plan.arena.count) - start)
    }

    // MARK: Calls

    private func skip(_ c: RecordedCall, _ table: ReferenceWritableKeyPath<EndpointPlan, [FunctionID: Int]>) {
        self.plan[keyPath: table][c.function, default: 0] += 1
    }

    private mutating func plan(call index: Int32) {
        let c = self.trace.calls[Int(index)]
        guard let th = self.threadIndex[c.thread] else { return }
        guard c.hasLeave else {
            self.plan.notes.append("\(self.trace.name): \(c.function.name) at event \(c.enterSeq) never returned when recorded; not replayed")
            return
        }
        var s = Step(kind: .waitOnly, function: c.function)
        s.socket = self.socketSlot(c.socket)
        s.expectRet = c.ret
        s.expectErr = c.err
        s.expectBytes = c.bytes
        switch c.function {
        case .WSPSocket:
            s.kind = .socket
            s.a = c.p0; s.b = c.p1; s.c = c.p2; s.d = c.p3
            s.socket = -1
            if !c.failed { s.result = self.socketSlot(c.retObject) }
            s.compare = Compare.successOnly
        case .WSPBind:
            s.kind = .bind
            s.blob = self.plan.addBlob(self.bindAddress(c))
        case .WSPListen:
            s.kind = .listen
            s.a = c.p0
            if !c.failed, let key = self.pairing.listenKeys[SocketKey(endpoint: self.trace.index, socket: c.socket)],
               !self.publishAtGetSockName.contains(c.socket) {
                s.publish = self.plan.key(key)
            }
        case .WSPGetSockName, .WSPGetPeerName:
            s.kind = c.function == .WSPGetSockName ? .getSockName : .getPeerName
            if c.function == .WSPGetSockName, !c.failed, self.publishAtGetSockName.remove(c.socket) != nil,
               let key = self.pairing.listenKeys[SocketKey(endpoint: self.trace.index, socket: c.socket)] {
                s.publish = self.plan.key(key)
            }
        case .WSPConnect:
            s.kind = .connect
            s.compare = Compare.retAndError | Compare.connectPending
            if let target = self.pairing.connects[self.trace.index]?[index] {
                s.object = Int32(self.plan.connectTargets.count)
                self.plan.connectTargets.append(target)
            } else {
                s.blob = self.plan.addBlob(self.trace.blob(c.blob))
            }
        case .WSPAccept:
            if c.failed && c.err == wsaWouldBlock { return self.skip(c, \.timingSkipped) }
            s.kind = .accept
            s.a = c.p0
            s.b = c.err == 10061 ? 1 : 0  // WSAECONNREFUSED: the condition function rejected
            s.compare = Compare.successOnly | Compare.retAndError
            if !c.failed {
                s.result = self.socketSlot(c.retObject)
                if let key = self.pairing.acceptKeys[self.trace.index]?[index] { s.publish = self.plan.key(key) }
            }
        case .WSPCloseSocket:
            s.kind = .closeSocket
        case .WSPEventSelect:
            s.kind = .eventSelect
            s.object = Self.slot(&self.events, c.object)
            s.a = c.p0
        case .WSPEnumNetworkEvents:
            if c.ret == 0 && c.q0 == 0 { return self.skip(c, \.timingSkipped) }
            s.kind = .enumNetworkEvents
            s.object = Self.slot(&self.events, c.object)
            s.a = c.q0; s.b = c.q1; s.c = c.q2
            s.compare = Compare.retAndError | Compare.events
        case .WSPGetOverlappedResult:
            guard self.planPoll(c, &s) else { return self.skip(c, \.timingSkipped) }
        case .WSPGetSockOpt:
            s.kind = .getSockOpt
            s.a = c.p0; s.b = c.p1; s.c = c.p2
        case .WSPSetSockOpt:
            s.kind = .setSockOpt
            s.a = c.p0; s.b = c.p1
            s.blob = self.plan.addBlob(self.trace.blob(c.blob))
        case .WSPIoctl:
            if UInt32(truncatingIfNeeded: c.p0) == 0xC800_0006 { return self.skip(c, \.startupSkipped) }
            s.kind = .ioctl
            s.a = c.p0; s.b = c.p1
            s.blob = self.plan.addBlob(self.trace.blob(c.blob))
        case .WSPShutdown:
            s.kind = .shutdown
            s.a = c.p0
        case .WSPRecvDisconnect: s.kind = .recvDisconnect
        case .WSPSendDisconnect: s.kind = .sendDisconnect
        case .WSPDuplicateSocket: s.kind = .duplicateSocket
        case .WSPGetQOSByName: s.kind = .getQOSByName
        case .WSPCancelBlockingCall: s.kind = .cancelBlockingCall
        case .WSPCleanup: s.kind = .cleanup
        case .WSPStartupEx:
            return self.skip(c, \.startupSkipped)
        case .WSPRegisterMemory:
            s.kind = .registerMemory
            (s.buffers, s.bufferCount) = self.entries(c)
            s.a = c.p0; s.b = c.p1
            s.compare = Compare.successOnly | Compare.retAndError
            if !c.failed { s.result = Self.slot(&self.handles, c.retObject) }
        case .WSPDeregisterMemory:
            s.kind = .deregisterMemory
            s.object = Self.slot(&self.handles, c.object)
        case .WSPRegisterRdmaMemory:
            s.kind = .registerRdmaMemory
            (s.buffers, s.bufferCount) = self.entries(c)
            s.a = c.p0; s.b = c.p1; s.c = c.p2
            // The size probe (reference §1.4): a block too small, answered WSAEFAULT + the size.
            s.d = (c.failed && c.err == wsaFault && c.q0 > c.p2) ? 1 : 0
            if !c.failed && c.retObject != 0 {
                s.result = self.descriptorSlot(c.retObject, recordedLength: UInt32(truncatingIfNeeded: c.q0))
                if let e = self.plan.arena.last, s.bufferCount == 1 {
                    self.plan.regions[c.retObject] = (e.block, e.offset, UInt64(max(Int64(0), c.p0)))
                }
            }
        case .WSPDeregisterRdmaMemory:
            s.kind = .deregisterRdmaMemory
            s.object = self.descriptorSlot(c.object, recordedLength: UInt32(truncatingIfNeeded: c.p2))
            s.c = c.p2
        case .WSPRdmaWrite, .WSPRdmaRead:
            s.kind = c.function == .WSPRdmaWrite ? .rdmaWrite : .rdmaRead
            (s.buffers, s.bufferCount) = self.entries(c)
            s.object = self.descriptorSlot(c.object, recordedLength: UInt32(truncatingIfNeeded: c.p0))
            s.a = c.p0; s.b = c.p1; s.c = c.p2
            self.planOperation(index, c, &s, th)
        case .WSPSend, .WSPRecv:
            s.kind = c.function == .WSPSend ? .send : .recv
            (s.buffers, s.bufferCount) = self.entries(c)
            s.a = c.p0
            self.planOperation(index, c, &s, th)
        case .WSPMemoryRegistrationCacheCallback:
            s.kind = .cacheCallback
            (s.buffers, s.bufferCount) = self.entries(c)
            s.a = c.p0
            s.socket = -1
        default:
            return self.skip(c, \.unsupported)
        }
        self.append(s, c, th)
    }

    private mutating func append(_ step: Step, _ c: RecordedCall, _ th: Int) {
        var s = step
        s.gapNs = max(0, self.trace.nanoseconds(from: self.lastTSC[th], to: c.enterTSC))
        self.lastTSC[th] = c.enterTSC
        s.origin = Int32(self.plan.origins.count)
        self.plan.origins.append(StepOrigin(endpoint: Int32(self.trace.index), thread: c.thread, threadSeq: c.threadSeq,
                                            seq: c.enterSeq, function: c.function, ov: c.ov, socket: c.socket))
        if s.op >= 0, s.kind != .getOverlappedResult {
            self.facts.startedAt[s.op] = (th, self.plan.threads[th].steps.count)
            self.plan.ops[Int(s.op)].origin = s.origin
        }
        if s.kind == .getOverlappedResult, s.op >= 0, self.facts.observedAt[s.op] == nil {
            self.facts.observedAt[s.op] = (th, self.plan.threads[th].steps.count)
        }
        self.plan.threads[th].steps.append(s)
    }

    /// A listener's address is published when the application learned it: at its WSPGetSockName
    /// after WSPListen when there is one (the port is known live then too), else at WSPListen.
    private mutating func findLateListenerPublications() {
        var listened = Set<UInt64>()
        for c in self.trace.calls where c.hasLeave && !c.failed {
            if c.function == .WSPListen { listened.insert(c.socket) }
            if c.function == .WSPGetSockName, listened.contains(c.socket) { self.publishAtGetSockName.insert(c.socket) }
        }
    }

    /// Where the replay binds: the recorded port is replaced by 0 (the kernel's choice, learned
    /// with WSPGetSockName and published); the wildcard and loopback stay, any other address
    /// becomes the wildcard (the replay may run on another host).
    private func bindAddress(_ c: RecordedCall) -> [UInt8] {
        let raw = self.trace.blob(c.blob)
        guard let a = RecordedAddress(raw) else { return raw }
        if a.isLoopback { return RecordedAddress.loopback(family: a.family, port: 0).bytes }
        return RecordedAddress.wildcard(family: a.family, port: 0).bytes
    }

    // MARK: Polls

    /// A WSPGetOverlappedResult: a poll that returned an operation waits for it; an incomplete
    /// poll is timing (false: not replayed); anything else is one plain call.
    private mutating func planPoll(_ c: RecordedCall, _ s: inout Step) -> Bool {
        s.kind = .getOverlappedResult
        s.ov = Self.slot(&self.overlapped, c.ov)
        s.a = c.p0
        if c.pollReturned >= 0, Int(c.pollReturned) < self.opOfCall.count, self.opOfCall[Int(c.pollReturned)] >= 0 {
            let op = self.opOfCall[Int(c.pollReturned)]
            s.op = op
            s.compare = Compare.retAndError | Compare.bytes
            if self.plan.ops[Int(op)].kind == .recv { s.d = 1 }
            return true
        }
        if c.ret == 0 && c.err == wsaIOIncomplete { return false }
        if c.ret != 0, s.ov >= 0, let op = self.lastOpOnOverlapped[s.ov] {
            s.op = op  // a repeated poll of an operation that already completed
            s.compare = Compare.retAndError | Compare.bytes
            if self.plan.ops[Int(op)].kind == .recv { s.d = 1 }
            return true
        }
        s.compare = Compare.retAndError
        return true
    }

    // MARK: Operations

    /// A data-path call: an operation when it started one with an overlapped structure, else a
    /// synchronous call whose byte count is compared directly.
    private mutating func planOperation(_ index: Int32, _ c: RecordedCall, _ s: inout Step, _ th: Int) {
        s.compare = Compare.retAndError | Compare.started
        guard c.ov != 0 else {
            if !c.failed { s.compare |= Compare.bytes }
            return
        }
        s.ov = Self.slot(&self.overlapped, c.ov)
        guard c.startedOperation else { return }
        let kind: OpKind
        switch c.function {
        case .WSPSend: kind = .send
        case .WSPRecv: kind = .recv
        case .WSPRdmaWrite: kind = .rdmaWrite
        case .WSPRdmaRead: kind = .rdmaRead
        default: kind = .other
        }
        var op = OpPlan(kind: kind, ov: s.ov, mode: c.mode, socket: s.socket, buffers: s.buffers,
                        bufferCount: s.bufferCount, length: self.trace.totalLength(c), origin: -1, call: index)
        if c.completion >= 0 {
            let done = self.trace.completions[Int(c.completion)]
            op.hasCompletion = true
            op.status = done.status
            op.bytes = done.bytes
            op.completionSeq = done.seq
        }
        if kind.landsData && !self.probeAssigned {
            op.probe = true
            self.probeAssigned = true
        }
        let opIndex = Int32(self.plan.ops.count)
        // The overlapped structure is reused: the previous operation on it must be over first.
        if let previous = self.lastOpOnOverlapped[s.ov] { self.addWait(previous, to: &s) }
        self.lastOpOnOverlapped[s.ov] = opIndex
        self.opOfCall[Int(index)] = opIndex
        s.op = opIndex
        let ranges = self.ranges(s.buffers, s.bufferCount)
        let end = op.completionSeq
        let decision = self.sources.start(opIndex, kind: kind, ranges: ranges, at: c.enterSeq, until: end)
        if kind == .send || kind == .rdmaWrite {
            switch decision {
            case .fill(let waits):
                op.fill = true
                op.content = self.content(c)
                for w in waits { self.addWait(w, to: &s) }
                self.facts.modified.append(contentsOf: ranges)
            case .inherit(let from):
                op.content = self.plan.ops[Int(from)].content
            case .unknown:
                op.content = .unknown
            }
        } else if kind.landsData {
            self.facts.modified.append(contentsOf: ranges)
        }
        self.plan.ops.append(op)
        switch kind {
        case .send: self.facts.messagesOut[c.socket, default: []].append(opIndex)
        case .recv where op.hasCompletion && op.status == 0: self.facts.messagesIn[c.socket, default: []].append(opIndex)
        case .rdmaWrite, .rdmaRead: self.facts.rdma[opIndex] = (c.socket, c.object, UInt64(max(Int64(0), c.p1)))
        default: break
        }
        _ = th
    }

    /// What a send or write carries: the recorded bytes of a `full` trace, else generated bytes.
    private mutating func content(_ c: RecordedCall) -> Content {
        let seed = Seeds.operation(self.trace.index, c.enterSeq)
        if c.payload >= 0, case .full(let chunks) = self.trace.payloads[Int(c.payload)] {
            var bytes: [UInt8] = []
            for (i, b) in self.trace.bufferList(c).enumerated() {
                let chunk = i < chunks.count ? chunks[i] : []
                bytes += chunk.prefix(Int(b.length))
                if chunk.count < Int(b.length) { break }  // truncated: the rest is generated
            }
            self.plan.recorded.append(bytes)
            return Content(kind: .recorded, seed: seed, recorded: Int32(self.plan.recorded.count - 1))
        }
        return .generated(seed)
    }

    func ranges(_ start: Int32, _ count: Int32) -> [(block: Int32, start: UInt64, end: UInt64)] {
        (0..<Int(count)).map { i in
            let e = self.plan.arena[Int(start) + i]
            return (e.block, e.offset, e.offset + UInt64(e.length))
        }
    }

    private mutating func addWait(_ op: Int32, to s: inout Step) {
        if s.waitCount == 0 { s.waits = Int32(self.plan.waitList.count) }
        // Waits of one step are contiguous: a step's list is built before the next step's.
        precondition(Int(s.waits + s.waitCount) == self.plan.waitList.count, "wait list of a step built out of order")
        self.plan.waitList.append(op)
        s.waitCount += 1
    }

    // MARK: Upcall completions

    /// An operation completed by upcall was seen by its thread before the thread's next call:
    /// that call waits for the live completion. Completions after the thread's last call are
    /// waited for by a final wait-only step.
    private mutating func addCompletionWaits() {
        var pending: [[(seq: UInt64, op: Int32)]] = Array(repeating: [], count: self.plan.threads.count)
        for (i, op) in self.plan.ops.enumerated() where op.mode == 1 && op.hasCompletion {
            guard let start = self.facts.startedAt[Int32(i)] else { continue }
            pending[start.thread].append((op.completionSeq, Int32(i)))
        }
        for th in self.plan.threads.indices {
            let list = pending[th].sorted { $0.seq < $1.seq }
            var next = 0
            let count = self.plan.threads[th].steps.count
            if !list.isEmpty {
                for si in 0..<count {
                    let seq = self.plan.origins[Int(self.plan.threads[th].steps[si].origin)].seq
                    var extra: [Int32] = []
                    while next < list.count, list[next].seq < seq {
                        extra.append(list[next].op)
                        next += 1
                    }
                    guard !extra.isEmpty else { continue }
                    self.appendWaits(extra, to: th, si)
                    for op in extra where self.facts.observedAt[op] == nil { self.facts.observedAt[op] = (th, si) }
                }
            }
            var end = Step(kind: .waitOnly, function: .none)
            end.origin = self.plan.threads[th].steps.last?.origin ?? -1
            self.plan.threads[th].steps.append(end)
            let rest = list[next...].map(\.op)
            if !rest.isEmpty { self.appendWaits(rest, to: th, count) }
            for op in rest where self.facts.observedAt[op] == nil { self.facts.observedAt[op] = (th, count) }
        }
    }

    /// Gives a step its waits plus `extra`, as a new contiguous block at the end of the list.
    private mutating func appendWaits(_ extra: [Int32], to th: Int, _ si: Int) {
        let s = self.plan.threads[th].steps[si]
        let start = Int32(self.plan.waitList.count)
        if s.waitCount > 0 {
            let old = Array(self.plan.waitList[Int(s.waits)..<Int(s.waits + s.waitCount)])
            self.plan.waitList.append(contentsOf: old)
        }
        self.plan.waitList.append(contentsOf: extra)
        self.plan.threads[th].steps[si].waits = start
        self.plan.threads[th].steps[si].waitCount = Int32(self.plan.waitList.count) - start
    }
}

/// Decides, in recorded order, whether a send or write may write its source buffer before the
/// call: only when no operation still in flight (by the recording) uses that memory. Otherwise
/// it carries what the buffer already holds (the same buffer as an operation in flight) or
/// bytes the replay cannot predict.
struct SourceTracker {
    enum Decision {
        /// Write the buffer; first make sure these operations (done when recorded, perhaps not
        /// yet live) are over.
        case fill(waits: [Int32])
        case inherit(Int32)
        case unknown
    }

    private struct Active {
        var op: Int32
        var kind: OpKind
        var ranges: [(block: Int32, start: UInt64, end: UInt64)]
        var until: UInt64
    }
    private var active: [Active] = []
    private var done: [Active] = []

    private static func overlaps(_ a: [(block: Int32, start: UInt64, end: UInt64)],
                                 _ b: [(block: Int32, start: UInt64, end: UInt64)]) -> Bool {
        a.contains { x in b.contains { y in x.block == y.block && x.start < y.end && y.start < x.end } }
    }

    private static func same(_ a: [(block: Int32, start: UInt64, end: UInt64)],
                             _ b: [(block: Int32, start: UInt64, end: UInt64)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.block == $1.block && $0.start == $1.start && $0.end == $1.end }
    }

    mutating func start(_ op: Int32, kind: OpKind, ranges: [(block: Int32, start: UInt64, end: UInt64)], at seq: UInt64,
                        until: UInt64) -> Decision {
        var still: [Active] = []
        for a in self.active {
            if a.until < seq { self.done.append(a) } else { still.append(a) }
        }
        self.active = still
        if self.done.count > 4096 { self.done.removeFirst(self.done.count - 4096) }
        let overlapping = self.active.filter { Self.overlaps($0.ranges, ranges) }
        var decision: Decision
        if overlapping.isEmpty {
            let waits = self.done.filter { Self.overlaps($0.ranges, ranges) }.map(\.op)
            self.done.removeAll { Self.overlaps($0.ranges, ranges) }
            decision = .fill(waits: waits)
        } else if overlapping.allSatisfy({ ($0.kind == .send || $0.kind == .rdmaWrite) && Self.same($0.ranges, ranges) }) {
            decision = .inherit(overlapping.last!.op)
        } else {
            decision = .unknown
        }
        if kind != .send && kind != .rdmaWrite { decision = .unknown }
        self.active.append(Active(op: op, kind: kind, ranges: ranges, until: until))
        return decision
    }
}
