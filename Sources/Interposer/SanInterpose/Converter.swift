import CSanTrace
import SanTraceFormat
import SanTraceStore

/// Turns raw records, read in place in the rings, straight into trace events through the
/// store's allocation-free field writer: pointers and handles become capture ids, buffer
/// addresses become (registration, offset), and every COMPLETION is linked to the ENTER of the
/// call that started it (by overlapped address). Runs on the drain thread only.
///
/// Sequence numbers: the hot path numbers each thread's records from 0; the trace numbers each
/// thread's events from 1 with no gap unless events were lost. The converter keeps a per-thread
/// offset between the two, because it adds events (the COMPLETION of a call that finished inline)
/// and removes some (a repeated poll of an operation already reported complete).
///
/// The race between rings: a completion can be drained before the ENTER it belongs to (the
/// drain read the completing thread's ring just before the starting thread committed). The
/// converter answers `.deferred` for such a completion the first time; the drain then stops
/// reading that ring for the pass, so the thread's events stay in order, and offers the record
/// again in the next pass (`secondChance`), when it is linked, or written unlinked.
struct Converter {
    enum Outcome { case written, deferred, dropped }

    private struct OpenCall {
        var function: UInt8
        var sequence: UInt64
        var socket: UInt64
        var socketId: UInt64
        var overlapped: UInt64
        var a: UInt64
        var b: UInt64
    }


    private struct Pending {
        var thread: UInt32
        var sequence: UInt64
        var tsc: UInt64
        var function: UInt8
        var socket: UInt64
    }

    private var sockets = CaptureIds(invalid: UInt64.max)
    private var switchSockets = CaptureIds(invalid: UInt64.max)
    private var events = CaptureIds()
    private var overlapped = CaptureIds()
    private var registrations = Registrations()
    private var descriptors = Descriptors()
    /// Per thread (by capture number): trace sequence = record sequence + 1 + offset.
    private var offsets: [Int64] = []
    /// Per thread: its calls in progress, a stack of at most `maxDepth` (the hot path's bound).
    private var calls: [OpenCall] = []
    private var depths: [Int] = []
    private static let maxDepth = 16
    /// The shape table, held here: reaching `Shapes` statics costs a once-check per access.
    private let shapes = Shapes.table
    private let shapeTypes = Shapes.types
    /// Started operations by overlapped address.
    private var pending = RawMap<Pending>(filler: Pending(thread: 0, sequence: 0, tsc: 0, function: 0, socket: 0))
    /// Overlapped addresses whose last operation has completed (to recognise repeated polls).
    private var completed = RawMap<Bool>(filler: false)
    /// A descriptor first seen in the record being converted, defined after it is appended.
    private var remote: (id: UInt64, socket: UInt64, bytes: UnsafeRawBufferPointer)?

    /// Counters for the trace's metadata and the summary.
    private(set) var written: UInt64 = 0
    private(set) var unlinkedCompletions: UInt64 = 0
    private(set) var repeatedPolls: UInt64 = 0
    private(set) var deferrals: UInt64 = 0
    private(set) var inlineCompletions: UInt64 = 0
    /// WSPDATA of the first successful WSPStartupEx: "version: description".
    private(set) var providerVersion: String?

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// Converts one record of capture thread `thread` (1 … TraceFormat.maxThreadID).
    mutating func convert(_ rec: RawRecord, thread: UInt32, final: Bool, secondChance: Bool,
                          into writer: TraceWriter) throws -> Outcome {
        let t = Int(thread)
        if t >= self.offsets.count { self.grow(to: t + 1) }
        let seq = rec.sequence &+ 1 &+ UInt64(bitPattern: self.offsets[t])
        switch Int32(rec.kind) {
        case CSAN_KIND_ENTER: try self.enter(rec, thread, seq, writer)
        case CSAN_KIND_LEAVE: try self.leave(rec, thread, seq, writer)
        case CSAN_KIND_UPCALL: try self.upcall(rec, thread, seq, writer)
        case CSAN_KIND_COMPLETION:
            return try self.completion(rec, thread, seq, final: final, secondChance: secondChance, writer)
        case CSAN_KIND_LOOKUP: try self.lookup(rec, thread, seq, writer)
        default: throw Malformed(description: "record kind \(rec.kind)")
        }
        return .written
    }

