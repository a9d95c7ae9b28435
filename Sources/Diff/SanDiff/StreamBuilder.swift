import SanTraceFormat
import SanTraceStore

/// Builds an ``EndpointStream`` in one pass over a trace's events (the low-level cursor, no
/// allocation per event apart from buffer lists and the stream's own growth).
///
/// What it drops or keeps aside, and why:
/// - a WSPGetOverlappedResult poll that returned WSA_IO_INCOMPLETE (996) is not a call of the
///   stream: how many polls find an operation still running is a matter of timing. The
///   completion a poll eventually returns is linked to the operation and compared there;
/// - upcalls are counted per function, not aligned (the provider's threads make them, when its
///   timing says so); a WPUCompleteOverlappedRequest's content is the COMPLETION it produces;
/// - descriptor bytes (random keys), the raw address of unregistered memory, and ports of
///   socket addresses (ephemeral) are not compared; addresses compare by family.
struct StreamBuilder {
    let stream: EndpointStream
    let clock: ClockCalibration
    private var ranks = ThreadRanks()
    private var ids = IdNormalizer()
    /// Open calls per thread rank − 1.
    private var open: [[OpenCall]] = []
    /// Started operations by (thread, thread sequence) of their ENTER, until their completion.
    private var operations = OpenTable(empty: Operation(rank: 0, index: 0, tsc: 0, cell: 0))
    /// Events per thread capture id (from the segment index): what each thread's stream reserves.
    private var threadEvents: [UInt32: UInt64] = [:]
    private let roles = ShapeRoles.shared
    private let comparePayloads: Bool
    private var firstTSC: UInt64 = 0
    private var lastTSC: UInt64 = 0
    private var ticksPerNs: Double

    static let maxOperations = 1 << 20
    /// Index of a `length` u32 field in each function's ENTER (the size of a registration).
    private static let lengthField: [Int8] = {
        var t = [Int8](repeating: -1, count: 128)
        for f in Schema.functions where f.id < 128 {
            if let i = f.enter.firstIndex(where: { $0.name == "length" && $0.type == .u32 }) { t[Int(f.id)] = Int8(i) }
        }
        return t
    }()
    private static let completionPayload = Schema.completionFields.firstIndex { $0.name == "payload" } ?? -1
    private static let completionVia = Schema.completionFields.firstIndex { $0.name == "via" } ?? -1

    private struct OpenCall {
        var function: FunctionID
        /// Index in the thread's items; -1 while deferred (polls are appended at their LEAVE).
        var index: Int32
        var threadSeq: UInt64
        var tsc: UInt64
        var cell: Int32
        var deferred: CallItem?
    }

    private struct Operation {
        var rank: UInt16
        var index: Int32
        var tsc: UInt64
        var cell: Int32
    }

    init(endpoint: Endpoint, reader: TraceReader, ranks: [UInt32: Int] = [:]) {
        self.ranks = ThreadRanks(plan: ranks)
        self.stream = EndpointStream(endpoint: endpoint)
        self.stream.payloadPolicy = reader.payloadPolicy
        self.clock = reader.clock
        self.comparePayloads = reader.payloadPolicy != .none
        self.ticksPerNs = reader.clock.tscHz / 1e9
    }

    /// Reads every event of the endpoint's trace, its threads ranked by `ranks` (a
    /// ``ThreadMatching`` plan); `progress` is told how many events were read, every 64 Ki.
    static func build(_ endpoint: Endpoint, ranks: [UInt32: Int] = [:], progress: ((UInt64) -> Void)? = nil) throws -> EndpointStream {
        let reader = try TraceReader(path: endpoint.path)
        var b = StreamBuilder(endpoint: endpoint, reader: reader, ranks: ranks)
        b.threadEvents = try Self.threadEvents(endpoint.path)
        let cursor = try reader.cursor()
        var r = EventRecord()
        var n: UInt64 = 0
        while try cursor.next(into: &r) {
            b.observe(&r)
            n &+= 1
            if n & 0xFFFF == 0 { progress?(0x10000) }
        }
        progress?(n & 0xFFFF)
        b.finish()
        return b.stream
    }

