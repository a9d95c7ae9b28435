import SanTraceFormat
import SanTraceStore

/// Builds an ``EndpointStream`` in one pass over a trace's events (the low-level cursor, no
/// allocation per event apart from buffer lists and the stream's own growth).
///
/// What it drops or keeps aside, and why:
/// - a WSPGetOverlappedResult poll that returned WSA_IO_INCOMPLETE (996), and a call (other than a
///   connect) that returned WSAEWOULDBLOCK, is not a call of the stream: how many polls find an
///   operation still running, or accepts find no connection yet, is a matter of timing. The
///   completion a poll eventually returns is linked to the operation and compared there;
/// - startup, cleanup and extension look-ups form a per-endpoint process stream, whichever
///   thread made them;
/// - upcalls are counted per function, not aligned (the provider's threads make them, when its
///   timing says so); a WPUCompleteOverlappedRequest's content is the COMPLETION it produces;
/// - descriptor bytes (random keys), the raw address of unregistered memory, ports of socket
///   addresses (ephemeral) and which overlapped structure a call uses (a program's free list
///   follows the completions' timing) are not compared; addresses compare by family.
struct StreamBuilder {
    let stream: EndpointStream
    let clock: ClockCalibration
    private var ranks = ThreadRanks()
    private var ids = IdNormalizer()
    /// Open calls per thread capture id.
    private var open: [[OpenCall]] = []
    /// Started operations by (thread, thread sequence) of their ENTER, until their completion.
    private var operations = OpenTable(empty: Operation(rank: 0, index: 0, tsc: 0, cell: 0))
    /// Per thread stream: the key (function, socket) of the last call that said "try again", and
    /// the stream's length after it (``retryLoop(_:_:)``).
    private var retries: [(key: UInt64, count: Int)] = []
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
        /// Where its item is: thread rank − 1, or -1 for the process stream.
        var stream: Int32
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
        }
        self.stream.threads[rank - 1].thread = thread
        // About one call per two events: growing by doubling would copy the stream ~twice.
        self.stream.threads[rank - 1].items.reserveCapacity(Int(min(self.threadEvents[thread] ?? 0, 1 << 28) / 2 + 16))
    }

    // MARK: Calls

    /// Calls that concern the process rather than a thread of the program: startup, cleanup and
    /// extension look-ups. Which thread makes them is the caller's business (a replayer makes
    /// them on its main thread and the program's calls on workers): they form one per-endpoint
    /// stream of their own.
    @inline(__always)
    static func isProcessScope(_ r: borrowing EventRecord) -> Bool {
        switch r.function {
        case .WSPStartupEx, .WSPCleanup: return true
        case .WSPIoctl: return r.value(1) == 0xC800_0006  // SIO_GET_EXTENSION_FUNCTION_POINTER
        default: return false
        }
    }

    /// The open calls of a thread capture id.
    @inline(__always)
    private mutating func ensureOpen(_ thread: UInt32) -> Int {
        let t = Int(thread & 0xFFFF)
        if t >= self.open.count { self.open.append(contentsOf: repeatElement([], count: t + 1 - self.open.count)) }
        return t
    }

    @inline(__always)
    private func item(_ s: Int32, _ i: Int32) -> CallItem {
        s < 0 ? self.stream.process.items[Int(i)] : self.stream.threads[Int(s)].items[Int(i)]
    }

    @inline(__always)
    private mutating func store(_ item: CallItem, _ s: Int32, at i: Int32? = nil) -> Int32 {
        if s < 0 {
            if let i { self.stream.process.items[Int(i)] = item } else { self.stream.process.items.append(item) }
            return i ?? Int32(self.stream.process.items.count - 1)
        }
        if let i {
            self.stream.threads[Int(s)].items[Int(i)] = item
            return i
        }
        if Self.supersedes(item, self.stream.threads[Int(s)].items.last) {
            self.stream.threads[Int(s)].items[self.stream.threads[Int(s)].items.count - 1] = item
        } else {
            self.stream.threads[Int(s)].items.append(item)
        }
        return Int32(self.stream.threads[Int(s)].items.count - 1)
    }

    /// WSPEventSelect only sets what a socket signals: of several in a row on the same socket that
    /// succeeded, only the last has an effect. A program that re-arms while it waits (deselect,
    /// select again, once per round of a wait loop) makes as many of them as its timing says, and
    /// a replay that waits differently makes another number: keep the last of such a run.
    @inline(__always)
    static func supersedes(_ item: CallItem, _ last: CallItem?) -> Bool {
        guard let last, item.key >> 32 == UInt64(FunctionID.WSPEventSelect.rawValue), last.key == item.key else {
            return false
        }
        return last.err == 0 && last.ret == 0 && last.completion < 0
    }

    /// Results that only say "not yet": a poll that found the operation still running
    /// (WSA_IO_INCOMPLETE), and WSAEWOULDBLOCK from any call but a connect (for which it means
    /// "started").
    @inline(__always)
    static func isRetry(_ fn: FunctionID, _ err: Int64) -> Bool {
        (err == 996 && fn == .WSPGetOverlappedResult) || (err == 10035 && fn != .WSPConnect && fn != .WSPJoinLeaf)
    }

    /// A wait loop: a program that heard "try again" from F on socket S often re-arms what it
    /// waits on (WSPEventSelect …) and calls F again; how many rounds it makes is timing. When F on
    /// S says "try again" a second time, the calls made since the first — if all are on S and none
    /// starts an operation — were one more round, and are dropped like the retries themselves.
    private mutating func retryLoop(_ s: Int, _ key: UInt64) {
        if s >= self.retries.count { self.retries.append(contentsOf: repeatElement((key: UInt64(0), count: 0), count: s + 1 - self.retries.count)) }
        let n = self.stream.threads[s].items.count
        let (lastKey, lastCount) = self.retries[s]
        if lastKey == key, lastCount < n {
            let socket = UInt32(truncatingIfNeeded: key)
            let round = self.stream.threads[s].items[lastCount..<n]
            if round.allSatisfy({ $0.socket == socket && !$0.startsOperation && $0.completion < 0 }) {
                self.stream.threads[s].items.removeSubrange(lastCount..<n)
            }
        }
        self.retries[s] = (key, self.stream.threads[s].items.count)
    }

    private func count(_ s: Int32) -> Int32 {
        Int32(s < 0 ? self.stream.process.items.count : self.stream.threads[Int(s)].items.count)
    }

    private mutating func dropLast(_ s: Int32) {
        if s < 0 { self.stream.process.items.removeLast() } else { self.stream.threads[Int(s)].items.removeLast() }
    }

    private mutating func enter(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles) {
        let process = Self.isProcessScope(r)
        let rank = process ? 0 : self.callerRank(r.thread)
        let target = Int32(rank - 1)
        var h: UInt64 = UInt64(r.function.rawValue)
        var socket: UInt32 = 0
        var socketSeen = false
        var bytes: UInt64 = 0
        var item = CallItem(seq: r.sequence, key: 0)
        for i in 0..<r.fieldCount {
            guard let t = r.type(i) else { continue }
            // Which overlapped structure carries an operation is the program's bookkeeping (a
            // free list refilled as completions come): the completion is linked by `start`.
            if t == .overlapped { continue }
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
        // How a program waits for a completion (poll, or block with fWait) follows the timing
        // (poll first, block when the poll found nothing): a poll compares by its socket and what
        // it returned, and what it returned is compared with the operation.
        item.args = fn == .WSPGetOverlappedResult ? UInt64(fn.rawValue) : h
        if ro.startsOperation { item.flags |= CallItem.startsOperation }
        item.bytes = bytes
        let cell = PerformanceSamples.cell(fn, SizeClass.of(bytes))
        self.stream.samples.bytes[Int(cell)] &+= bytes
        var call = OpenCall(stream: target, function: fn, index: -1, threadSeq: r.threadSeq, tsc: r.tsc, cell: cell, deferred: nil)
        if fn == .WSPGetOverlappedResult {
            call.deferred = item
        } else {
            call.index = self.store(item, target)
        }
        let t = self.ensureOpen(r.thread)
        if self.open[t].count < 64 { self.open[t].append(call) }
        if ro.startsOperation, call.index >= 0, target >= 0, self.operations.count < Self.maxOperations {
            self.operations.insert(operationKey(r.thread, r.threadSeq),
                                   Operation(rank: UInt16(rank), index: call.index, tsc: r.tsc, cell: cell))
        }
    }

    private mutating func leave(_ r: borrowing EventRecord, _ ro: ShapeRoles.Roles) {
        let fn = r.function
        let t = self.ensureOpen(r.thread)
        guard let k = self.open[t].lastIndex(where: { $0.function == fn }) else {
            self.stream.orphanLeaves &+= 1
            return
        }
        let call = self.open[t][k]
        self.open[t].removeSubrange(k...)
        let rank = Int(call.stream) + 1
        var item = call.index >= 0 ? self.item(call.stream, call.index) : call.deferred!
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
            } else if t == .overlapped {
                continue
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
        if Self.isRetry(fn, err) {
            // "Not yet, try again": how often a program hears it is timing. The call is dropped
            // from the stream (when nothing was appended after it, as is the case without upcalls
            // that call back in).
            if call.index >= 0, call.index == self.count(call.stream) - 1 { self.dropLast(call.stream) }
            if call.stream >= 0 { self.retryLoop(Int(call.stream), item.key) }
        } else {
            if call.stream >= 0, Int(call.stream) < self.retries.count, self.retries[Int(call.stream)].key == item.key {
                self.retries[Int(call.stream)] = (0, 0)  // the loop is over: F on S answered
            }
            if call.index >= 0 {
                _ = self.store(item, call.stream, at: call.index)
            } else {
                _ = self.store(item, call.stream)
            }
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
        self.stream.process.items.append(item)
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