    private mutating func grow(to n: Int) {
        let more = max(n, self.offsets.count * 2) - self.offsets.count
        self.offsets.append(contentsOf: repeatElement(0, count: more))
        self.depths.append(contentsOf: repeatElement(0, count: more))
        self.calls.append(contentsOf: repeatElement(OpenCall(function: 0, sequence: 0, socket: 0, socketId: 0, overlapped: 0,
                                                             a: 0, b: 0), count: more * Self.maxDepth))
    }

    // MARK: - Calls

    /// Raw scalar values of a record's fields (0 for compound ones), for what follows the append.
    private typealias Raws = InlineArray<16, UInt64>

    private mutating func enter(_ rec: RawRecord, _ thread: UInt32, _ seq: UInt64, _ writer: TraceWriter) throws {
        let shape = try self.shape(rec)
        var raws = Raws(repeating: 0)
        var socketId: UInt64 = 0
        self.remote = nil
        try writer.append(.enter, FunctionID(UInt16(rec.function)), thread: thread, threadSeq: seq, tsc: rec.tsc) { w in
            var f = rec.fields
            try self.fields(shape, &f, &w, &raws, creates: -1, socketId: &socketId)
        }
        self.defineRemote(writer)
        self.written &+= 1
        let ov = shape.overlapped >= 0 ? raws[Int(shape.overlapped)] : 0
        let t = Int(thread)
        let d = self.depths[t]
        if d < Self.maxDepth {  // deeper nesting is not recorded by the hot path either
            self.calls[t &* Self.maxDepth &+ d] = OpenCall(
                function: rec.function, sequence: seq, socket: shape.socket >= 0 ? raws[Int(shape.socket)] : 0,
                socketId: socketId, overlapped: ov, a: raws[1], b: raws[2])
            self.depths[t] = d &+ 1
        }
        if shape.startsOperation && ov != 0 {
            self.pending.set(ov, Pending(thread: thread, sequence: seq, tsc: rec.tsc, function: rec.function, socket: socketId))
            self.completed.remove(ov)
        }
    }

    /// The innermost call in progress of `function` on the thread; it and any calls above it
    /// (whose LEAVE was lost) end here.
    private mutating func popCall(_ thread: UInt32, _ function: UInt8) -> OpenCall? {
        let t = Int(thread)
        var i = self.depths[t]
        while i > 0 {
            i &-= 1
            let call = self.calls[t &* Self.maxDepth &+ i]
            if call.function == function {
                self.depths[t] = i
                return call
            }
        }
        return nil
    }

    private mutating func leave(_ rec: RawRecord, _ thread: UInt32, _ seq: UInt64, _ writer: TraceWriter) throws {
        let shape = try self.shape(rec)
        let fn = Int(rec.function)
        let call = self.popCall(thread, rec.function)
        if fn == Function.registerMemory, let call {
            var f = rec.fields
            let handle = f.u64()  // `ret`: the new registration's handle, recorded relative to it below
            if handle != 0 { _ = self.registrations.register(handle: handle, address: call.a, length: call.b) }
        }
        var raws = Raws(repeating: 0)
        var socketId: UInt64 = 0
        var payloadAt = -1
        try writer.append(.leave, FunctionID(UInt16(fn)), thread: thread, threadSeq: seq, tsc: rec.tsc) { w in
            var f = rec.fields
            payloadAt = try self.fields(shape, &f, &w, &raws, creates: shape.creates, socketId: &socketId)
        }
        self.written &+= 1
        let ret = shape.ret >= 0 ? raws[Int(shape.ret)] : 0
        if fn == Function.startup, ret == 0, self.providerVersion == nil { self.providerVersion = Self.version(rec) }
        guard let call else { return }
        switch fn {
        case Function.closeSocket where ret == 0: self.sockets.remove(call.socket)
        case Function.deregisterMemory where ret == 0: self.registrations.deregister(handle: call.a)
        default: break
        }
        guard shape.startsOperation else { return }
        let failed = Int32(truncatingIfNeeded: ret) == -1
        let err = shape.err >= 0 ? Int32(truncatingIfNeeded: raws[Int(shape.err)]) : 0
        if call.overlapped != 0 {
            if failed && err != WSA_IO_PENDING { self.pending.remove(call.overlapped) }  // never started
        } else if ret == 0 {
            try self.inlineCompletion(rec, call: call, shape: shape, raws: raws, payloadAt: payloadAt, thread, seq, writer)
        }
    }

