import SanTraceFormat
import SanTraceStore

/// Reads a `.santrace` into an ``EndpointTrace``: pairs each LEAVE with its thread's open ENTER,
/// links each COMPLETION to the call that started the operation (by its `start` reference, else
/// by overlapped identity), and notes which WSPGetOverlappedResult poll returned which
/// completion. The trace is hostile input: a malformed record is skipped or left unpaired, never
/// trusted with an index.
enum TraceLoader {
    static func load(path: String, index: Int) throws -> EndpointTrace {
        let reader = try TraceReader(path: path)
        var name = path
        if let slash = name.lastIndex(of: "/") { name = String(name[name.index(after: slash)...]) }
        if name.hasSuffix(".santrace") { name = String(name.dropLast(9)) }
        let t = EndpointTrace(index: index, name: name, path: path, payloadPolicy: reader.payloadPolicy,
                              clock: reader.clock)
        t.descriptorBytes = try reader.descriptorBytes()
        if let argv0 = reader.argv.first, let base = argv0.split(separator: "/").last, !base.isEmpty { t.program = String(base) }
        var state = LoadState()
        // About two events per call: one reservation instead of a dozen copies of a large array.
        t.calls.reserveCapacity(Int(min(reader.eventCount / 2 + 16, 1 << 26)))
        let cursor = try reader.cursor()
        var r = EventRecord()
        while try cursor.next(into: &r) {
            t.events += 1
            switch r.kind {
            case .enter: state.enter(r, t)
            case .leave: state.leave(r, t)
            case .completion: state.completion(r, t)
            case .lookup:
                t.lookups.append((FunctionID(UInt16(truncatingIfNeeded: r.value(1))), Int32(truncatingIfNeeded: r.signed(2))))
            case .upcall: break
            }
        }
        t.threads = state.threadOrder.map { ($0, state.threadCalls[$0] ?? []) }
        return t
    }
}

/// What the loader keeps while reading: open calls per thread, operations awaiting completion.
private struct LoadState {
    var open: [UInt32: [Int32]] = [:]
    var threadCalls: [UInt32: [Int32]] = [:]
    var threadOrder: [UInt32] = []
    /// Operation-starting calls by (thread, thread sequence) of their ENTER.
    var operations: [UInt64: Int32] = [:]
    /// The latest operation started on each overlapped id (for completions without a start).
    var lastOnOverlapped: [UInt64: Int32] = [:]

    static func key(_ thread: UInt32, _ seq: UInt64) -> UInt64 { UInt64(thread) << 44 | (seq & ((1 << 44) - 1)) }

    mutating func enter(_ r: EventRecord, _ t: EndpointTrace) {
        guard let def = Schema.function(r.function), def.group != .upcall else { return }
        var c = RecordedCall(function: r.function, thread: r.thread, threadSeq: r.threadSeq, enterSeq: r.sequence,
                             enterTSC: r.tsc)
        EnterFields.decode(r, into: &c, t)
        let index = Int32(t.calls.count)
        t.calls.append(c)
        if self.threadCalls[r.thread] == nil { self.threadOrder.append(r.thread) }
        self.threadCalls[r.thread, default: []].append(index)
        self.open[r.thread, default: []].append(index)
        if def.startsOperation {
            self.operations[Self.key(r.thread, r.threadSeq)] = index
            if c.ov != 0 { self.lastOnOverlapped[c.ov] = index }
        }
    }

    mutating func leave(_ r: EventRecord, _ t: EndpointTrace) {
        guard var stack = self.open[r.thread],
              let i = stack.lastIndex(where: { t.calls[Int($0)].function == r.function }) else { return }
        let index = stack[i]
        stack.removeSubrange(i...)
        self.open[r.thread] = stack
        var c = t.calls[Int(index)]
        c.leaveSeq = r.sequence
        c.leaveTSC = r.tsc
        c.hasLeave = true
        LeaveFields.decode(r, into: &c, t)
        t.calls[Int(index)] = c
        // A synchronous data-path call that succeeded completed inside the call.
        if Schema.function(c.function)?.startsOperation == true, !c.startedOperation {
            self.operations[Self.key(c.thread, c.threadSeq)] = nil
        }
    }

