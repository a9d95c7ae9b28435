import CSanTrace

/// Turns raw records (in timestamp order) into trace events: pointers and handles become capture
/// ids, and every COMPLETION is linked to the ENTER of the call that started it (by overlapped
/// identity). Runs on the drain thread only.
///
/// The race: a completion can be drained in an earlier pass than the ENTER it belongs to (the
/// drain read the completing thread's ring after, and the starting thread's ring before, the
/// start was committed). An unmatched completion is therefore held back one pass (`deferred`),
/// and only then emitted unlinked, or dropped when it is a repeated poll of an operation whose
/// completion was already seen.
struct Converter {
    private let schema = FunctionInfo.table
    private var sockets = CaptureIds(none: [0, UInt64.max])
    private var switchSockets = CaptureIds(none: [0, UInt64.max])
    private var events = CaptureIds()
    private var overlapped = CaptureIds()
    private var registrations = Registrations()
    private var descriptors: [[UInt8]: UInt64] = [:]
    private var nextDescriptor: UInt64 = 1
    /// Started operations by overlapped address.
    private var pending: [UInt64: Pending] = [:]
    /// Overlapped addresses whose last operation has completed (to recognise repeated polls).
    private var completed: Set<UInt64> = []
    /// Calls in progress per thread (ENTER seen, LEAVE not yet): what a LEAVE needs from its ENTER.
    private var open: [UInt32: [RawEvent]] = [:]
    private var derivedSequence: UInt64 = 0
    private(set) var stats = CaptureStats()

    private struct Pending {
        var thread: UInt32
        var sequence: UInt64
        var timestamp: UInt64
        var function: UInt8
        var socket: UInt64
    }

    /// Sinks for the output; descriptor bytes are defined before the first event naming them.
    struct Output {
        var event: (TraceEvent) throws -> Void
        var descriptor: (UInt64, [UInt8]) throws -> Void
    }

    /// Converts one record. Returns the record when it must wait for the next pass.
    mutating func convert(_ raw: RawEvent, final: Bool, into out: Output) throws -> RawEvent? {
        switch Int32(raw.kind) {
        case CSAN_KIND_ENTER: try self.enter(raw, out)
        case CSAN_KIND_LEAVE: try self.leave(raw, out)
        case CSAN_KIND_UPCALL: try self.upcall(raw, out)
        case CSAN_KIND_LOOKUP:
            let e = TraceEvent(kind: .lookup, function: 0, thread: raw.thread, sequence: raw.sequence,
                               timestamp: raw.timestamp, flags: raw.flags,
                               fields: [self.guid(raw.values[0]), .uint(raw.values[1].scalar),
                                        .int(Int64(Int32(truncatingIfNeeded: raw.values[2].scalar)))])
            try self.emit(e, out)
        case CSAN_KIND_COMPLETION: return try self.completion(raw, final: final, out)
        default: break
        }
        return nil
    }

    // MARK: - Calls

    private mutating func enter(_ raw: RawEvent, _ out: Output) throws {
        let info = self.schema[Int(raw.function)]
        self.open[raw.thread, default: []].append(raw)
        let fields = try self.values(raw, types: info.enterTypes, out, creates: [])
        if info.startsOp, let i = info.enterOv {
            let ov = raw.values[i].scalar
            if ov != 0 {
                let s = info.enterSocket.map { fields[$0].uintValue ?? 0 } ?? 0
                self.pending[ov] = Pending(thread: raw.thread, sequence: raw.sequence, timestamp: raw.timestamp,
                                           function: raw.function, socket: s)
                self.completed.remove(ov)
            }
        }
        try self.emit(TraceEvent(kind: .enter, function: raw.function, thread: raw.thread, sequence: raw.sequence,
                                 timestamp: raw.timestamp, flags: raw.flags, fields: fields), out)
    }

    private mutating func popEnter(_ raw: RawEvent) -> RawEvent? {
        guard var stack = self.open[raw.thread], let i = stack.lastIndex(where: { $0.function == raw.function }) else {
            return nil
        }
        let e = stack[i]
        stack.removeSubrange(i...)
        self.open[raw.thread] = stack
        return e
    }