    /// A data-path call without an overlapped structure that succeeded finished inside the call:
    /// a COMPLETION (via inline, on the calling thread, right after the LEAVE) keeps "every
    /// operation has a completion" true for readers.
    private mutating func inlineCompletion(_ rec: RawRecord, call: OpenCall, shape: Shape, raws: Raws, payloadAt: Int,
                                           _ thread: UInt32, _ leaveSeq: UInt64, _ writer: TraceWriter) throws {
        self.offsets[Int(thread)] &+= 1
        let bytes = shape.bytes >= 0 ? raws[Int(shape.bytes)] : 0
        let flags = shape.flags >= 0 ? raws[Int(shape.flags)] : 0
        try writer.append(.completion, .none, thread: thread, threadSeq: leaveSeq &+ 1, tsc: rec.tsc) { w in
            w.overlapped(0)
            w.callRef(thread: thread, sequence: call.sequence)
            w.u32(UInt32(call.function))
            w.socket(call.socketId)
            w.wsaError(0)
            w.u32(UInt32(truncatingIfNeeded: bytes))
            w.flags(UInt32(truncatingIfNeeded: flags))
            w.completionVia(UInt8(CSAN_VIA_INLINE))
            if payloadAt >= 0 {
                var f = RawFields(base: rec.base, offset: payloadAt, end: rec.size)
                self.payload(&f, &w)
                if f.overrun { throw Malformed(description: "payload past the record's end") }
            } else {
                w.payloadNone()
            }
        }
        self.written &+= 1
        self.inlineCompletions &+= 1
    }

    private mutating func upcall(_ rec: RawRecord, _ thread: UInt32, _ seq: UInt64, _ writer: TraceWriter) throws {
        let shape = try self.shape(rec)
        var raws = Raws(repeating: 0)
        var socketId: UInt64 = 0
        try writer.append(.upcall, FunctionID(UInt16(rec.function)), thread: thread, threadSeq: seq, tsc: rec.tsc) { w in
            var f = rec.fields
            try self.fields(shape, &f, &w, &raws, creates: shape.creates, socketId: &socketId)
        }
        self.written &+= 1
        let ret = shape.ret >= 0 ? raws[Int(shape.ret)] : 0
        switch Int(rec.function) {
        case Function.closeSocketHandle where ret == 0: self.switchSockets.remove(raws[0])
        case Function.closeEvent where ret != 0: self.events.remove(raws[0])
        default: break
        }
    }

    // MARK: - Completions and look-ups

    private mutating func completion(_ rec: RawRecord, _ thread: UInt32, _ seq: UInt64, final: Bool, secondChance: Bool,
                                     _ writer: TraceWriter) throws -> Outcome {
        var f = rec.fields
        let ov = f.u64(), status = f.u64(), bytes = f.u64(), flags = f.u64(), via = f.u64()
        var start = Pending(thread: 0, sequence: 0, tsc: 0, function: 0, socket: 0)
        var function = UInt32(FunctionID.none.rawValue)
        if let p = self.pending.get(ov), p.tsc <= rec.tsc {
            start = p
            function = UInt32(p.function)
            self.pending.remove(ov)
            self.completed.set(ov, true)
        } else if !final && !secondChance {
            self.deferrals &+= 1
            return .deferred
        } else if via == UInt64(CSAN_VIA_POLL) && self.completed.get(ov) != nil {
            // The same finished operation polled again: not a second completion.
            self.offsets[Int(thread)] &-= 1
            self.repeatedPolls &+= 1
            return .dropped
        } else {
            self.unlinkedCompletions &+= 1
        }
        try writer.append(.completion, .none, thread: thread, threadSeq: seq, tsc: rec.tsc) { w in
            w.overlapped(self.overlapped.id(ov))
            w.callRef(thread: start.thread, sequence: start.sequence)
            w.u32(function)
            w.socket(start.socket)
            w.wsaError(Int32(truncatingIfNeeded: status))
            w.u32(UInt32(truncatingIfNeeded: bytes))
            w.flags(UInt32(truncatingIfNeeded: flags))
            w.completionVia(UInt8(truncatingIfNeeded: min(via, 3)))
            self.payload(&f, &w)
            if f.overrun { throw Malformed(description: "completion record cut short") }
        }
        self.written &+= 1
        return .written
    }