    mutating func completion(_ r: EventRecord, _ t: EndpointTrace) {
        typealias F = FieldIndex.completion
        var target: Int32?
        if let ref = r.callRef(F.start), ref.thread != 0 {
            target = self.operations.removeValue(forKey: Self.key(ref.thread, ref.sequence))
        }
        let ov = r.value(F.ov)
        if target == nil, ov != 0, let last = self.lastOnOverlapped[ov], t.calls[Int(last)].completion < 0 {
            target = last
        }
        guard let call = target, Int(call) < t.calls.count else {
            t.unlinkedCompletions += 1
            return
        }
        var payload: Int32 = -1
        if let p = r.payload(F.payload), p != .none {
            payload = Int32(t.payloads.count)
            t.payloads.append(p)
        }
        let via = UInt8(truncatingIfNeeded: r.value(F.via))
        let index = Int32(t.completions.count)
        t.completions.append(RecordedCompletion(seq: r.sequence, tsc: r.tsc, thread: r.thread,
                                                status: Int32(truncatingIfNeeded: r.signed(F.status)),
                                                bytes: UInt32(truncatingIfNeeded: r.value(F.bytes)),
                                                flags: UInt32(truncatingIfNeeded: r.value(F.flags)), via: via,
                                                payload: payload))
        t.calls[Int(call)].completion = index
        if ov != 0, self.lastOnOverlapped[ov] == call { self.lastOnOverlapped[ov] = nil }
        // A poll that returned it: the WSPGetOverlappedResult open on the completing thread.
        if via == 2, let top = self.open[r.thread]?.last, t.calls[Int(top)].function == .WSPGetOverlappedResult {
            t.calls[Int(top)].pollReturned = call
        }
    }
}

/// Which ENTER field goes into which ``RecordedCall`` slot, per function.
private enum EnterFields {
    static func decode(_ r: EventRecord, into c: inout RecordedCall, _ t: EndpointTrace) {
        func blob(_ i: Int) -> Int32 {
            guard let b = r.byteArray(i) else { return -1 }
            t.blobs.append(b)
            return Int32(t.blobs.count - 1)
        }
        func buffers(_ i: Int) {
            guard let list = r.buffers(i) else { return }
            c.buffers = IndexRange(start: Int32(t.buffers.count), count: Int32(list.count))
            t.buffers.append(contentsOf: list)
        }
        func address(_ i: Int, length: UInt64) {
            guard let a = r.address(i) else { return }
            c.buffers = IndexRange(start: Int32(t.buffers.count), count: 1)
            t.buffers.append(BufferRef(length: UInt32(truncatingIfNeeded: length), registration: a.registration,
                                       offset: a.offset))
        }
        func payload(_ i: Int) {
            guard let p = r.payload(i), p != .none else { return }
            c.payload = Int32(t.payloads.count)
            t.payloads.append(p)
        }
        func i(_ k: Int) -> Int64 { r.signed(k) }
        func u(_ k: Int) -> UInt64 { r.value(k) }
        switch r.function {
        case .WSPAccept:
            c.socket = u(0); c.p0 = i(1)
        case .WSPBind, .WSPConnect, .WSPJoinLeaf:
            c.socket = u(0); c.blob = blob(1)
        case .WSPAddressToString:
            c.blob = blob(0)
        case .WSPAsyncSelect:
            c.socket = u(0); c.p0 = i(1)
        case .WSPCloseSocket, .WSPGetPeerName, .WSPGetSockName, .WSPGetQOSByName, .WSPRecvDisconnect,
             .WSPSendDisconnect:
            c.socket = u(0)
        case .WSPDuplicateSocket:
            c.socket = u(0); c.p0 = i(1)
        case .WSPEnumNetworkEvents:
            c.socket = u(0); c.object = u(1)
        case .WSPEventSelect:
            c.socket = u(0); c.object = u(1); c.p0 = i(2)
        case .WSPGetOverlappedResult:
            c.socket = u(0); c.ov = u(1); c.p0 = i(2)
        case .WSPGetSockOpt:
            c.socket = u(0); c.p0 = i(1); c.p1 = i(2); c.p2 = i(3)
        case .WSPIoctl:
            c.socket = u(0); c.p0 = i(1); c.blob = blob(2); c.p1 = i(3); c.ov = u(4); c.mode = UInt8(truncatingIfNeeded: u(5))
        case .WSPListen:
            c.socket = u(0); c.p0 = i(1)
        case .WSPRecv:
            c.socket = u(0); buffers(1); c.p0 = i(2); c.ov = u(3); c.mode = UInt8(truncatingIfNeeded: u(4))
        case .WSPRecvFrom:
            c.socket = u(0); buffers(1); c.ov = u(2); c.mode = UInt8(truncatingIfNeeded: u(3))
        case .WSPSelect:
            c.p0 = i(0)
        case .WSPSend:
            c.socket = u(0); buffers(1); c.p0 = i(2); c.ov = u(3); c.mode = UInt8(truncatingIfNeeded: u(4)); payload(5)
        case .WSPSendTo:
            c.socket = u(0); buffers(1); c.blob = blob(2); c.ov = u(3); c.mode = UInt8(truncatingIfNeeded: u(4))
        case .WSPSetSockOpt:
            c.socket = u(0); c.p0 = i(1); c.p1 = i(2); c.blob = blob(3)
        case .WSPShutdown:
            c.socket = u(0); c.p0 = i(1)
        case .WSPSocket:
            c.p0 = i(0); c.p1 = i(1); c.p2 = i(2); c.p3 = i(3)
        case .WSPStringToAddress:
            c.p0 = i(0)
        case .WSPStartupEx:
            c.p0 = i(0)
        case .WSPRegisterMemory:
            c.socket = u(0); address(1, length: u(2)); c.p0 = i(2); c.p1 = i(3)
        case .WSPDeregisterMemory:
            c.socket = u(0); c.object = u(1)
        case .WSPRegisterRdmaMemory:
            c.socket = u(0); address(1, length: u(2)); c.p0 = i(2); c.p1 = i(3); c.p2 = i(4)
        case .WSPDeregisterRdmaMemory:
            c.socket = u(0); c.object = u(1); c.p2 = i(2)
        case .WSPRdmaWrite, .WSPRdmaRead:
            c.socket = u(0); buffers(1); c.object = u(2); c.p0 = i(3); c.p1 = i(4); c.p2 = i(5); c.ov = u(6)
            c.mode = UInt8(truncatingIfNeeded: u(7))
            if r.function == .WSPRdmaWrite { payload(8) }
        case .WSPMemoryRegistrationCacheCallback:
            address(0, length: u(1)); c.p0 = i(1)
        default:
            break
        }
    }
}