    /// Events per thread, from `segment_threads`.
    static func threadEvents(_ path: String) throws -> [UInt32: UInt64] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        let q = try db.prepare("SELECT thread, sum(events) FROM segment_threads GROUP BY thread")
        var out: [UInt32: UInt64] = [:]
        while try q.step() { out[UInt32(truncatingIfNeeded: q.int(0))] = UInt64(max(0, q.int(1))) }
        return out
    }

    mutating func finish() {
        if self.stream.events > 0 { self.stream.samples.spanNs = self.clock.nanoseconds(from: self.firstTSC, to: self.lastTSC) }
        self.stream.samples.finish(self.clock)
    }

    @inline(__always)
    private func nanoseconds(_ from: UInt64, _ to: UInt64) -> UInt64 {
        to >= from ? UInt64(max(0, saturatingInt64(Double(to - from) / self.ticksPerNs))) : 0
    }

    /// `r` is `inout` only to be passed by address: a borrowed `var` is copied (192 bytes) per call.
    mutating func observe(_ r: inout EventRecord) {
        if self.stream.events == 0 { self.firstTSC = r.tsc }
        self.stream.events &+= 1
        if r.tsc > self.lastTSC { self.lastTSC = r.tsc }
        if r.tsc < self.firstTSC { self.firstTSC = r.tsc }
        let ro = self.roles.roles(r)
        switch r.kind {
        case .enter: self.enter(r, ro)
        case .leave: self.leave(r, ro)
        case .completion: self.completion(r, ro)
        case .lookup: self.lookup(r)
        case .upcall: self.stream.upcalls[r.function.rawValue, default: 0] &+= 1
        }
    }

    /// The rank of a thread that makes calls, with its per-thread state allocated.
    @inline(__always)
    private mutating func callerRank(_ thread: UInt32) -> Int {
        let rank = self.ranks.rank(thread)
        if rank > self.stream.threads.count || self.stream.threads[rank - 1].thread != thread {
            self.allocate(thread, rank)
        }
        return rank
    }

    private mutating func allocate(_ thread: UInt32, _ rank: Int) {
        while self.stream.threads.count < rank {
            self.stream.threads.append(ThreadStream(thread: 0))  // a rank of the plan not seen (yet)
            self.open.append([])
        }
        self.stream.threads[rank - 1].thread = thread
        // About one call per two events: growing by doubling would copy the stream ~twice.
        self.stream.threads[rank - 1].items.reserveCapacity(Int(min(self.threadEvents[thread] ?? 0, 1 << 28) / 2 + 16))
    }

    // MARK: Calls

    private mutating func enter(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles) {
        let rank = self.callerRank(r.thread)
        var h: UInt64 = UInt64(r.function.rawValue)
        var socket: UInt32 = 0
        var socketSeen = false
        var bytes: UInt64 = 0
        var item = CallItem(seq: r.sequence, key: 0)
        for i in 0..<r.fieldCount {
            guard let t = r.type(i) else { continue }
            if let k = IdNormalizer.kind(t) {
                let v = self.ids.id(k, r.value(i), rank: rank)
                if t == .socket && !socketSeen {
                    socket = v
                    socketSeen = true
                } else {
                    h = mix(h, UInt64(v))
                }
                continue
            }
            switch t {
            case .address:
                let a = r.address(i)!
                h = mix(h, UInt64(self.ids.id(.memHandle, a.registration, rank: rank)))
                if a.registration != 0 { h = mix(h, a.offset) }
            case .bufferList, .bufferListEx:
                for b in r.buffers(i) ?? [] {
                    bytes &+= UInt64(b.length)
                    h = mix(h, UInt64(b.length))
                    h = mix(h, UInt64(self.ids.id(.memHandle, b.registration, rank: rank)))
                    if b.registration != 0 { h = mix(h, b.offset) }
                    if t == .bufferListEx { h = mix(h, UInt64(self.ids.id(.memHandle, b.handle, rank: rank))) }
                }
            case .sockaddr: h = mix(h, Self.family(r, i))
            case .bytes, .guid: h = mix(h, r.bytes(i).map(fnv) ?? 0)
            case .descriptorBytes: break
            case .payload: self.payload(r, i, into: &item)
            default: h = mix(h, r.value(i))
            }
        }
        let fn = r.function
        if bytes == 0, fn.rawValue < 128, Self.lengthField[Int(fn.rawValue)] >= 0 {
            bytes = r.value(Int(Self.lengthField[Int(fn.rawValue)]))
        }
        item.key = UInt64(fn.rawValue) << 32 | UInt64(socket)
        item.args = h
        if ro.startsOperation { item.flags |= CallItem.startsOperation }
        item.bytes = bytes
        let cell = PerformanceSamples.cell(fn, SizeClass.of(bytes))
        self.stream.samples.bytes[Int(cell)] &+= bytes
        var call = OpenCall(function: fn, index: -1, threadSeq: r.threadSeq, tsc: r.tsc, cell: cell, deferred: nil)
        if fn == .WSPGetOverlappedResult {
            call.deferred = item
        } else {
            call.index = Int32(self.stream.threads[rank - 1].items.count)
            self.stream.threads[rank - 1].items.append(item)
        }
        if self.open[rank - 1].count < 64 { self.open[rank - 1].append(call) }
        if ro.startsOperation, call.index >= 0, self.operations.count < Self.maxOperations {
            self.operations.insert(operationKey(r.thread, r.threadSeq),
                                   Operation(rank: UInt16(rank), index: call.index, tsc: r.tsc, cell: cell))
        }
    }

    private mutating func leave(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles) {
        let rank = self.callerRank(r.thread)
        let fn = r.function
        guard let k = self.open[rank - 1].lastIndex(where: { $0.function == fn }) else {
            self.stream.orphanLeaves &+= 1
            return
        }
        let call = self.open[rank - 1][k]
        self.open[rank - 1].removeSubrange(k...)
        var item = call.index >= 0 ? self.stream.threads[rank - 1].items[Int(call.index)] : call.deferred!
        var h: UInt64 = 0
        for i in 0..<r.fieldCount {
            guard let t = r.type(i) else { continue }
            if i == Int(ro.error) {
                item.err = Int32(truncatingIfNeeded: r.signed(i))
            } else if i == Int(ro.ret) {
                if let kind = IdNormalizer.kind(t) {
                    item.ret = Int64(self.ids.id(kind, r.value(i), rank: rank))
                } else {
                    item.ret = t == .i32 || t == .wsaError ? r.signed(i) : Int64(bitPattern: r.value(i))
                }
            } else if i == Int(ro.bytes) {
                item.resultBytes = UInt32(truncatingIfNeeded: r.value(i))
            } else if let kind = IdNormalizer.kind(t) {
                h = mix(h, UInt64(self.ids.id(kind, r.value(i), rank: rank)))
            } else {
                switch t {
                case .payload:
                    var scratch = CallItem(seq: 0, key: 0)
                    self.payload(r, i, into: &scratch)
                    item.resultPayload = scratch.payload
                    item.resultPayloadKind = scratch.flags
                case .sockaddr: h = mix(h, Self.family(r, i))
                // WSPIoctl output can hold pointers (extension functions): not comparable.
                case .bytes where r.function != .WSPIoctl: h = mix(h, r.bytes(i).map(fnv) ?? 0)
                case .bytes, .descriptorBytes, .guid, .bufferList, .bufferListEx, .address, .callRef: break
                default: h = mix(h, r.value(i))
                }
            }
        }
        item.result = h
        item.flags |= CallItem.left
        let err = Int64(item.err)
        if ro.startsOperation, err == 997 {
            item.flags |= CallItem.pending
        } else if item.flags & CallItem.completedEarly == 0 {
            self.stream.samples.record(call.cell, self.nanoseconds(call.tsc, r.tsc), start: call.tsc, end: r.tsc)
        }
        if ro.startsOperation, isFailure(err) {
            _ = self.operations.remove(operationKey(r.thread, call.threadSeq))
        }
        if call.index >= 0 {
            self.stream.threads[rank - 1].items[Int(call.index)] = item
        } else if !(r.function == .WSPGetOverlappedResult && err == 996) {
            self.stream.threads[rank - 1].items.append(item)
        }
    }

    private mutating func completion(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles) {
        guard ro.start >= 0, let ref = r.callRef(Int(ro.start)), ref.thread != 0,
              let op = self.operations.remove(operationKey(ref.thread, ref.sequence)) else {
            self.stream.unlinkedCompletions &+= 1
            return
        }
        var c = CompletionItem(seq: r.sequence, payload: 0, status: 0, bytes: 0, rank: op.rank, via: 0, payloadKind: 0,
                               index: op.index)
        if ro.error >= 0 { c.status = Int32(truncatingIfNeeded: r.signed(Int(ro.error))) }
        if ro.bytes >= 0 { c.bytes = UInt32(truncatingIfNeeded: r.value(Int(ro.bytes))) }
        if Self.completionVia >= 0 { c.via = UInt8(truncatingIfNeeded: r.value(Self.completionVia)) }
        if self.comparePayloads, Self.completionPayload >= 0, Self.completionPayload < r.fieldCount {
            var scratch = CallItem(seq: 0, key: 0)
            self.payload(r, Self.completionPayload, into: &scratch)
            c.payload = scratch.payload
            c.payloadKind = scratch.flags
        }
        let t = Int(op.rank) - 1
        self.stream.completions.append(c)
        let flags = self.stream.threads[t].items[Int(op.index)].flags
        self.stream.threads[t].items[Int(op.index)].completion = Int32(self.stream.completions.count - 1)
        if flags & CallItem.left == 0 {
            // Completed before its call returned (an upcall racing the LEAVE): the operation's
            // latency is this, and the LEAVE must not add a call latency for it.
            self.stream.threads[t].items[Int(op.index)].flags |= CallItem.completedEarly
            self.stream.samples.record(op.cell, self.nanoseconds(op.tsc, r.tsc), start: op.tsc, end: r.tsc)
        } else if flags & CallItem.pending != 0 {
            self.stream.samples.record(op.cell, self.nanoseconds(op.tsc, r.tsc), start: op.tsc, end: r.tsc)
        }
    }

    private mutating func lookup(_ r: borrowing EventRecord) {
        let rank = self.callerRank(r.thread)
        var item = CallItem(seq: r.sequence, key: CallItem.lookupFunction << 32)
        var h: UInt64 = 0
        for i in 0..<r.fieldCount {
            switch r.type(i) {
            case .guid?: h = mix(h, r.bytes(i).map(fnv) ?? 0)
            case .wsaError?: item.err = Int32(truncatingIfNeeded: r.signed(i))
            case .some: h = mix(h, r.value(i))
            case nil: break
            }
        }
        item.args = h
        item.flags = CallItem.left
        self.stream.threads[rank - 1].items.append(item)
    }

    // MARK: Fields

    /// A payload field folded into `item.payload`, its kind into `item.flags`.
    private func payload(_ r: borrowing EventRecord, _ i: Int, into item: inout CallItem) {
        guard self.comparePayloads, let p = r.payload(i) else { return }
        switch p {
        case .none: break
        case .hashes(let hs):
            item.payload = hs.reduce(item.payload == 0 ? 1 : item.payload) { mix($0, $1) }
            item.flags |= CallItem.payloadHash
        case .full(let chunks):
            item.payload = chunks.reduce(item.payload == 0 ? 1 : item.payload) { h, c in
                c.withUnsafeBytes { mix(h, fnv($0)) }
            }
            item.flags |= CallItem.payloadFull
        }
    }

    /// The address family of a sockaddr field (ports are ephemeral, hosts differ between runs).
    private static func family(_ r: borrowing EventRecord, _ i: Int) -> UInt64 {
        guard let b = r.bytes(i), b.count >= 2 else { return 0 }
        return UInt64(b[0]) | UInt64(b[1]) << 8
    }
}

/// The key of an operation: its starting ENTER's (thread, thread sequence).
@inline(__always)
func operationKey(_ thread: UInt32, _ seq: UInt64) -> UInt64 { UInt64(thread) << 44 | (seq & ((1 << 44) - 1)) }