    private mutating func leave(_ raw: RawEvent, _ out: Output) throws {
        let info = self.schema[Int(raw.function)]
        let enter = self.popEnter(raw)
        let ret = info.leaveRet.map { raw.values[$0].scalar } ?? 0
        let err = info.leaveErr.map { Int32(truncatingIfNeeded: raw.values[$0].scalar) } ?? 0
        let failed = Int64(bitPattern: ret) == -1 || Int32(truncatingIfNeeded: ret) == -1
        // What this call creates: new lifetimes start here, whatever the raw value was before.
        var creates: Set<Int> = []
        switch info.name {
        case "WSPSocket", "WSPAccept", "WSPJoinLeaf", "WSPRegisterRdmaMemory":
            if let r = info.leaveRet { creates.insert(r) }
            if info.name == "WSPRegisterRdmaMemory", let d = info.leaveIndex("descriptor") { creates.insert(d) }
        default: break
        }
        if info.name == "WSPRegisterMemory", let e = enter, ret != 0 {
            _ = self.registrations.register(handle: ret, address: e.values[1].scalar, length: e.values[2].scalar)
        }
        let fields = try self.values(raw, types: info.leaveTypes, out, creates: creates)
        try self.emit(TraceEvent(kind: .leave, function: raw.function, thread: raw.thread, sequence: raw.sequence,
                                 timestamp: raw.timestamp, flags: raw.flags, fields: fields), out)
        guard let enter else { return }
        // Lifetimes that end with this call.
        switch info.name {
        case "WSPCloseSocket" where ret == 0: self.sockets.remove(enter.values[0].scalar)
        case "WSPDeregisterMemory" where ret == 0: self.registrations.deregister(handle: enter.values[1].scalar)
        default: break
        }
        if info.startsOp, let i = info.enterOv {
            let ov = enter.values[i].scalar
            if ov != 0, failed, err != WSA_IO_PENDING {
                self.pending[ov] = nil  // never started: no completion will come
            } else if ov == 0, ret == 0 {
                try self.inlineCompletion(enter: enter, leave: raw, leaveFields: fields, info: info, out)
            }
        }
    }

    /// A data-path call without an overlapped structure that succeeded finished inside the call:
    /// a derived COMPLETION (via inline, thread 0) keeps "every operation has a completion" true.
    private mutating func inlineCompletion(enter: RawEvent, leave: RawEvent, leaveFields: [TraceValue],
                                           info: FunctionInfo, _ out: Output) throws {
        let socket = info.enterSocket.map { self.sockets.id(enter.values[$0].scalar) } ?? 0
        let bytes = info.leaveIndex("bytes").map { leaveFields[$0] } ?? .uint(0)
        let flags = info.leaveIndex("flags").map { leaveFields[$0] } ?? .uint(0)
        let payload = info.leaveIndex("payload").map { leaveFields[$0] } ?? .payload(.empty)
        self.derivedSequence += 1
        let e = TraceEvent(kind: .completion, function: 0, thread: 0, sequence: self.derivedSequence - 1,
                           timestamp: leave.timestamp, fields: [
                               .object(0), .callRef(thread: enter.thread, sequence: enter.sequence),
                               .uint(UInt64(enter.function)), .object(socket), .int(0), bytes, flags,
                               .uint(UInt64(CSAN_VIA_INLINE)), payload,
                           ])
        try self.emit(e, out)
    }