/// Which LEAVE field goes into which ``RecordedCall`` slot, per function.
private enum LeaveFields {
    static func decode(_ r: EventRecord, into c: inout RecordedCall, _ t: EndpointTrace) {
        func blob(_ i: Int) -> Int32 {
            guard let b = r.byteArray(i) else { return -1 }
            t.blobs.append(b)
            return Int32(t.blobs.count - 1)
        }
        let err = Int32(truncatingIfNeeded: r.signed(1))
        switch r.function {
        case .WSPAccept, .WSPSocket, .WSPJoinLeaf:
            c.retObject = r.value(0); c.err = err; c.ret = c.retObject == 0 ? -1 : 0
            if r.function == .WSPAccept { c.leaveBlob = blob(2) }
        case .WSPRegisterMemory:
            c.retObject = r.value(0); c.err = err; c.ret = c.retObject == 0 ? -1 : 0
        case .WSPStartupEx:
            c.ret = r.signed(0); c.q0 = r.signed(1)
        case .WSPEnumNetworkEvents:
            c.ret = r.signed(0); c.err = err; c.q0 = r.signed(2); c.q1 = r.signed(3); c.q2 = r.signed(4)
        case .WSPGetOverlappedResult:
            c.ret = r.signed(0); c.err = err; c.bytes = UInt32(truncatingIfNeeded: r.value(2)); c.q0 = r.signed(3)
        case .WSPGetPeerName, .WSPGetSockName, .WSPGetSockOpt:
            c.ret = r.signed(0); c.err = err; c.leaveBlob = blob(2)
        case .WSPIoctl:
            c.ret = r.signed(0); c.err = err; c.bytes = UInt32(truncatingIfNeeded: r.value(2)); c.leaveBlob = blob(3)
        case .WSPRecv:
            c.ret = r.signed(0); c.err = err; c.bytes = UInt32(truncatingIfNeeded: r.value(2)); c.q0 = r.signed(3)
            if let p = r.payload(4), p != .none {
                c.leavePayload = Int32(t.payloads.count)
                t.payloads.append(p)
            }
        case .WSPRecvFrom, .WSPSend, .WSPSendTo, .WSPRdmaWrite, .WSPRdmaRead:
            c.ret = r.signed(0); c.err = err; c.bytes = UInt32(truncatingIfNeeded: r.value(2))
        case .WSPRegisterRdmaMemory:
            c.ret = r.signed(0); c.err = err; c.q0 = r.signed(2); c.retObject = r.value(3); c.leaveBlob = blob(4)
            if c.retObject != 0, c.ret == 0, let b = r.byteArray(4), !b.isEmpty { t.descriptorBytes[c.retObject] = b }
        default:
            c.ret = r.signed(0); c.err = err
        }
    }
}