    private mutating func lookup(_ rec: RawRecord, _ thread: UInt32, _ seq: UInt64, _ writer: TraceWriter) throws {
        try writer.append(.lookup, .none, thread: thread, threadSeq: seq, tsc: rec.tsc) { w in
            var f = rec.fields
            w.guid(f.bytes(16))
            w.u32(UInt32(truncatingIfNeeded: f.u64()))
            w.wsaError(Int32(truncatingIfNeeded: f.u64()))
            if f.overrun { throw Malformed(description: "look-up record cut short") }
        }
        self.written &+= 1
    }

    // MARK: - Fields

    private func shape(_ rec: RawRecord) throws -> Shape {
        let s = self.shapes[Shapes.slot(rec.kind, rec.function)]
        guard s.start >= 0, rec.function < 128 else {
            throw Malformed(description: "no schema shape for kind \(rec.kind), function \(rec.function)")
        }
        return s
    }

    /// Writes a record's fields in schema order. Returns the offset of its payload field (-1).
    @discardableResult
    private mutating func fields(_ shape: Shape, _ f: inout RawFields, _ w: inout EventFieldWriter, _ raws: inout Raws,
                                 creates: Int8, socketId: inout UInt64) throws -> Int {
        var payloadAt = -1
        let types = self.shapeTypes + Int(shape.start)
        for i in 0..<Int(shape.count) {
            let t = Int32(types[i])
            if t == CSAN_T_PAYLOAD { payloadAt = f.offset }
            let v = self.field(t, &f, &w, create: i == Int(creates), socketId: &socketId)
            if i < 16 { raws[i] = v }
        }
        if f.overrun { throw Malformed(description: "record cut short (\(f.end) bytes)") }
        return payloadAt
    }