    private mutating func upcall(_ raw: RawEvent, _ out: Output) throws {
        let info = self.schema[Int(raw.function)]
        var creates: Set<Int> = []
        if info.name == "WPUCreateSocketHandle" || info.name == "WPUCreateEvent", let r = info.leaveRet {
            creates.insert(r)
        }
        let fields = try self.values(raw, types: info.leaveTypes, out, creates: creates)
        try self.emit(TraceEvent(kind: .upcall, function: raw.function, thread: raw.thread, sequence: raw.sequence,
                                 timestamp: raw.timestamp, flags: raw.flags, fields: fields), out)
        let ret = info.leaveRet.map { raw.values[$0].scalar } ?? 0
        switch info.name {
        case "WPUCloseSocketHandle" where ret == 0: self.switchSockets.remove(raw.values[0].scalar)
        case "WPUCloseEvent" where ret != 0: self.events.remove(raw.values[0].scalar)
        default: break
        }
    }

    // MARK: - Completions

    private mutating func completion(_ raw: RawEvent, final: Bool, _ out: Output) throws -> RawEvent? {
        let ov = raw.values[0].scalar
        let via = raw.values[4].scalar
        var start: (UInt32, UInt64) = (0, 0)
        var function: UInt8 = 0
        var socket: UInt64 = 0
        if let p = self.pending[ov], p.timestamp <= raw.timestamp {
            start = (p.thread, p.sequence)
            function = p.function
            socket = p.socket
            self.pending[ov] = nil
            self.completed.insert(ov)
        } else if !raw.deferred && !final {
            var held = raw
            held.deferred = true
            self.stats.deferredCompletions += 1
            return held
        } else if via == UInt64(CSAN_VIA_POLL) && self.completed.contains(ov) {
            self.stats.repeatedPolls += 1  // the same finished operation polled again
            return nil
        } else {
            self.stats.unlinkedCompletions += 1
        }
        let payload: TracePayload
        if case .payload(let mode, let entries) = raw.values[5] {
            payload = TracePayload(mode: TracePayload.Mode(rawValue: mode) ?? .none, entries: entries)
        } else {
            payload = .empty
        }
        let e = TraceEvent(kind: .completion, function: 0, thread: raw.thread, sequence: raw.sequence,
                           timestamp: raw.timestamp, flags: raw.flags, fields: [
                               .object(self.overlapped.id(ov)), .callRef(thread: start.0, sequence: start.1),
                               .uint(UInt64(function)), .object(socket),
                               .int(Int64(Int32(truncatingIfNeeded: raw.values[1].scalar))),
                               .uint(raw.values[2].scalar & 0xffff_ffff), .uint(raw.values[3].scalar & 0xffff_ffff),
                               .uint(via), .payload(payload),
                           ])
        try self.emit(e, out)
        return nil
    }

    // MARK: - Values

    private mutating func emit(_ e: TraceEvent, _ out: Output) throws {
        self.stats.events += 1
        try out.event(e)
    }

    private func guid(_ v: RawValue) -> TraceValue {
        if case .guid(let b) = v { return .guid(b) }
        return .guid(Array(repeating: 0, count: 16))
    }

    private mutating func values(_ raw: RawEvent, types: [Int32], _ out: Output, creates: Set<Int>) throws
        -> [TraceValue]
    {
        var result: [TraceValue] = []
        result.reserveCapacity(types.count)
        for (i, t) in types.enumerated() where i < raw.values.count {
            result.append(try self.value(raw.values[i], type: t, create: creates.contains(i), out))
        }
        return result
    }

    private mutating func value(_ v: RawValue, type t: Int32, create: Bool, _ out: Output) throws -> TraceValue {
        let x = v.scalar
        switch t {
        case CSAN_T_I32, CSAN_T_WSAERROR: return .int(Int64(Int32(truncatingIfNeeded: x)))
        case CSAN_T_U32, CSAN_T_FLAGS: return .uint(x & 0xffff_ffff)
        case CSAN_T_BOOL: return .uint(x & 0xffff_ffff != 0 ? 1 : 0)
        case CSAN_T_SOCKET: return .object(create ? self.sockets.create(x) : self.sockets.id(x))
        case CSAN_T_SWITCHSOCKET: return .object(create ? self.switchSockets.create(x) : self.switchSockets.id(x))
        case CSAN_T_MEMHANDLE: return .object(self.registrations.id(handle: x))
        case CSAN_T_OVERLAPPED: return .object(self.overlapped.id(x))
        case CSAN_T_EVENT: return .object(create ? self.events.create(x) : self.events.id(x))
        case CSAN_T_ADDRESS:
            let (reg, off) = self.registrations.locate(x)
            return .address(registration: reg, offset: off)
        case CSAN_T_RDMADESCRIPTOR: return .object(try self.descriptor(v.blobBytes, create: create, out))
        case CSAN_T_BUFFERLIST, CSAN_T_BUFFERLISTEX:
            guard case .buffers(let count, let bufs) = v else { return .buffers(count: 0, []) }
            return .buffers(count: count, bufs.map { b in
                let (reg, off) = self.registrations.locate(b.address)
                let handle = t == CSAN_T_BUFFERLISTEX ? self.registrations.id(handle: b.handle) : 0
                return TraceBuffer(length: b.length & 0xffff_ffff, registration: reg, offset: off, handle: handle)
            })
        case CSAN_T_SOCKADDR, CSAN_T_BYTES, CSAN_T_DESCRIPTORBYTES:
            guard case .blob(let length, let bytes) = v else { return .bytes(length: 0, []) }
            return .bytes(length: length, bytes)
        case CSAN_T_PAYLOAD:
            guard case .payload(let mode, let entries) = v else { return .payload(.empty) }
            return .payload(TracePayload(mode: TracePayload.Mode(rawValue: mode) ?? .none, entries: entries))
        case CSAN_T_GUID: return self.guid(v)
        default: return .uint(x)  // u64, completionMode, completionVia
        }
    }

    private mutating func descriptor(_ bytes: [UInt8], create: Bool, _ out: Output) throws -> UInt64 {
        if bytes.isEmpty { return 0 }
        if !create, let id = self.descriptors[bytes] { return id }
        let id = self.nextDescriptor
        self.nextDescriptor += 1
        self.descriptors[bytes] = id
        try out.descriptor(id, bytes)
        return id
    }
}

/// Per-function facts the converter needs, read once from the compiled-in schema.
struct FunctionInfo {
    var name = ""
    var startsOp = false
    var enterTypes: [Int32] = []
    var leaveTypes: [Int32] = []
    var enterNames: [String] = []
    var leaveNames: [String] = []
    var enterOv: Int?
    var enterSocket: Int?
    var leaveRet: Int?
    var leaveErr: Int?

    func leaveIndex(_ name: String) -> Int? { self.leaveNames.firstIndex(of: name) }

    static let table: [FunctionInfo] = (0..<80).map { f in
        var i = FunctionInfo()
        let fn = UInt32(f)
        guard csan_schema_has(fn) != 0 else { return i }
        i.name = String(cString: csan_schema_name(fn))
        i.startsOp = csan_schema_starts_op(fn) != 0
        let upcall = csan_schema_group(fn) == CSAN_GROUP_UPCALL
        if !upcall {
            let n = csan_schema_field_count(fn, CSAN_KIND_ENTER)
            i.enterTypes = (0..<n).map { csan_schema_field_type(fn, CSAN_KIND_ENTER, $0) }
            i.enterNames = (0..<n).map { String(cString: csan_schema_field_name(fn, CSAN_KIND_ENTER, $0)) }
        }
        let m = csan_schema_field_count(fn, CSAN_KIND_LEAVE)
        i.leaveTypes = (0..<m).map { csan_schema_field_type(fn, CSAN_KIND_LEAVE, $0) }
        i.leaveNames = (0..<m).map { String(cString: csan_schema_field_name(fn, CSAN_KIND_LEAVE, $0)) }
        i.enterOv = i.enterTypes.firstIndex(of: CSAN_T_OVERLAPPED)
        i.enterSocket = i.enterTypes.firstIndex(of: CSAN_T_SOCKET)
        i.leaveRet = i.leaveNames.firstIndex(of: "ret")
        i.leaveErr = i.leaveNames.firstIndex(of: "err")
        return i
    }
}