    /// Converts one field; returns its raw scalar value (0 for compound types).
    @inline(__always)
    private mutating func field(_ t: Int32, _ f: inout RawFields, _ w: inout EventFieldWriter, create: Bool,
                                socketId: inout UInt64) -> UInt64 {
        switch t {
        case CSAN_T_I32:
            let v = f.u64(); w.i32(Int32(truncatingIfNeeded: v)); return v
        case CSAN_T_U32:
            let v = f.u64(); w.u32(UInt32(truncatingIfNeeded: v)); return v
        case CSAN_T_U64:
            let v = f.u64(); w.u64(v); return v
        case CSAN_T_BOOL:
            let v = f.u64(); w.bool(v & 0xFFFF_FFFF != 0); return v
        case CSAN_T_WSAERROR:
            let v = f.u64(); w.wsaError(Int32(truncatingIfNeeded: v)); return v
        case CSAN_T_FLAGS:
            let v = f.u64(); w.flags(UInt32(truncatingIfNeeded: v)); return v
        case CSAN_T_SOCKET:
            let v = f.u64()
            let id = create ? self.sockets.create(v) : self.sockets.id(v)
            if socketId == 0 { socketId = id }
            w.socket(id)
            return v
        case CSAN_T_SWITCHSOCKET:
            let v = f.u64(); w.switchSocket(create ? self.switchSockets.create(v) : self.switchSockets.id(v)); return v
        case CSAN_T_MEMHANDLE:
            let v = f.u64(); w.memHandle(self.registrations.id(handle: v)); return v
        case CSAN_T_OVERLAPPED:
            let v = f.u64(); w.overlapped(self.overlapped.id(v)); return v
        case CSAN_T_EVENT:
            let v = f.u64(); w.event(create ? self.events.create(v) : self.events.id(v)); return v
        case CSAN_T_ADDRESS:
            let v = f.u64()
            let (reg, off) = self.registrations.locate(v)
            w.address(registration: reg, offset: off)
            return v
        case CSAN_T_RDMADESCRIPTOR:
            w.rdmaDescriptor(self.descriptor(f.blob(), create: create, socket: socketId))
        case CSAN_T_BUFFERLIST:
            _ = f.u64()
            let n = f.entries(f.u64(), size: 16)
            w.bufferList(count: n)
            for _ in 0..<n {
                let len = f.u64(), addr = f.u64()
                let (reg, off) = self.registrations.locate(addr)
                w.buffer(length: UInt32(truncatingIfNeeded: len), registration: reg, offset: off)
            }
        case CSAN_T_BUFFERLISTEX:
            _ = f.u64()
            let n = f.entries(f.u64(), size: 24)
            w.bufferListEx(count: n)
            for _ in 0..<n {
                let len = f.u64(), addr = f.u64(), handle = f.u64()
                let (reg, off) = self.registrations.locate(addr)
                w.buffer(length: UInt32(truncatingIfNeeded: len), registration: reg, offset: off,
                         handle: self.registrations.id(handle: handle))
            }
        case CSAN_T_SOCKADDR: w.sockaddr(f.blob())
        case CSAN_T_BYTES: w.bytes(f.blob())
        case CSAN_T_DESCRIPTORBYTES: w.descriptorBytes(f.blob())
        case CSAN_T_GUID: w.guid(f.bytes(16))
        case CSAN_T_PAYLOAD: self.payload(&f, &w)
        case CSAN_T_COMPLETIONMODE:
            let v = f.u64(); w.completionMode(UInt8(truncatingIfNeeded: min(v, 255))); return v
        case CSAN_T_COMPLETIONVIA:
            let v = f.u64(); w.completionVia(UInt8(truncatingIfNeeded: min(v, 255))); return v
        default:
            f.skipRest()  // a type this converter does not know: the field writer reports the gap
        }
        return 0
    }

    /// payload: u64 mode, u64 count, then per buffer {u64 length, u64 xxh64} (hash) or
    /// {u64 length, u64 stored, bytes} (full).
    @inline(__always)
    private func payload(_ f: inout RawFields, _ w: inout EventFieldWriter) {
        let mode = f.u64(), count = f.u64()
        switch mode {
        case UInt64(CSAN_PAYLOAD_HASH):
            let n = f.entries(count, size: 16)
            w.payloadHashes(count: n)
            for _ in 0..<n {
                _ = f.u64()
                w.payloadHash(f.u64())
            }
        case UInt64(CSAN_PAYLOAD_FULL):
            let n = f.entries(count, size: 16)
            w.payloadFull(count: n)
            for _ in 0..<n {
                _ = f.u64()
                w.payloadChunk(f.bytes(f.u64()))
            }
        default:
            w.payloadNone()
        }
    }

    private mutating func descriptor(_ bytes: UnsafeRawBufferPointer, create: Bool, socket: UInt64) -> UInt64 {
        if create { return self.descriptors.create(bytes) }
        let (id, isNew) = self.descriptors.id(bytes)
        if isNew { self.remote = (id, socket, bytes) }
        return id
    }

    private mutating func defineRemote(_ writer: TraceWriter) {
        guard let r = self.remote else { return }
        self.remote = nil
        writer.defineRemoteDescriptor(id: r.id, socket: r.socket, bytes: r.bytes)
    }

    /// "2.2 tcp provider" from a WSPStartupEx LEAVE (`highVersion`, UTF-16 `description`).
    private static func version(_ rec: RawRecord) -> String {
        var f = rec.fields
        _ = f.u64()
        let high = f.u64()
        let d = f.blob()
        let units = stride(from: 0, to: d.count - 1, by: 2).map { UInt16(d[$0]) | UInt16(d[$0 + 1]) << 8 }
        let text = String(decoding: units.prefix { $0 != 0 }, as: UTF16.self)
        return "\(high & 0xFF).\(high >> 8 & 0xFF)" + (text.isEmpty ? "" : " \(text)")
    }
}
